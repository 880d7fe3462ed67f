"""Sweep files (`scenarios/sweeps/*.toml`): their schema, and every check made before a run.

A sweep file names a base scenario (or a Python function, the `target`), the uncertain
parameters with their ranges, the method and its size, the replications per design point and
the outcomes to analyse. `load_sweep` reads it and checks it completely, so a mistake costs
one `SweepError` line naming the file, the key and what is allowed, and no runs:

- the file's shape, with strict pydantic models (unknown keys are errors, with the same
  "did you mean" as scenario files: `model.validation` shapes both);
- the sizes: a Sobol' N that is a power of two, an even number of Morris levels, and at most
  `MAX_RUNS` runs in all, computed arithmetically before any design is sampled;
- against the base scenario: each parameter exists (else the closest one is suggested), is a
  continuous number and its range stays inside the schema's limits; each outcome is in the
  ledger's outcome catalogue;
- against a target: it imports, takes the parameters and returns the outcomes.

A target is code, not data: `target = "package.module:function"` imports that module and
calls the function, which can do anything a Python script can. Run sweep files with a target
only if you would run the code they name.
"""

from __future__ import annotations

import importlib
import inspect
import numbers
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from analysis.plan import NAME_PATTERN
from model.errors import UserError
from model.ledger import OUTCOME_NAMES
from model.scenario import Scenario, flatten, load_scenario
from model.validation import KeyedProblem, did_you_mean, first_problem, key_path


def each_once(items: list[str]) -> list[str]:
    """A list that names each item once: a repeat is a mistake (shared with calibration
    files)."""
    twice = sorted({i for i in items if items.count(i) > 1})
    if twice:
        raise ValueError(f"'{twice[0]}' is named twice")
    return items


