"""Patterns: the model's runs held against real-world regularities, one data file of them.

Each pattern is an expression over a run's outcomes (or its daily series), the scenario (and
era) it describes, a band the source gives (a range, or the published figure with a stated
tolerance) and a role:

- `calibration`: may be used to fit parameters (a training set);
- `validation`: never used to fit, only checked afterwards (a test set);
- `mechanism`: checks the code's logic rather than the world; shown, but kept out of the
  verdict.

The verdict comes from the 95% confidence interval of the mean over runs, not from the mean:
*reproduced* when the interval lies inside the band, *not reproduced* when it lies wholly
outside, *inconclusive* when it straddles an edge (more runs may decide) or cannot be computed.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal

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
from analysis.userfiles import UserFileError, read_toml
from model.errors import UserError

DEFAULT_PATTERNS = Path(__file__).with_name("patterns.toml")
#: Far more than a patterns file needs; a bigger file is a mistake, not patterns.
MAX_FILE_BYTES = 1024 * 1024
#: Pattern ids appear in messages and tables: one plain word, so a message stays one line.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"


class PatternError(UserError):
    """A mistake in the patterns file or a pattern that the batch cannot evaluate."""


Role = Literal["calibration", "validation", "mechanism"]
#: Roles whose verdicts count; mechanism checks are shown beside them.
JUDGED_ROLES = ("calibration", "validation")
VERDICTS = ("reproduced", "inconclusive", "not reproduced", "not evaluated")


class Pattern(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    role: Role
    scenario: str | None = Field(None, description="the scenario whose runs the pattern "
                                 "describes (default: the batch's baseline)")
    era: str = Field("", description="the years the source describes, e.g. '2018'")
    expression: str | None = None
    series_expression: str | None = None
    low: float | None = Field(None, allow_inf_nan=False)
    high: float | None = Field(None, allow_inf_nan=False)
    value: float | None = Field(None, allow_inf_nan=False,
                                description="the published figure (with `tolerance`)")
    tolerance: float | None = Field(None, gt=0, le=10, allow_inf_nan=False,
                                    description="relative: the band is value x (1 +/- tolerance)")
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
    def _one_expression_and_a_band(self) -> Pattern:
        if (self.expression is None) == (self.series_expression is None):
            raise ValueError("give exactly one of 'expression' or 'series_expression'")
        by_value = self.value is not None or self.tolerance is not None
        by_range = self.low is not None or self.high is not None
        if by_value == by_range:
            raise ValueError("give the band either as 'low' and 'high' or as 'value' and "
                             "'tolerance'")
        if by_value and (self.value is None or self.tolerance is None):
            raise ValueError("'value' and 'tolerance' go together")
        if (by_range and self.role != "mechanism"
                and (self.low is None or self.high is None)):
            raise ValueError(f"a {self.role} pattern needs a two-sided band: give 'low' and "
                             "'high' (only mechanism checks may be one-sided)")
        low, high = self.band
        if low > high:
            raise ValueError(f"the band is empty: low {low:g} is above high {high:g}")
        return self

    @property
    def band(self) -> tuple[float, float]:
        """(low, high); a missing end of a mechanism check's band is infinite."""
        if self.value is not None and self.tolerance is not None:
            ends = (self.value * (1 - self.tolerance), self.value * (1 + self.tolerance))
            return min(ends), max(ends)
        return (-math.inf if self.low is None else self.low,
                math.inf if self.high is None else self.high)

    @property
    def band_text(self) -> str:
        low, high = self.band
        if self.value is not None:
            return f"{self.value:g} +/- {100 * self.tolerance:g}% [{low:.3g}, {high:.3g}]"
        if math.isinf(low):
            return f"<= {high:g}"
        if math.isinf(high):
            return f">= {low:g}"
        return f"[{low:g}, {high:g}]"

    def verdict(self, ci_low: float, ci_high: float) -> str:
        """Reproduced when the whole 95% interval lies in the band, not reproduced when none
        of it does, inconclusive when it straddles an edge or is undefined (fewer than two
        runs with a value)."""
        if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
            return "inconclusive"
        low, high = self.band
        if low <= ci_low and ci_high <= high:
            return "reproduced"
        if ci_high < low or ci_low > high:
            return "not reproduced"
        return "inconclusive"


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
        raw = read_toml(path, limit=MAX_FILE_BYTES)
    except UserFileError as exc:
        raise PatternError(str(exc)) from None
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
        values = _evaluate(pattern, runs.rename(columns=expression_name), "expression")
    else:
        days = series[series["scenario"] == scenario]
        daily = _evaluate(pattern, days, "series_expression")
        values = daily.replace([np.inf, -np.inf], np.nan).groupby(days["rep"]).mean()
    return values.astype(float).replace([np.inf, -np.inf], np.nan)


