"""Calibration files (`scenarios/calibration/*.toml`): their schema and every check before a run.

A calibration file names a base scenario, the uncertain parameters with their priors (uniform
or log-uniform on `[low, high]`), the patterns to fit (by id, from a patterns file: only
`role = "calibration"` patterns, never validation or mechanism ones) and the ABC-SMC settings.
`load_calibration` reads and checks all of it, so a mistake costs one `CalibrationError` line
naming the file, the key and what is allowed, and no runs:

- the file's shape, with strict pydantic models (unknown keys are errors, shaped by
  `model.validation` like scenario and sweep files);
- each parameter exists in the base scenario, is a continuous number inside the schema's
  limits, and the base scenario with the parameter at either end of its prior still validates;
- each pattern exists, is a calibration pattern about the base scenario, and its expression
  reads only summary outcomes (daily-series and `versus` patterns are refused).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

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

from analysis.expressions import parse_expression
from analysis.patterns import DEFAULT_PATTERNS, Pattern, PatternError, load_patterns
from analysis.plan import NAME_PATTERN, canonical_json, resolved_dict
from analysis.sweep_file import each_once, folder_name, parameter_range_problem
from analysis.userfiles import UserFileError, parse_toml, read_text
from model.errors import UserError
from model.ledger import OUTCOME_NAMES
from model.scenario import Scenario, ScenarioError, flatten, load_scenario, with_changes
from model.validation import KeyedProblem, did_you_mean, first_problem, key_path

#: A calibration file is a few dozen lines; a bigger one is a mistake.
MAX_FILE_BYTES = 1024 * 1024
#: Names a pattern's summary expression may read: the run summary's numeric keys.
SUMMARY_NAMES = frozenset(OUTCOME_NAMES) | {"days", "warmup_days", "people_per_agent"}


class CalibrationError(UserError):
    """A calibration that cannot run as asked: one line for the user."""


Whole = Annotated[int, Strict()]
Number = Annotated[float, Strict(), AllowInfNan(False)]
Text = Annotated[str, Strict()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prior(_Strict):
    """`{ low = ..., high = ... }` (or `[low, high]`), uniform; `log = true`: log-uniform."""

    low: Number
    high: Number
    log: Annotated[bool, Strict()] = False

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, data: Any) -> Any:
        if isinstance(data, list):
            if len(data) != 2:
                raise ValueError(f"a prior is [low, high] or {{ low = ..., high = ... }}, got "
                                 f"a list of {len(data)}")
            return {"low": data[0], "high": data[1]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Prior:
        if not self.low < self.high:
            raise KeyedProblem("", f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise KeyedProblem("low", f"a log-uniform prior needs low > 0, got {self.low:g}")
        return self


class CalibrationTable(_Strict):
    """The `[calibration]` table: what is fitted to what."""

    base: Text = Field(description='the base scenario, relative to this file, e.g. '
                       '"../baseline_2018.toml"')
    patterns: list[Text] = Field(min_length=1, description='ids of calibration patterns, e.g. '
                                 '["identified_per_year"]')
    patterns_file: Text | None = Field(None, description="relative to this file (default "
                                       "analysis/patterns.toml)")
    days: Whole | None = Field(None, ge=1, le=3650)
    name: Text | None = None

    @field_validator("patterns")
    @classmethod
    def _each_once(cls, ids: list[str]) -> list[str]:
        return each_once(ids)

    @field_validator("name")
    @classmethod
    def _names_a_folder(cls, name: str) -> str:
        return folder_name(name)


class AbcTable(_Strict):
    """The `[abc]` table: ABC-SMC's size, budgets and seed."""

    population_size: Whole = Field(100, ge=2, le=10_000, description="accepted particles per "
                                   "generation")
    max_generations: Whole = Field(8, ge=1, le=100)
    min_acceptance_rate: Number = Field(0.01, ge=0, lt=1, description="stop after a generation "
                                        "whose acceptance rate is below this")
    max_total_simulations: Whole = Field(3000, ge=1, le=10_000_000)
    max_walltime_minutes: Number = Field(600, gt=0, le=60 * 24 * 30)
    max_run_seconds: Number = Field(300, gt=0, le=86_400, description="a run longer than this "
                                    "is stopped and counted as failed")
    seed: Whole = Field(1, ge=0, lt=2**32)


class CalibrationFile(_Strict):
    calibration: CalibrationTable = Field(description="a [calibration] table: base, patterns, "
                                          "days")
    parameters: dict[str, Prior] = Field(
        min_length=1, max_length=20, description='a [parameters] table, e.g. '
        '"traffickers.offer_success" = { low = 0.001, high = 0.004 }')
    abc: AbcTable = Field(default_factory=AbcTable)