def folder_name(name: str) -> str:
    """A name that becomes an output folder may not climb out of its parent."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError("cannot name a folder; use letters, digits, '_', '-' and '.'")
    return name


METHODS = ("morris", "sobol")
DISTS = ("unif", "logunif", "triang")
#: The most runs (design points x replications) a sweep may ask for. The largest shipped
#: sweep has 448; a million 180-day model runs would take months on two cores, and the
#: design itself, sampled before anything runs, must fit in memory.
MAX_RUNS = 1_000_000
#: The old name of `outcomes`, still read in sweep files and batch.toml records.
OLD_OUTCOMES_KEY = "outputs"
#: "package.module:function", nothing else (no relative imports, no paths).
TARGET_PATTERN = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


class SweepError(UserError):
    """A sweep that cannot run or be analysed as asked: one line for the user."""


# ------------------------------------------------------------------ the schema

Whole = Annotated[int, Strict()]
Number = Annotated[float, Strict(), AllowInfNan(False)]  # strict: no "0.5", no true


class _Strict(BaseModel):
    """Unknown keys are errors, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterRange(_Strict):
    """`{ low = ..., high = ... }`: one uncertain parameter's bounded distribution."""

    low: Number
    high: Number
    dist: Literal["unif", "logunif", "triang"] = "unif"
    peak: Number | None = Field(None, ge=0, lt=1, description="triang only: the mode's "
                                "position between low and high, from 0 to 1")

    @model_validator(mode="after")
    def _consistent(self) -> ParameterRange:
        if not self.low < self.high:
            raise KeyedProblem("", f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.dist == "logunif" and self.low <= 0:
            raise KeyedProblem("low", f"logunif needs low > 0, got {self.low:g}")
        if self.peak is not None and self.dist != "triang":
            raise KeyedProblem("peak", "only for dist = 'triang'")
        return self


class SweepTable(_Strict):
    """The `[sweep]` table: method, size, replications, outcomes, and base or target."""

    method: Literal["morris", "sobol"] = Field(description="'morris' or 'sobol'")
    n: Whole = Field(ge=2, description="Sobol': the base sample N, a power of two; Morris: "
                     "the number of trajectories")
    levels: Whole = Field(4, ge=2, description="Morris: grid levels, an even number")
    second_order: Annotated[bool, Strict()] = False
    replications: Whole = Field(1, ge=1)
    outcomes: list[Annotated[str, Strict()]] = Field(
        min_length=1, description='the outcomes to analyse, e.g. ["incidence_per_1000"]')
    base: Annotated[str, Strict()] | None = None
    target: Annotated[str, Strict()] | None = None
    days: Whole | None = Field(None, ge=1, le=3650)
    seed_entropy: Whole | None = Field(None, ge=0)
    name: Annotated[str, Strict()] | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_outcomes_key(cls, data: Any) -> Any:
        """`outputs` was the key's first name; it still means `outcomes`, but not both."""
        if isinstance(data, dict) and OLD_OUTCOMES_KEY in data:
            if "outcomes" in data:
                raise KeyedProblem(OLD_OUTCOMES_KEY, "give outcomes only (outputs is its old "
                                   "name and means the same)")
            data = {("outcomes" if k == OLD_OUTCOMES_KEY else k): v for k, v in data.items()}
        return data

    @field_validator("outcomes")
    @classmethod
    def _each_once(cls, outcomes: list[str]) -> list[str]:
        return each_once(outcomes)

    @field_validator("name")
    @classmethod
    def _names_a_folder(cls, name: str) -> str:
        return folder_name(name)

    @model_validator(mode="after")
    def _sizes_and_source(self) -> SweepTable:
        if self.method == "sobol" and self.n & (self.n - 1):
            lower = 1 << (self.n.bit_length() - 1)
            raise KeyedProblem("n", f"Sobol' needs a power of two, got {self.n} (try {lower} "
                               f"or {lower * 2})")
        if self.method == "morris" and self.levels % 2:
            raise KeyedProblem("levels", f"Morris needs an even number of levels, got "
                               f"{self.levels}")
        if self.base is not None and self.target is not None:
            raise KeyedProblem("", "give base or target, not both")
        if self.base is None and self.target is None:
            raise KeyedProblem("", 'base = "../scenario.toml" or target = '
                               '"package.module:function" is required')
        if self.days is not None and self.target is not None:
            raise KeyedProblem("days", "only applies to a base scenario, not a target")
        return self


class SweepFile(_Strict):
    """A whole sweep file: the [sweep] table and the [parameters] table."""

    sweep: SweepTable = Field(description="a [sweep] table: method, n, outcomes, and base "
                              "or target")
    parameters: dict[str, ParameterRange] = Field(
        min_length=1, description='a [parameters] table, e.g. "traffickers.offer_success" = '
        "{ low = 0.001, high = 0.004 }")

    @model_validator(mode="after")
    def _affordable(self) -> SweepFile:
        """Refuse a design too large to sample or run, from its size alone: SALib would
        allocate the whole matrix (n = 2**40 is terabytes) before anything else happens."""
        table = self.sweep
        points = design_points(table.method, table.n, len(self.parameters), table.second_order)
        runs = points * table.replications
        if runs > MAX_RUNS:
            rows = design_rows_formula(table.method, len(self.parameters), table.second_order)
            plural = "s" if table.replications > 1 else ""
            raise KeyedProblem("sweep.n", f"{table.n:,} x {rows} = {points:,} design points x "
                               f"{table.replications:,} replication{plural} = {runs:,} runs; a "
                               f"sweep may have at most {MAX_RUNS:,} runs (lower n, "
                               "replications or the number of parameters)")
        return self


def design_points(method: str, n: int, d: int, second_order: bool) -> int:
    """Rows of SALib's design for `d` parameters: Morris n (d + 1), Saltelli n (d + 2), or
    n (2d + 2) with second-order indices."""
    if method == "morris":
        return n * (d + 1)
    return n * (2 * d + 2 if second_order else d + 2)


def design_rows_formula(method: str, d: int, second_order: bool) -> str:
    """The rows per trajectory or base sample, in words, for the size message."""
    if method == "morris":
        return f"({d} + 1)"
    return f"(2 x {d} + 2)" if second_order else f"({d} + 2)"


def validate_sweep(data: dict, path: Path | str) -> SweepFile:
    """The sweep file's data as checked models; the first problem is one `SweepError` line."""
    try:
        return SweepFile.model_validate(data)
    except ValidationError as exc:
        key, message = first_problem(exc, SweepFile, describe_missing=True, unknown_first=True)
        raise SweepError(f"{path}: {key}: {message}") from None


# ------------------------------------------------------------------ the checked sweep


@dataclass(frozen=True)
class Parameter:
    """One uncertain parameter: its dotted key (or keyword argument) and its distribution."""

    name: str
    low: float
    high: float
    dist: str = "unif"
    peak: float = 0.5  # triang only: the mode's position within [low, high], from 0 to 1

    @property
    def where(self) -> str:
        """The parameter's key in the sweep file, as error messages name it."""
        return key_path(("parameters", self.name))

    def salib_bounds(self) -> list[float]:
        return [self.low, self.high, self.peak] if self.dist == "triang" else [self.low, self.high]

    def record(self) -> dict:
        out = {"low": self.low, "high": self.high, "dist": self.dist}
        if self.dist == "triang":
            out["peak"] = self.peak
        return out


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file."""

    file: str
    name: str
    method: str
    n: int
    levels: int
    second_order: bool
    replications: int
    outcomes: list[str]
    parameters: list[Parameter]
    base: str | None = None      # path of the base scenario, as resolved from the sweep file
    target: str | None = None    # "package.module:function"
    days: int | None = None      # overrides the base scenario's days
    seed_entropy: int | None = None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def design_points(self) -> int:
        return design_points(self.method, self.n, len(self.parameters), self.second_order)

    def problem(self) -> dict:
        """SALib's problem dict."""
        return {"num_vars": len(self.parameters), "names": self.names,
                "bounds": [p.salib_bounds() for p in self.parameters],
                "dists": [p.dist for p in self.parameters]}

    def record(self) -> dict:
        """What batch.toml keeps of the sweep: enough to re-analyse without the file."""
        out = {"file": self.file, "name": self.name, "method": self.method, "n": self.n,
               "replications": self.replications, "outcomes": list(self.outcomes),
               "parameters": {p.name: p.record() for p in self.parameters}}
        if self.method == "morris":
            out["levels"] = self.levels
        else:
            out["second_order"] = self.second_order
        for key in ("base", "target", "days"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def _spec(checked: SweepFile, file: str, name: str) -> SweepSpec:
    table = checked.sweep
    parameters = [Parameter(key, p.low, p.high, p.dist, 0.5 if p.peak is None else p.peak)
                  for key, p in checked.parameters.items()]
    return SweepSpec(file=file, name=name, method=table.method, n=table.n, levels=table.levels,
                     second_order=table.second_order, replications=table.replications,
                     outcomes=list(table.outcomes), parameters=parameters, base=table.base,
                     target=table.target, days=table.days, seed_entropy=table.seed_entropy)


def normalised_record(record: dict) -> dict:
    """A batch.toml [sweep] record with `outcomes` under its current name (records written
    before the rename say `outputs`)."""
    if OLD_OUTCOMES_KEY in record and "outcomes" not in record:
        return {("outcomes" if k == OLD_OUTCOMES_KEY else k): v for k, v in record.items()}
    return dict(record)


def spec_from_record(record: dict, source: Path | str) -> SweepSpec:
    """The SweepSpec a batch.toml recorded (for --analyse-only: the file may have changed),
    checked like a file: `source` (the batch.toml) is named in any error."""
    if not isinstance(record, dict) or not isinstance(record.get("file"), str):
        raise SweepError(f"{source}: sweep: no [sweep] record with its file; not a sweep store")
    fields = {k: v for k, v in record.items() if k not in ("file", "parameters")}
    checked = validate_sweep({"sweep": fields, "parameters": record.get("parameters")}, source)
    return _spec(checked, record["file"], checked.sweep.name or Path(record["file"]).stem)


# ------------------------------------------------------------------ loading


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SweepError(f"{path}: sweep file not found") from None
    except IsADirectoryError:
        raise SweepError(f"{path}: is a folder, expected a sweep .toml file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: TOML syntax error: {exc}") from None


def load_sweep(path: Path | str) -> tuple[SweepSpec, Scenario | None]:
    """Read and check a sweep file; the base scenario comes back loaded (None for a target).

    Everything that can be checked without running is checked here, so a mistake costs one
    line and no runs (see the module's docstring for the list)."""
    path = Path(path)
    checked = validate_sweep(_read(path), path)
    name = checked.sweep.name or path.stem
    if not NAME_PATTERN.fullmatch(name):
        raise SweepError(f"{path}: sweep.name: the file's name '{name}' cannot name a folder; "
                         "set name = ... with letters, digits, '_', '-' and '.'")
    spec = _spec(checked, str(path), name)
    if spec.base is not None:
        return _check_model_sweep(path, spec)
    return _check_target_sweep(path, spec), None


def _check_model_sweep(path: Path, spec: SweepSpec) -> tuple[SweepSpec, Scenario]:
    """The base scenario loads, each parameter is a float inside its schema limits, and each
    outcome is in the catalogue."""
    base_path = path.parent / spec.base
    if not base_path.is_file():
        raise SweepError(f"{path}: sweep.base: '{spec.base}' not found (looked for {base_path})")
    scenario = load_scenario(base_path)
    known = flatten(scenario)
    for p in spec.parameters:
        _check_schema_range(path, p, known)
    _check_outcomes(path, spec.outcomes, list(OUTCOME_NAMES), "the outcome catalogue")
    return SweepSpec(**{**vars(spec), "base": str(base_path)}), scenario


def _check_schema_range(path: Path, p: Parameter, known: dict) -> None:
    """The parameter must exist in the schema, be continuous and stay inside its limits."""
    problem = parameter_range_problem(p.name, p.low, p.high, known,
                                      "sweeps vary float parameters only")
    if problem:
        suffix, message = problem
        raise SweepError(f"{path}: {p.where}{suffix}: {message}")


def parameter_range_problem(name: str, low: float, high: float, known: dict,
                            allowed: str) -> tuple[str, str] | None:
    """What is wrong with varying scenario parameter `name` over [low, high], as (key suffix,
    message), or None: it must exist, be a continuous number and stay inside the schema's
    limits. Shared by sweep and calibration files; `allowed` ends the 'not continuous'
    message."""
    if name not in known:
        return "", (f"no such scenario parameter{did_you_mean(name, known, cutoff=0.5)} "
                    "(parameters are dotted keys such as traffickers.offer_success)")
    info = schema_field(name)
    if info is None or info.annotation is not float:
        kind = getattr(info, "annotation", type(known[name]))
        return "", (f"is {getattr(kind, '__name__', kind)}, not a continuous number; "
                    f"{allowed}")
    lo, lo_strict, hi, hi_strict = schema_limits(info)
    if lo is not None and (low < lo or (lo_strict and low == lo)):
        return ".low", (f"{low:g} is outside what the schema allows ({name} "
                        f"{'>' if lo_strict else '>='} {lo:g})")
    if hi is not None and (high > hi or (hi_strict and high == hi)):
        return ".high", (f"{high:g} is outside what the schema allows ({name} "
                         f"{'<' if hi_strict else '<='} {hi:g})")
    return None


def schema_field(dotted: str):
    """The pydantic FieldInfo of a dotted scenario parameter, or None."""
    block, _, key = dotted.partition(".")
    outer = Scenario.model_fields.get(block)
    if outer is None:
        return None
    if not key:
        return outer
    fields = getattr(outer.annotation, "model_fields", None)
    return fields.get(key) if fields else None


def schema_limits(info) -> tuple[float | None, bool, float | None, bool]:
    """(lower, lower is strict, upper, upper is strict) from a field's constraints."""
    lo = hi = None
    lo_strict = hi_strict = False
    for m in info.metadata:
        for attr, is_low, strict in (("ge", True, False), ("gt", True, True),
                                     ("le", False, False), ("lt", False, True)):
            value = getattr(m, attr, None)
            if value is not None:
                if is_low:
                    lo, lo_strict = float(value), strict
                else:
                    hi, hi_strict = float(value), strict
    return lo, lo_strict, hi, hi_strict


def _check_outcomes(path: Path, asked: list[str], known: list[str], what: str) -> None:
    for outcome in asked:
        if outcome not in known:
            raise SweepError(f"{path}: sweep.outcomes: unknown outcome '{outcome}'"
                             f"{did_you_mean(outcome, known)} ({what} has: {', '.join(known)})")


# ------------------------------------------------------------------ targets (code)


def resolve_target(target: str):
    """The function named by "package.module:function": importing the module runs its code.
    SweepError if the name is malformed, the import fails or there is no such function."""
    if not TARGET_PATTERN.fullmatch(target):
        raise SweepError(f"target '{target}': expected \"package.module:function\" (dotted "
                         "names only)")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - a module's own code can raise anything
        raise SweepError(f"target '{target}': cannot import {module_name} "
                         f"({type(exc).__name__}: {exc})") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise SweepError(f"target '{target}': {module_name} has no function {attr}")
    return func


def takes_seed(func) -> bool:
    """Whether a target takes the replicate seed (a `seed` argument)."""
    return "seed" in _signature(func).parameters


def _signature(func) -> inspect.Signature:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # some built-ins have none; then keywords are a guess
        return inspect.Signature([inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])


def is_number(value) -> bool:
    """A real number an index can be computed from (inf and NaN included: the analysis
    counts those); not a string, list or None."""
    return isinstance(value, numbers.Real)


def _check_target_sweep(path: Path, spec: SweepSpec) -> SweepSpec:
    """The target imports, takes every parameter, and returns every outcome as a number at
    the middle of the ranges (one call, before the design runs)."""
    target = spec.target
    try:
        func = resolve_target(target)
    except SweepError as exc:
        raise SweepError(f"{path}: sweep.target: {str(exc).removeprefix('target ')}") from None
    signature = _signature(func)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for p in spec.parameters:
        if p.name not in signature.parameters and not takes_any:
            raise SweepError(f"{path}: {p.where}: {target} takes no such argument"
                             f"{did_you_mean(p.name, signature.parameters)}")
    middle = {p.name: (p.low + p.high) / 2 for p in spec.parameters}
    try:
        result = func(**middle)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's function is reported
        raise SweepError(f"{path}: sweep.target: {target} failed at the middle of the ranges: "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(result, dict):
        raise SweepError(f"{path}: sweep.target: {target} must return a dict of outcomes, "
                         f"got {type(result).__name__}")
    _check_outcomes(path, spec.outcomes, list(result), target)
    for outcome in spec.outcomes:
        value = result[outcome]
        if value is not None and not is_number(value):
            raise SweepError(f"{path}: sweep.target: {target} returned {outcome} = {value!r} "
                             f"({type(value).__name__}) at the middle of the ranges; an "
                             "outcome must be a number (or None where it is undefined)")
    return spec
