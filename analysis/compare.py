"""Scenario comparison: each scenario against a baseline, run by run, replicate by replicate.

Input is a table of run summaries (one row per run, with `scenario`, `rep` and one
column per outcome). Runs of two scenarios with the same `rep` used the same seed,
so their difference is taken pair by pair (common random numbers).
"""

from __future__ import annotations

import difflib
import math

import numpy as np
import pandas as pd

from analysis.stats import (
    cohens_dz,
    holm,
    mean_interval,
    paired_p_value,
    precision,
    relative_half_width,
    vargha_delaney_a12,
)
from model.errors import UserError
from model.ledger import OUTCOME_BY_NAME, OUTCOME_NAMES

#: The outcomes a comparison shows when none are named (see docs/ODD.md, Observation).
HEADLINE_OUTCOMES = (
    "incidence_per_1000",
    "incidence_per_100k_person_days",
    "victims_true",
    "victims_true_female",
    "victims_identified",
    "victims_identified_female",
    "identification_rate",
    "victims_protected",
    "retrafficked",
    "identified_deported",
    "victims_detained_unidentified",
    "victims_deported_unidentified",
    "traffickers_arrested",
    "bypass_share",
    "mean_smuggler_debt_usd",
    "detentions",
    "deportations",
    "mean_wait_days_hub",
    "transit_completed",
)

RECORD_KEYS = ("outcome", "scenario", "n", "mean", "ci_low", "ci_high", "diff", "diff_ci_low",
               "diff_ci_high", "d_z", "a12", "p_holm")


class CompareError(UserError):
    """A request the data cannot answer (unknown baseline or outcome)."""


def check_request(summaries: pd.DataFrame, baseline: str, outcomes: list[str]) -> None:
    scenarios = sorted(summaries["scenario"].unique())
    if baseline not in scenarios:
        raise CompareError(f"baseline '{baseline}' is not in this batch "
                           f"(scenarios: {', '.join(scenarios)})")
    numeric = set(summaries.select_dtypes("number").columns) - {"rep", "seed", "days"}
    unknown = [o for o in outcomes if o not in numeric]
    if unknown:
        known = [o for o in OUTCOME_NAMES if o in numeric]
        hint = difflib.get_close_matches(unknown[0], known, n=1)
        did_you_mean = f"did you mean '{hint[0]}'? " if hint else ""
        raise CompareError(f"unknown outcome '{unknown[0]}'; {did_you_mean}(outcomes: "
                           f"{', '.join(known)})")


def default_baseline(scenarios: list[str]) -> str:
    """The scenario whose name starts with 'baseline', else the first in order."""
    names = sorted(scenarios)
    return next((n for n in names if n.startswith("baseline")), names[0])


def compare(summaries: pd.DataFrame, baseline: str, outcomes: list[str]) -> pd.DataFrame:
    """One record per outcome and scenario: means, CIs, paired differences, effect sizes.

    The baseline's own records carry its mean and CI, with null differences.
    p-values are Holm-adjusted over every (outcome, scenario) contrast.
    """
    check_request(summaries, baseline, outcomes)
    scenarios = [baseline] + sorted(s for s in summaries["scenario"].unique() if s != baseline)
    base = summaries[summaries["scenario"] == baseline].set_index("rep")
    records = []
    for outcome in outcomes:
        for scenario in scenarios:
            runs = summaries[summaries["scenario"] == scenario].set_index("rep")
            records.append(_record(outcome, scenario, runs[outcome], base[outcome],
                                   scenario == baseline))
    table = pd.DataFrame.from_records(records)
    contrasts = ~table["is_baseline"]
    table["p_holm"] = np.nan
    table.loc[contrasts, "p_holm"] = holm(table.loc[contrasts, "p_raw"].to_numpy())
    return table.drop(columns=["is_baseline"])


