"""One line from a pydantic `ValidationError`: the key path, and what is allowed there.

The scenario loader (`model.scenario`) and the sweep file loader (`analysis.sweep_file`) both
validate TOML with strict pydantic models; both shape the first error here, so a mistake in
either file is named the same way (`hub.rest_days`, `parameters."hub.rest_days".low`) and
gets the same "did you mean" for a misspelt key.
"""

from __future__ import annotations

import difflib
import reprlib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

#: Quotes what a file gave, cut short: a value may be a list of a million numbers.
_SHORT = reprlib.Repr(maxlevel=2, maxstring=120, maxother=60, maxlist=4, maxdict=4)


class KeyedProblem(ValueError):
    """Raised inside a validator when the mistake belongs to a key below the model being
    validated (a rule between fields has no location of its own in pydantic's error).

    `key` is relative to that model: "n" inside the sweep table, "corridor.links[3].b" at the
    root of a scenario, "" for the model itself."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


def did_you_mean(word: str, choices, cutoff: float = 0.6) -> str:
    """"; did you mean 'x'?" for the closest choice, or "" when nothing is close."""
    hint = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"; did you mean '{hint[0]}'?" if hint else ""


def first_problem(exc: ValidationError, root: type[BaseModel], describe_missing: bool = False,
                  unknown_first: bool = False) -> tuple[str, str]:
    """(key path, message) of the first error in `exc`, raised validating `root`.

    An unknown key lists the keys allowed where it stands, with the closest one suggested. The
    sweep file loader asks for two things the scenario loader's messages do without: a missing
    key's field description (`describe_missing`), and an unknown key reported before anything
    else (`unknown_first`), since a misspelt key is also a missing one and its "did you mean"
    is the more useful line."""
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    err = unknown[0] if unknown_first and unknown else errors[0]
    loc, kind = err["loc"], err["type"]
    problem = (err.get("ctx") or {}).get("error")
    if isinstance(problem, KeyedProblem):
        return join_keys(key_path(loc), problem.key), str(problem)
    key = key_path(loc) or "(top level)"
    if kind == "extra_forbidden":
        allowed = allowed_keys(root, loc[:-1])
        return key, (f"unknown key{did_you_mean(str(loc[-1]), allowed)} "
                     f"(allowed here: {', '.join(allowed)})")
    if kind == "missing":
        description = _description(root, loc) if describe_missing else None
        return key, "required key is missing" + (f" ({description})" if description else "")
    message = err["msg"].removeprefix("Value error, ")
    if "input" in err and kind not in ("model_type",):
        message += f" (got {_SHORT.repr(err['input'])})"
    return key, message


def key_path(loc: tuple) -> str:
    """`corridor.places[3].id`; a key that itself holds dots is quoted, as in TOML
    (`parameters."hub.rest_days".low`)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = f'"{part}"' if "." in str(part) else str(part)
            out += f".{name}" if out else name
    return out


def join_keys(outer: str, inner: str) -> str:
    """A key path below another: join_keys("sweep", "n") == "sweep.n"."""
    if not outer or not inner:
        return outer or inner or "(top level)"
    return outer + inner if inner.startswith("[") else f"{outer}.{inner}"


def allowed_keys(root: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model found by walking `loc` down from `root` ([] if not a model)."""
    model = _model_at(root, loc)
    return list(model.model_fields) if model is not None else []


def _description(root: type[BaseModel], loc: tuple) -> str | None:
    model = _model_at(root, loc[:-1])
    field = model.model_fields.get(str(loc[-1])) if model is not None else None
    return field.description if field is not None else None


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model at `loc`, stepping through lists (an index) and tables of models
    (a key of the user's choosing, e.g. a parameter's name)."""
    cls: Any = root
    skip_key = False
    for part in loc:
        if isinstance(part, int) or skip_key:
            skip_key = False
            continue
        field = cls.model_fields.get(part) if _is_model(cls) else None
        if field is None:
            return None
        cls, skip_key = _inner_model(field.annotation)
    return cls if _is_model(cls) else None


def _inner_model(annotation: Any) -> tuple[Any, bool]:
    """The model inside an annotation (`list[Place]`, `dict[str, Range]`, `X | None`), and
    whether the next part of a location is a table's own key rather than a field."""
    if _is_model(annotation):
        return annotation, False
    args = typing.get_args(annotation)
    if type(None) in args and len(args) == 2:  # `X | None`: what matters is inside X
        return _inner_model(next(a for a in args if a is not type(None)))
    model = next((a for a in typing.get_args(annotation) if _is_model(a)), annotation)
    return model, typing.get_origin(annotation) is dict


def _is_model(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, BaseModel)
