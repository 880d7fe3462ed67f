"""Patterns: the model's runs held against real-world regularities, one data file of them.

Each pattern is an expression over a run's outcomes (or its daily series), a bound,
and a source. The model's value is the mean over runs with a 95% CI; the pattern is
reproduced when the mean meets the bound.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from analysis.expressions import ALLOWED, ExpressionError, parse_expression
from analysis.stats import mean_interval
from analysis.userfiles import UserFileError, read_text
from model.errors import UserError

DEFAULT_PATTERNS = Path(__file__).with_name("patterns.toml")
#: Far more than a patterns file needs; a bigger file is a mistake, not patterns.
MAX_FILE_BYTES = 1024 * 1024
#: Pattern ids appear in messages and tables: one plain word, so a message stays one line.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"


class PatternError(UserError):
    """A mistake in the patterns file or a pattern that the batch cannot evaluate."""


class Pattern(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    expression: str | None = None
    series_expression: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    versus: str | None = None
    _file: str | None = PrivateAttr(default=None)  # for messages: which file it came from

    @field_validator("id")
    @classmethod
    def _plain_id(cls, text: str) -> str:
        """Ids appear in messages and tables, so they are one plain word."""
        if not re.fullmatch(ID_PATTERN, text):
            raise ValueError("an id is letters, digits, '_', '.' and '-' (at most 100), "
                             "starting with a letter or digit")
        return text

    @field_validator("expression", "series_expression")
    @classmethod
    def _allowed_expression(cls, text: str | None) -> str | None:
        """Checked when the file is read, so a bad expression stops before any batch is read
        (the names it uses can only be checked against a batch's columns)."""
        if text is not None:
            parse_expression(text)  # ExpressionError is a ValueError: pydantic reports it
        return text

    @property
    def where(self) -> str:
        """The start of a message about this pattern: its file (if known) and its id."""
        return f"{self._file}: pattern '{self.id}'" if self._file else f"pattern '{self.id}'"

    @model_validator(mode="after")
    def _one_expression_and_a_bound(self) -> Pattern:
        if (self.expression is None) == (self.series_expression is None):
            raise ValueError("give exactly one of 'expression' or 'series_expression'")
        if self.at_least is None and self.at_most is None:
            raise ValueError("give a bound: 'at_least' and/or 'at_most'")
        return self

    @property
    def bound_text(self) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f">= {self.at_least:g}")
        if self.at_most is not None:
            parts.append(f"<= {self.at_most:g}")
        return " and ".join(parts)

    def met_by(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return ((self.at_least is None or value >= self.at_least)
                and (self.at_most is None or value <= self.at_most))


class PatternFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patterns: list[Pattern] = Field(min_length=1)


def load_patterns(path: Path = DEFAULT_PATTERNS) -> list[Pattern]:
    """Every pattern of a patterns file, each expression checked against the whitelist.

    The file is the user's: anything wrong with it (missing, a folder, a FIFO, not UTF-8,
    TOML syntax, a wrong key or an expression outside the whitelist) is one PatternError line
    naming the file and, where there is one, the pattern.
    """
    try:
        raw = tomllib.loads(read_text(path, limit=MAX_FILE_BYTES))
    except UserFileError as exc:
        raise PatternError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise PatternError(f"{path}: TOML syntax error: {exc}") from None
    try:
        patterns = PatternFile.model_validate(raw).patterns
    except ValidationError as exc:
        raise PatternError(f"{path}: {_first_error(exc, raw)}") from None
    seen = set()
    for pattern in patterns:
        if pattern.id in seen:
            raise PatternError(f"{path}: pattern id '{pattern.id}' is used twice; ids must differ")
        seen.add(pattern.id)
        pattern._file = str(path)
    return patterns


def _first_error(exc: ValidationError, raw: dict) -> str:
    """pydantic's first error as 'pattern <id>: <key>: <message>' (plus the whitelist when
    the key is an expression)."""
    err = exc.errors(include_url=False)[0]
    loc = list(err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    where = ".".join(str(p) for p in loc)
    if len(loc) >= 2 and loc[0] == "patterns" and isinstance(loc[1], int):
        where = f"{_pattern_label(raw, loc[1])}: {'.'.join(str(p) for p in loc[2:]) or 'block'}"
    if loc and loc[-1] in ("expression", "series_expression"):
        message = f"{message}; {ALLOWED}"
    return f"{where}: {message}"


def _pattern_label(raw: dict, index: int) -> str:
    """'pattern <id>' when the block has a plain id, else its position (1-based)."""
    block = raw["patterns"][index] if isinstance(raw.get("patterns"), list) else {}
    pattern_id = block.get("id") if isinstance(block, dict) else None
    if isinstance(pattern_id, str) and re.fullmatch(ID_PATTERN, pattern_id):
        return f"pattern '{pattern_id}'"
    return f"pattern block {index + 1}"


def per_run_values(pattern: Pattern, summaries: pd.DataFrame, series: pd.DataFrame,
                   scenario: str) -> pd.Series:
    """One value per replicate (indexed by rep) for one scenario."""
    if pattern.expression is not None:
        runs = summaries[summaries["scenario"] == scenario].set_index("rep")
        values = _evaluate(pattern, runs, "expression")
    else:
        days = series[series["scenario"] == scenario]
        daily = _evaluate(pattern, days, "series_expression")
        values = daily.replace([np.inf, -np.inf], np.nan).groupby(days["rep"]).mean()
    return values.astype(float).replace([np.inf, -np.inf], np.nan)


def _evaluate(pattern: Pattern, frame: pd.DataFrame, field: str) -> pd.Series:
    """The pattern's checked `field` expression over the frame's columns; a name the frame
    lacks is a PatternError naming the pattern and the closest column."""
    try:
        return parse_expression(getattr(pattern, field)).evaluate(frame)
    except ExpressionError as exc:
        columns = "the batch's outcomes" if field == "expression" else "the daily series' columns"
        raise PatternError(f"{pattern.where}: {field}: {exc}; names are {columns}") from None


def evaluate(patterns: list[Pattern], summaries: pd.DataFrame, series: pd.DataFrame,
             scenario: str) -> pd.DataFrame:
    """Each pattern's model value (mean, 95% CI over runs) and whether it is reproduced."""
    scenarios = set(summaries["scenario"])
    if scenario not in scenarios:
        raise PatternError(f"scenario '{scenario}' is not in this batch "
                           f"(scenarios: {', '.join(sorted(scenarios))})")
    rows = []
    for pattern in patterns:
        if pattern.versus is not None and pattern.versus not in scenarios:
            rows.append(_row(pattern, pd.Series(dtype=float),
                             note=f"needs scenario '{pattern.versus}' in the batch"))
            continue
        values = per_run_values(pattern, summaries, series, scenario)
        if pattern.versus is not None:
            other = per_run_values(pattern, summaries, series, pattern.versus)
            values = (other - values).dropna()
        rows.append(_row(pattern, values.dropna()))
    return pd.DataFrame(rows)


def _row(pattern: Pattern, values: pd.Series, note: str = "") -> dict:
    interval = mean_interval(values.to_numpy())
    mean = float(values.mean()) if len(values) else math.nan
    label = pattern.expression or f"mean over days of {pattern.series_expression}"
    if pattern.versus:
        label = f"{label}: {pattern.versus} minus this scenario"
    return {"id": pattern.id, "pattern": pattern.name, "source": pattern.source,
            "measure": label, "target": pattern.bound_text, "n": len(values),
            "mean": mean, "ci_low": interval.low, "ci_high": interval.high,
            "reproduced": pattern.met_by(mean) if len(values) else False,
            "note": note or ("" if len(values) else "no runs with a defined value")}


def format_patterns(table: pd.DataFrame, scenario: str) -> str:
    lines = [f"Patterns held against {scenario} (mean over runs, 95% CI):"]
    for _, row in table.iterrows():
        verdict = "reproduced" if row["reproduced"] else "NOT reproduced"
        value = (f"{row['mean']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
                 if math.isfinite(row["mean"]) else "-")
        lines.append(f"\n  {row['pattern']}\n    {row['measure']} = {value}; target "
                     f"{row['target']}: {verdict} (n={row['n']}) {row['note']}".rstrip())
        lines.append(f"    source: {row['source']}")
    return "\n".join(lines)
