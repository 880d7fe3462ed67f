"""Ensembles: the same comparison under other assumptions, and whether its answer holds.

A headline effect (FFP against the baseline, security against the baseline) is estimated under
one set of assumptions. A *variants file* names alternatives: each variant is a set of dotted
scenario changes with the assumption it stands for, for example another rule by which
traffickers enter the trade, or a parameter set accepted by calibration:

    [[variants]]
    name = "recruits"
    assumption = "new recruiters enter in proportion to last month's recruitments"
    set = {"traffickers.entry_rule" = "recruits"}

`corridor batch SCENARIOS --variants FILE` runs every scenario under every variant (scenario
`ffp_2020` under variant `recruits` is stored as `ffp_2020.recruits`, and batch.toml records
which base scenario and variant each name stands for). `corridor compare --ensemble` and the
report then compare each scenario with the baseline *within* each variant (paired by seed) and
say, effect by effect, whether its sign holds in every variant or which assumption turns it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.compare import compare, format_number
from analysis.userfiles import UserFileError, read_toml
from model.errors import UserError
from model.ledger import OUTCOME_BY_NAME
from model.scenario import NAME_PATTERN, NAME_RULE, Scenario, ScenarioError, with_changes
from model.validation import first_problem

#: Far more than a variants file needs (a calibration ensemble of a few hundred sets fits).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Variants at most: every one multiplies the batch's runs.
MAX_VARIANTS = 1000


class VariantsError(UserError):
    """A mistake in a variants file: one line naming the file, the variant and the key."""


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description=f"names the runs: {NAME_RULE}")
    assumption: str = Field(min_length=1, description="the assumption this variant stands for")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted scenario keys and "
                                "their values, e.g. {\"traffickers.entry_rule\" = \"fixed\"}")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not NAME_PATTERN.fullmatch(name) or "." in name:
            raise ValueError(f"use {NAME_RULE}, without '.' (it joins scenario and variant)")
        return name

    @field_validator("set")
    @classmethod
    def _not_the_name(cls, changes: dict[str, Any]) -> dict[str, Any]:
        reserved = {"name", "days", "warmup_days"} & set(changes)
        if reserved:
            raise ValueError(f"a variant may not set {min(reserved)!r}: every variant "
                             "runs the same scenarios for the same days")
        return changes


class VariantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variants: list[Variant] = Field(min_length=1, max_length=MAX_VARIANTS)


def load_variants(path: Path) -> list[Variant]:
    """Every variant of a variants file, names unique; a mistake is one VariantsError line."""
    try:
        raw = read_toml(path, limit=MAX_FILE_BYTES)
    except UserFileError as exc:
        raise VariantsError(str(exc)) from None
    try:
        variants = VariantsFile.model_validate(raw).variants
    except ValidationError as exc:
        key, message = first_problem(exc, VariantsFile)
        raise VariantsError(f"{path}: {key}: {message}") from None
    seen: set[str] = set()
    for i, variant in enumerate(variants):
        if variant.name in seen:
            raise VariantsError(f"{path}: variants[{i}].name: '{variant.name}' is used twice; "
                                "names must differ")
        seen.add(variant.name)
    return variants


@dataclass(frozen=True)
class Member:
    """One scenario under one variant, as the batch runs it."""

    name: str  # "<scenario>.<variant>"
    base: str
    variant: Variant
    scenario: Scenario


def expand(scenarios: dict[str, Scenario], variants: list[Variant], path: Path) -> list[Member]:
    """Every scenario under every variant; a change that does not fit a scenario is one line
    naming the variants file, the variant and the key."""
    members = []
    for base, scenario in scenarios.items():
        for i, variant in enumerate(variants):
            name = f"{base}.{variant.name}"
            source = f"{path}: variants[{i}] ('{variant.name}') for scenario '{base}'"
            try:
                changed = with_changes(scenario, {**variant.set, "name": name}, source=source)
            except ScenarioError as exc:
                raise VariantsError(str(exc)) from None
            members.append(Member(name, base, variant, changed))
    return members


# ------------------------------------------------------------------ comparing


def membership(record: dict) -> dict[str, tuple[str, str, str]]:
    """From batch.toml: stored scenario name -> (base scenario, variant, assumption)."""
    out = {}
    for name, entry in record.get("scenarios", {}).items():
        if isinstance(entry, dict) and "variant" in entry and "base" in entry:
            out[name] = (str(entry["base"]), str(entry["variant"]),
                         str(entry.get("assumption", "")))
    return out


def ensemble_compare(summaries: pd.DataFrame, members: dict[str, tuple[str, str, str]],
                     baseline: str, outcomes: list[str]) -> pd.DataFrame:
    """`compare` within each variant (base scenario names, paired by seed), stacked, with the
    variant and its assumption as columns. `baseline` is a base scenario's name."""
    if not members:
        raise UserError("this batch has no variants; run it with `corridor batch SCENARIOS "
                        "--variants FILE` (e.g. scenarios/variants/structural.toml)")
    bases = sorted({base for base, _, _ in members.values()})
    if baseline not in bases:
        baseline = _strip_variant(baseline, members)
    if baseline not in bases:
        raise UserError(f"baseline '{baseline}' is not a scenario of this ensemble "
                        f"(scenarios: {', '.join(bases)})")
    tables = []
    for variant, assumption in _variants_in_order(members):
        names = {n: base for n, (base, v, _) in members.items() if v == variant}
        runs = summaries[summaries["scenario"].isin(names)].copy()
        if runs.empty or baseline not in set(runs["scenario"].map(names)):
            continue
        runs["scenario"] = runs["scenario"].map(names)
        table = compare(runs, baseline, outcomes)
        table.insert(2, "variant", variant)
        table.insert(3, "assumption", assumption)
        tables.append(table)
    if not tables:
        raise UserError("no variant has finished runs of the baseline yet")
    return pd.concat(tables, ignore_index=True)