@dataclass(frozen=True)
class Parameter:
    name: str
    low: float
    high: float
    log: bool = False

    def record(self) -> dict:
        return {"low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class Target:
    """A calibration pattern as the simulator evaluates it: id, expression and band."""

    id: str
    expression: str
    low: float
    high: float

    def record(self) -> dict:
        return {"expression": self.expression, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class CalibrationSpec:
    file: Path
    name: str
    base_path: Path
    base: Scenario
    days: int
    parameters: list[Parameter]
    targets: list[Target]
    abc: AbcTable
    patterns_file: Path
    text: str  # the file as read, frozen into the output folder

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def config(self) -> dict:
        """What determines the posterior (not the budgets or seed): hashed for --resume."""
        return {"base": resolved_dict(self.base), "days": self.days,
                "parameters": {p.name: p.record() for p in self.parameters},
                "patterns": {t.id: t.record() for t in self.targets},
                "population_size": self.abc.population_size}

    def config_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.config()).encode()).hexdigest()


def _read(path: Path) -> tuple[dict, str]:
    try:
        text = read_text(path, limit=MAX_FILE_BYTES)
        return parse_toml(text, path), text
    except UserFileError as exc:
        raise CalibrationError(str(exc)) from None


def load_calibration(path: Path | str) -> CalibrationSpec:
    """Read and check a calibration file completely (see the module's docstring)."""
    path = Path(path)
    raw, text = _read(path)
    try:
        checked = CalibrationFile.model_validate(raw)
    except ValidationError as exc:
        key, message = first_problem(exc, CalibrationFile, describe_missing=True,
                                     unknown_first=True)
        raise CalibrationError(f"{path}: {key}: {message}") from None
    table = checked.calibration
    name = table.name or path.stem
    if not NAME_PATTERN.fullmatch(name):
        raise CalibrationError(f"{path}: calibration.name: the file's name '{name}' cannot name "
                               "a folder; set name = ... with letters, digits, '_', '-' and '.'")
    base_path = path.parent / table.base
    try:
        base = load_scenario(base_path)
    except ScenarioError as exc:
        raise CalibrationError(f"{path}: calibration.base: {exc}") from None
    days = table.days or base.days
    parameters = [Parameter(k, p.low, p.high, p.log) for k, p in checked.parameters.items()]
    known = flatten(base)
    for p in parameters:
        _check_parameter(path, p, base, known)
    patterns_file = (path.parent / table.patterns_file if table.patterns_file
                     else DEFAULT_PATTERNS)
    targets = _targets(path, table.patterns, patterns_file, base.name)
    return CalibrationSpec(path, name, base_path, base, days, parameters, targets, checked.abc,
                           patterns_file, text)


def _check_parameter(path: Path, p: Parameter, base: Scenario, known: dict) -> None:
    where = key_path(("parameters", p.name))
    problem = parameter_range_problem(p.name, p.low, p.high, known,
                                      "calibrate float parameters only")
    if problem:
        suffix, message = problem
        raise CalibrationError(f"{path}: {where}{suffix}: {message}")
    for end in (p.low, p.high):
        try:
            with_changes(base, {p.name: end}, f"{path} {where}")
        except ScenarioError as exc:
            raise CalibrationError(f"{exc} (at the end {end:g} of the prior; narrow it)") from None


def _targets(path: Path, ids: list[str], patterns_file: Path, scenario: str) -> list[Target]:
    try:
        patterns = {p.id: p for p in load_patterns(patterns_file)}
    except PatternError as exc:
        raise CalibrationError(f"{path}: calibration.patterns_file: {exc}") from None
    return [_target(path, i, patterns, scenario) for i in ids]


def _target(path: Path, pattern_id: str, patterns: dict[str, Pattern], scenario: str) -> Target:
    where = f"{path}: calibration.patterns: '{pattern_id}'"
    pattern = patterns.get(pattern_id)
    if pattern is None:
        raise CalibrationError(f"{where}: no such pattern{did_you_mean(pattern_id, patterns)} "
                               f"(patterns: {', '.join(patterns)})")
    if pattern.role != "calibration":
        raise CalibrationError(
            f"{where}: is a {pattern.role} pattern; only role = \"calibration\" patterns may be "
            "fitted (validation patterns are the test set, checked after calibration, never "
            "used to fit; mechanism checks test the code)")
    if pattern.expression is None:
        raise CalibrationError(f"{where}: uses a series_expression; calibrate fits patterns "
                               "over run summaries (an 'expression') only")
    if pattern.versus is not None:
        raise CalibrationError(f"{where}: compares with scenario '{pattern.versus}'; calibrate "
                               "runs one scenario, so 'versus' patterns cannot be fitted")
    if pattern.scenario is not None and pattern.scenario != scenario:
        raise CalibrationError(f"{where}: describes scenario '{pattern.scenario}', but the "
                               f"base scenario is '{scenario}'")
    unknown = sorted(parse_expression(pattern.expression).names - SUMMARY_NAMES)
    if unknown:
        raise CalibrationError(f"{where}: expression reads '{unknown[0]}', which is no summary "
                               f"outcome{did_you_mean(unknown[0], SUMMARY_NAMES)}")
    low, high = pattern.band
    if not (low > float("-inf") and high < float("inf")):
        raise CalibrationError(f"{where}: has a one-sided band; calibration needs both ends")
    if not high > low:
        raise CalibrationError(f"{where}: its band [{low:g}, {high:g}] has no width")
    return Target(pattern.id, pattern.expression, low, high)
