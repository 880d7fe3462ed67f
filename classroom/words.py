"""Every word the classroom page shows, in English, Bahasa Indonesia or Spanish.

The words are data (`i18n/<language>.toml`), so a lecturer can correct a translation without
touching code. English outcome labels and units come from the model's outcome catalogue
(`model.ledger`), the one list of what a run reports; the other languages translate them.
A key missing from a language falls back to English, so a new label never breaks a page.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from model.ledger import OUTCOME_BY_NAME
from model.ledger import label as catalogue_label

I18N = Path(__file__).resolve().parent / "i18n"
LANGUAGES = ("en", "id", "es")
DEFAULT_LANGUAGE = "en"


@cache
def table(language: str) -> dict:
    """The words of one language, as read from its file."""
    with open(I18N / f"{language}.toml", "rb") as handle:
        return tomllib.load(handle)


def browser_language(accept_language: str | None) -> str:
    """The first of our languages in a browser's Accept-Language header, else English.

    `"es-MX,es;q=0.9,en;q=0.8"` gives "es"; `"id-ID"` gives "id"; `"fr"` gives "en".
    Weights are taken in the order the browser lists them, which is how browsers send them.
    """
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


class Words:
    """The page's words in one language: `words("ui.step")`, `words.outcome("arrivals")`."""

    def __init__(self, language: str = DEFAULT_LANGUAGE):
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; known: {', '.join(LANGUAGES)}")
        self.language = language
        self._table = table(language)
        self._english = table(DEFAULT_LANGUAGE)

    def __call__(self, key: str, **values) -> str:
        """A text by its dotted key, with `{name}` placeholders filled in."""
        text = _lookup(self._table, key)
        if text is None:
            text = _lookup(self._english, key)
        if text is None:
            raise KeyError(f"no text for {key!r} in i18n/{DEFAULT_LANGUAGE}.toml")
        return text.format(**values) if values else text

    def get(self, section: str, key: str, default: str | None = None) -> str:
        """A word from a table whose keys are data (a state, a scenario, an institution)."""
        for source in (self._table, self._english):
            found = source.get(section, {}).get(key)
            if found is not None:
                return found
        return key if default is None else default

    @property
    def paragraphs(self) -> list[str]:
        """The "what am I looking at" panel."""
        return (self._table.get("explainer") or self._english["explainer"])["paragraphs"]

    def outcome(self, name: str) -> str:
        """An outcome's label with its unit: the catalogue's words, or their translation."""
        if self.language == DEFAULT_LANGUAGE or name not in self._table.get("outcomes", {}):
            return catalogue_label(name)
        words = self._table["outcomes"][name]
        unit = OUTCOME_BY_NAME[name].unit
        return f"{words} ({self.get('units', unit)})"

    def state(self, state: str) -> str:
        return self.get("states", str(state))

    def cause(self, cause: str) -> str:
        """What the model says happened to a person, in this language.

        The model's causes are English phrases, some with a place, an institution or a form
        of exploitation in them ("papers checked at Huixtla"); each is matched against the
        templates of the [causes] table. An unknown cause is shown as the model wrote it.
        """
        matched = template_for(cause)
        if matched is None:
            return cause
        template, values = matched
        if "by" in values:
            values["by"] = self.get("institutions", values["by"])
        if "form" in values:
            values["form"] = self.get("forms", values["form"])
        return self.get("causes", template).format(**values)


def template_for(cause: str) -> tuple[str, dict] | None:
    """The [causes] template that covers a cause, and the values it holds, or None."""
    for template, pattern in _cause_patterns(DEFAULT_LANGUAGE):
        found = pattern.fullmatch(cause)
        if found:
            return template, found.groupdict()
    return None


@cache
def words_in(language: str) -> Words:
    """One shared `Words` per language (the page re-renders less when it is the same)."""
    return Words(language)


def _lookup(source: dict, key: str) -> str | None:
    node = source
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, str) else None


@cache
def _cause_patterns(language: str) -> tuple[tuple[str, re.Pattern], ...]:
    """Each cause template and a regular expression that matches the causes it covers."""
    patterns = []
    for template in table(language)["causes"]:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+)", re.escape(template))
        patterns.append((template, re.compile(regex)))
    return tuple(patterns)