def reference_runs(frame: pd.DataFrame, members: dict[str, tuple[str, str, str]]
                   ) -> pd.DataFrame:
    """The rows of the first (reference) variant, under their base scenarios' names: what
    the patterns and the report's other sections read from an ensemble batch."""
    if "scenario" not in frame.columns or not members:
        return frame
    first = next(iter(members.values()))[1]
    names = {n: base for n, (base, v, _) in members.items() if v == first}
    kept = frame[frame["scenario"].isin(names)].copy()
    kept["scenario"] = kept["scenario"].map(names)
    return kept


def reference_variant_name(members: dict[str, tuple[str, str, str]]) -> str:
    return next(iter(members.values()))[1]


def _strip_variant(name: str, members: dict[str, tuple[str, str, str]]) -> str:
    return members[name][0] if name in members else name


def _variants_in_order(members: dict[str, tuple[str, str, str]]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for _, variant, assumption in members.values():
        seen.setdefault(variant, assumption)
    return list(seen.items())


def robustness(table: pd.DataFrame) -> pd.DataFrame:
    """Per outcome and scenario: in how many variants the effect has the reference variant's
    sign (the first variant, usually the shipped assumptions), in how many its 95% CI excludes
    zero on that side, its range, and the variants that turn it."""
    rows = []
    effects = table[table["diff"].notna()]
    for (outcome, scenario), block in effects.groupby(["outcome", "scenario"], sort=False):
        reference = block.iloc[0]
        sign = _sign(reference["diff"])
        same = block["diff"].map(_sign) == sign
        clear = same & ((block["diff_ci_low"] > 0) if sign > 0 else (block["diff_ci_high"] < 0))
        turned = block[~same]
        rows.append({
            "outcome": outcome, "scenario": scenario, "variants": len(block),
            "reference": reference["variant"], "sign": sign,
            "same_sign": int(same.sum()), "clear": int(clear.sum()),
            "low": float(block["diff"].min()), "high": float(block["diff"].max()),
            "turned_by": "; ".join(f"{r['variant']} ({r['assumption']})"
                                   for _, r in turned.iterrows()),
        })
    return pd.DataFrame(rows)


def _sign(value: float) -> int:
    if value is None or not math.isfinite(value) or value == 0:
        return 0
    return 1 if value > 0 else -1


def sentences(robust: pd.DataFrame, baseline: str) -> list[str]:
    """Plain words: which effects hold across the ensemble, which depend on an assumption."""
    lines = []
    for _, row in robust.iterrows():
        words = row["outcome"].replace("_", " ")
        unit = OUTCOME_BY_NAME[row["outcome"]].unit if row["outcome"] in OUTCOME_BY_NAME else ""
        span = f"{format_number(row['low'])} to {format_number(row['high'])}{' ' + unit if unit else ''}"
        if row["sign"] == 0:
            lines.append(f"{row['scenario']} against {baseline}: {words} shows no change under "
                         f"the reference assumptions ({row['reference']}); range {span}.")
            continue
        direction = "raises" if row["sign"] > 0 else "lowers"
        if row["same_sign"] == row["variants"]:
            certainty = ("its 95% CI excludes zero in every one" if row["clear"] == row["variants"]
                         else f"its 95% CI excludes zero in {row['clear']} of them")
            lines.append(f"{row['scenario']} {direction} {words} against {baseline} in all "
                         f"{row['variants']} variants ({span}; {certainty}): the sign holds "
                         f"across the ensemble.")
        else:
            lines.append(f"{row['scenario']} {direction} {words} against {baseline} in "
                         f"{row['same_sign']} of {row['variants']} variants ({span}): depends "
                         f"on an assumption; the sign turns under {row['turned_by']}.")
    return lines


def format_ensemble(table: pd.DataFrame, robust: pd.DataFrame, baseline: str) -> str:
    """The terminal view: each effect per variant, then the sentences."""
    heading = (f"Effects against {baseline} within each variant (paired by seed; mean "
               "difference [95% CI])")
    lines = [heading]
    effects = table[table["diff"].notna()]
    for (outcome, scenario), block in effects.groupby(["outcome", "scenario"], sort=False):
        lines.append(f"\n{outcome}: {scenario}")
        for _, r in block.iterrows():
            lines.append(f"  {r['variant']:<20} {format_number(r['diff'], True):>10} "
                         f"[{format_number(r['diff_ci_low'], True)}, {format_number(r['diff_ci_high'], True)}]"
                         f"  n={r['n']}  ({r['assumption']})")
    lines.append("\nWhat holds across the ensemble:")
    lines += [f"  - {s}" for s in sentences(robust, baseline)]
    return "\n".join(lines)