def _record(outcome: str, scenario: str, values: pd.Series, base: pd.Series,
            is_baseline: bool) -> dict:
    values = values.dropna().astype(float)
    interval = mean_interval(values.to_numpy())
    record = {
        "outcome": outcome, "scenario": scenario, "n": len(values),
        "mean": float(values.mean()) if len(values) else math.nan,
        "ci_low": interval.low, "ci_high": interval.high, "ci_method": interval.method,
        "rel_half_width": relative_half_width(values.to_numpy()),
        "reps_for_10pct": precision(values.to_numpy()).needed,  # as the replication rule
        "diff": math.nan, "diff_ci_low": math.nan, "diff_ci_high": math.nan,
        "d_z": math.nan, "a12": math.nan, "p_raw": math.nan, "is_baseline": is_baseline,
    }
    if is_baseline:
        return record
    paired = pd.concat({"x": values, "b": base.dropna().astype(float)}, axis=1).dropna()
    differences = (paired["x"] - paired["b"]).to_numpy()
    diff_interval = mean_interval(differences)
    record.update(
        diff=float(differences.mean()) if len(differences) else math.nan,
        diff_ci_low=diff_interval.low, diff_ci_high=diff_interval.high,
        d_z=cohens_dz(differences),
        a12=vargha_delaney_a12(paired["x"].to_numpy(), paired["b"].to_numpy()),
        p_raw=paired_p_value(differences),
    )
    return record


def machine_records(table: pd.DataFrame) -> list[dict]:
    """The documented keys only, with NaN and infinities as null (valid JSON)."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value.item() if hasattr(value, "item") else value
    return [{key: clean(row[key]) for key in RECORD_KEYS} for _, row in table.iterrows()]


def format_table(table: pd.DataFrame) -> str:
    """A plain-text table, one block per outcome, for the terminal."""
    lines = []
    for outcome, block in table.groupby("outcome", sort=False):
        lines.append(f"\n{outcome}{_heading_note(outcome)}")
        lines.append(f"  {'scenario':<22}{'n':>4}  {'mean [95% CI]':<30}"
                     f"{'diff vs baseline [95% CI]':<34}{'d_z':>7}{'A12':>6}{'p_holm':>9}")
        for _, row in block.iterrows():
            mean = f"{format_number(row['mean'])} [{format_number(row['ci_low'])}, {format_number(row['ci_high'])}]"
            if math.isnan(row["diff"]):
                diff, dz, a12, p = "(baseline)", "", "", ""
            else:
                diff = (f"{format_number(row['diff'], signed=True)} [{format_number(row['diff_ci_low'], True)}, "
                        f"{format_number(row['diff_ci_high'], True)}]")
                dz, a12, p = format_number(row["d_z"]), f"{row['a12']:.2f}", _p(row["p_holm"])
            lines.append(f"  {row['scenario']:<22}{row['n']:>4}  {mean:<30}{diff:<34}"
                         f"{dz:>7}{a12:>6}{p:>9}")
    return "\n".join(lines)


def _heading_note(outcome: str) -> str:
    """Unit and direction from the outcome catalogue: '  (people; lower is better)'."""
    entry = OUTCOME_BY_NAME.get(outcome)
    if entry is None:
        return ""
    better = {True: "; higher is better", False: "; lower is better", None: ""}
    return f"  ({entry.unit}{better[entry.higher_is_better]}): {entry.meaning}"


def adequacy_lines(table: pd.DataFrame) -> list[str]:
    """Whether there are enough replications: worst relative CI half-width per outcome.
    A scenario where the outcome's mean is 0 has no relative half-width, and more runs would
    not give it one: it is named as not assessable instead (as the replication rule does)."""
    lines = []
    for outcome, block in table.groupby("outcome", sort=False):
        zero = block.loc[(block["mean"] == 0) & (block["n"] >= 2), "scenario"].tolist()
        note = f"; not assessable (mean 0): {', '.join(zero)}" if zero else ""
        worst = block.loc[block["rel_half_width"].fillna(-1).idxmax()]
        if not math.isfinite(worst["rel_half_width"]):
            if zero:
                lines.append(f"  {outcome:<28} not assessable: mean 0 in {', '.join(zero)}")
            continue
        verdict = "enough" if worst["rel_half_width"] <= 0.10 else "more needed"
        need = worst["reps_for_10pct"]
        need_text = f"{need:.0f}" if math.isfinite(need) else "many"
        lines.append(f"  {outcome:<28} half-width {worst['rel_half_width']:6.1%} of the mean "
                     f"({worst['scenario']}, n={worst['n']}); {need_text} runs for 10%: "
                     f"{verdict}{note}")
    return lines


def format_number(value: float, signed: bool = False) -> str:
    """A number for a table: thousands without decimals, units with two, small with three."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    sign = "+" if signed else ""
    if abs(value) >= 100:
        return f"{value:{sign},.0f}"
    if abs(value) >= 1:
        return f"{value:{sign}.2f}"
    return f"{value:{sign}.3f}"


def _p(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"
