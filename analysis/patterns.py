"""Patterns: the model's runs held against real-world regularities, one data file of them.

Each pattern is an expression over a run's outcomes (or its daily series), a bound,
and a source. The model's value is the mean over runs with a 95% CI; the pattern is
reproduced when the mean meets the bound.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analysis.stats import mean_interval
from model.errors import UserError

DEFAULT_PATTERNS = Path(__file__).with_name("patterns.toml")


class PatternError(UserError):
    """A mistake in the patterns file or a pattern that the batch cannot evaluate."""


class Pattern(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    expression: str | None = None
    series_expression: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    versus: str | None = None

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
    try:
        raw = tomllib.loads(Path(path).read_text())
        return PatternFile.model_validate(raw).patterns
    except FileNotFoundError:
        raise PatternError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PatternError(f"{path}: TOML syntax error: {exc}") from None
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        raise PatternError(f"{path}: {key}: {err['msg'].removeprefix('Value error, ')}") from None


def per_run_values(pattern: Pattern, summaries: pd.DataFrame, series: pd.DataFrame,
                   scenario: str) -> pd.Series:
    """One value per replicate (indexed by rep) for one scenario."""
    if pattern.expression is not None:
        runs = summaries[summaries["scenario"] == scenario].set_index("rep")
        values = _evaluate(pattern, runs, pattern.expression)
    else:
        days = series[series["scenario"] == scenario]
        daily = _evaluate(pattern, days, pattern.series_expression)
        values = daily.replace([np.inf, -np.inf], np.nan).groupby(days["rep"]).mean()
    return values.astype(float).replace([np.inf, -np.inf], np.nan)


def _evaluate(pattern: Pattern, frame: pd.DataFrame, expression: str) -> pd.Series:
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            result = frame.eval(expression, engine="python")
    except Exception as exc:  # noqa: BLE001 - pandas raises many kinds for a bad expression
        raise PatternError(f"pattern '{pattern.id}': cannot evaluate '{expression}': "
                           f"{exc}") from None
    if not isinstance(result, pd.Series):
        result = pd.Series(result, index=frame.index)
    return result


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