def expression_name(column: str) -> str:
    """A summary column as an expression names it: the per-year outcomes, stored as
    `per_year.2020.victims_identified`, are `per_year_2020_victims_identified` (a dotted
    name would be an attribute, which the whitelist refuses)."""
    return column.replace(".", "_")


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
    """Each pattern's model value (mean, 95% CI over runs) and verdict, on the scenario it
    describes (`scenario` for patterns that name none)."""
    scenarios = set(summaries["scenario"])
    if scenario not in scenarios:
        raise PatternError(f"scenario '{scenario}' is not in this batch "
                           f"(scenarios: {', '.join(sorted(scenarios))})")
    rows = []
    for pattern in patterns:
        own = pattern.scenario or scenario
        missing = [s for s in (own, pattern.versus) if s is not None and s not in scenarios]
        if missing:
            rows.append(_row(pattern, own, pd.Series(dtype=float),
                             note=f"needs scenario '{missing[0]}' in the batch"))
            continue
        values = per_run_values(pattern, summaries, series, own)
        if pattern.versus is not None:
            other = per_run_values(pattern, summaries, series, pattern.versus)
            values = (other - values).dropna()
        rows.append(_row(pattern, own, values.dropna()))
    return pd.DataFrame(rows)


def _row(pattern: Pattern, scenario: str, values: pd.Series, note: str = "") -> dict:
    interval = mean_interval(values.to_numpy())
    mean = float(values.mean()) if len(values) else math.nan
    label = pattern.expression or f"mean over days of {pattern.series_expression}"
    if pattern.versus:
        label = f"{label}: {pattern.versus} minus this scenario"
    if note:
        verdict = "not evaluated"
    else:
        verdict = pattern.verdict(interval.low, interval.high)
        note = "" if len(values) else "no runs with a defined value"
    return {"id": pattern.id, "pattern": pattern.name, "role": pattern.role,
            "scenario": scenario, "era": pattern.era, "source": pattern.source,
            "measure": label, "target": pattern.band_text, "n": len(values),
            "mean": mean, "ci_low": interval.low, "ci_high": interval.high,
            "verdict": verdict, "note": note}


def tally(table: pd.DataFrame) -> str:
    """'validation: 2 reproduced, 1 inconclusive, 1 not reproduced; calibration: ...'."""
    parts = []
    for role in JUDGED_ROLES:
        verdicts = table.loc[table["role"] == role, "verdict"]
        if len(verdicts):
            counts = ", ".join(f"{(verdicts == v).sum()} {v}" for v in VERDICTS
                               if (verdicts == v).any())
            parts.append(f"{role}: {counts}")
    return "; ".join(parts) or "no calibration or validation patterns"


ROLE_HEADINGS = {
    "calibration": "Calibration patterns (may be used to fit parameters)",
    "validation": "Validation patterns (never used to fit; checked afterwards)",
    "mechanism": "Mechanism checks (test the model's logic, not the world; no verdict counts)",
}


def format_patterns(table: pd.DataFrame, scenario: str) -> str:
    lines = [(f"Patterns (mean over runs with its 95% CI; reproduced = the whole interval "
              f"inside the band; scenario {scenario} unless a pattern names its own)"),
             f"Verdicts: {tally(table)}"]
    for role, heading in ROLE_HEADINGS.items():
        rows = table[table["role"] == role]
        if rows.empty:
            continue
        lines.append(f"\n{heading}")
        for _, row in rows.iterrows():
            value = (f"{row['mean']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
                     if math.isfinite(row["mean"]) else "-")
            era = f", {row['era']}" if row["era"] else ""
            lines.append(f"\n  {row['pattern']} ({row['scenario']}{era})\n    {row['measure']} "
                         f"= {value}; band {row['target']}: {row['verdict'].upper()} "
                         f"(n={row['n']}) {row['note']}".rstrip())
            lines.append(f"    source: {row['source']}")
    return "\n".join(lines)
