"""Scenario comparison on synthetic run tables whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.compare import CompareError, compare, format_table, machine_records


def runs(scenario: str, values, reps=None) -> pd.DataFrame:
    reps = range(len(values)) if reps is None else reps
    return pd.DataFrame({"scenario": scenario, "rep": list(reps), "x": values, "y": values})


def test_a_scenario_against_its_twin_differs_by_exactly_zero():
    values = np.random.default_rng(1).poisson(20, size=25).astype(float)
    table = compare(pd.concat([runs("base", values), runs("twin", values)]), "base", ["x"])
    twin = table[table["scenario"] == "twin"].iloc[0]
    assert twin["diff"] == 0 and twin["diff_ci_low"] == 0 and twin["diff_ci_high"] == 0
    assert twin["a12"] == 0.5 and twin["d_z"] == 0 and twin["p_holm"] == 1.0


def test_a_known_paired_shift_is_recovered():
    rng = np.random.default_rng(2)
    base = rng.normal(100, 15, size=200)
    shifted = base + 5 + rng.normal(0, 2, size=200)  # paired: sd of the difference is 2
    table = compare(pd.concat([runs("base", base), runs("more", shifted)]), "base", ["x"])
    more = table[table["scenario"] == "more"].iloc[0]
    assert more["diff_ci_low"] < 5 < more["diff_ci_high"]
    assert more["d_z"] == pytest.approx(2.5, rel=0.15)
    assert more["p_holm"] < 1e-6
    # the paired CI is far narrower than the spread between runs
    assert more["diff_ci_high"] - more["diff_ci_low"] < 1.0


def test_pairs_are_matched_by_replicate_not_by_row_order():
    base = runs("base", [1.0, 2.0, 3.0, 4.0])
    other = runs("other", [14.0, 13.0, 12.0, 11.0], reps=[3, 2, 1, 0])  # rep k: 10 + base
    table = compare(pd.concat([base, other]), "base", ["x"])
    row = table[table["scenario"] == "other"].iloc[0]
    assert row["diff"] == 10 and row["diff_ci_low"] == row["diff_ci_high"] == 10


def test_records_for_machines_have_the_documented_keys():
    table = compare(pd.concat([runs("base", [1.0, 2, 3]), runs("b", [2.0, 3, 5])]), "base",
                    ["x", "y"])
    records = machine_records(table)
    assert len(records) == 4
    assert list(records[0]) == ["outcome", "scenario", "n", "mean", "ci_low", "ci_high", "diff",
                                "diff_ci_low", "diff_ci_high", "d_z", "a12", "p_holm"]
    baseline = [r for r in records if r["scenario"] == "base"]
    assert all(r["diff"] is None and r["p_holm"] is None for r in baseline)
    assert all(r["mean"] is not None for r in records)
    assert "x" in format_table(table)


def test_holm_runs_over_every_contrast():
    rng = np.random.default_rng(3)
    frames = [runs("base", rng.normal(0, 1, 30))]
    frames += [runs(f"s{i}", rng.normal(0, 1, 30)) for i in range(4)]
    table = compare(pd.concat(frames), "base", ["x", "y"])
    contrasts = table[table["scenario"] != "base"]
    assert len(contrasts) == 8
    assert (contrasts["p_holm"] >= contrasts["p_raw"]).all()
    assert contrasts["p_holm"].notna().all()


def test_unknown_baseline_or_outcome_is_refused():
    data = pd.concat([runs("base", [1.0, 2.0]), runs("b", [1.0, 3.0])])
    with pytest.raises(CompareError, match="baseline 'nope' is not in this batch"):
        compare(data, "nope", ["x"])
    with pytest.raises(CompareError, match="unknown outcome 'zz'"):
        compare(data, "base", ["zz"])
    assert math.isnan(compare(data, "base", ["x"]).iloc[0]["diff"])
