"""The replication rule (`corridor batch --reps auto`): it stops when the rule is met, at the
cap or the time budget when it is not, and says which; rounds change no number; bad options
are one line.

Runs are tiny (5 days, no warm-up, 20 or 30 arrivals a day: a few hundredths of a second
each), so the rule's arithmetic, not the model, is what is tested.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from analysis.plan import make_plan
from analysis.replications import MARGIN, REPLICATIONS_FILE, Rounds, Rule
from analysis.stats import precision
from analysis.store import Store
from tests.conftest import BASELINE, ROOT, one_error_line, run_cli, scenarios_folder

ENTROPY = "20200109"


@pytest.fixture()
def files(tmp_path) -> list[Path]:
    """Two tiny scenarios extending a copy of the baseline."""
    folder = scenarios_folder(tmp_path)
    made = []
    for name, rate in (("tiny", 20), ("tiny_busy", 30)):
        path = folder / f"{name}.toml"
        path.write_text(f'extends = "{BASELINE.name}"\nname = "{name}"\ndays = 5\n'
                        f"warmup_days = 0\n\n[arrivals]\ndaily_rate = {rate}\n")
        made.append(path)
    return made


def auto_batch(files, out: Path, *options: str):
    """`corridor batch FILES --reps auto OPTIONS`, serial, fixed entropy; it must succeed."""
    result = run_cli("batch", *map(str, files), "--reps", "auto", "--workers", "0", "--quiet",
                     "--seed-entropy", ENTROPY, "--out", str(out), *options)
    assert result.returncode == 0, result.stderr
    return result


def recorded(out: Path) -> dict:
    return json.loads((out / REPLICATIONS_FILE).read_text())


def tables(out: Path) -> dict[str, pd.DataFrame]:
    store = Store(out)
    return {"manifest": store.manifest(), "summaries": store.summaries(),
            "series": store.series()}


# ------------------------------------------------------------------ stopping


def test_the_rule_stops_as_soon_as_it_is_met(files, tmp_path):
    out = tmp_path / "met"
    result = auto_batch(files, out, "--outcomes", "arrivals", "--min-reps", "2",
                        "--max-reps", "40")
    record = recorded(out)
    assert record["stop"]["reason"] == "met"
    reps = record["stop"]["reps"]
    assert reps < 40 and Store(out).batch()["reps"] == reps
    assert {p["status"] for p in record["pairs"]} == {"met"}
    rounds = record["rounds"]
    assert [r["reps"] for r in rounds][-1] == reps
    assert all(r["met"] < r["assessable"] for r in rounds[:-1])  # each earlier round fell short
    assert len(rounds) >= 2, "arrivals met the rule with two runs: not a test of the rounds"
    assert (Store(out).counts()["done"] == reps).all()
    assert "stopped (met)" in result.stdout
    assert sum(line.startswith("round ") for line in result.stdout.splitlines()) == len(rounds)


def test_the_rule_stops_at_the_cap_and_names_what_falls_short(files, tmp_path):
    out = tmp_path / "cap"
    result = auto_batch(files, out, "--outcomes", "victims_true,arrivals", "--precision",
                        "0.01", "--min-reps", "3", "--max-reps", "6")
    record = recorded(out)
    assert record["stop"]["reason"] == "cap"
    assert [r["reps"] for r in record["rounds"]] == [3, 6]
    short = {(p["outcome"], p["scenario"]) for p in record["pairs"] if p["status"] == "not met"}
    assert ("victims_true", "tiny") in short and ("victims_true", "tiny_busy") in short
    assert "stopped (cap): the cap of 6 replications per scenario is reached" in result.stdout
    lines = result.stdout.splitlines()
    assert any(line.split()[:2] == ["victims_true", "tiny"] for line in lines), result.stdout
    assert "round 1: 3 reps per scenario" in result.stdout
    assert "next: 6 reps" in result.stdout
    shown = run_cli("runs", "show", str(out))
    assert "6 per scenario after 2 rounds; stopped (cap)" in shown.stdout


def test_the_time_budget_stops_the_rounds_and_says_so(files, tmp_path):
    out = tmp_path / "time"
    result = auto_batch(files, out, "--outcomes", "victims_true", "--precision", "0.01",
                        "--min-reps", "3", "--max-minutes", "0.0001")
    record = recorded(out)
    assert record["stop"]["reason"] == "time"
    assert [r["reps"] for r in record["rounds"]] == [3]  # the first round always runs
    assert "stopped (time): the time budget of 0.0001 min leaves no room" in result.stdout


def test_a_round_is_sized_to_end_within_the_budget(files):
    plan = make_plan(files, reps=4, entropy=int(ENTROPY))
    rounds = Rounds(Rule(outcomes=("arrivals",), max_minutes=1.0), Path("unused"),
                    started=time.monotonic() - 28)
    rounds._wave_times = [6.0, 10.0]  # seconds a wave of runs side by side took, per round
    # about 32 s left: 3 waves at the slowest 10 s would fit, but with the margin only 2
    # (of 2 workers: 4 runs, 2 more replicates of each of the 2 scenarios)
    assert 2 * 10.0 * MARGIN < 31 and 32 < 3 * 10.0 * MARGIN
    assert rounds._affordable(plan.reps, len(plan.scenarios), workers=2) == 6
    rounds._assess_seconds = 12.0  # the assessment after the round leaves room for 1 wave
    assert rounds._affordable(plan.reps, len(plan.scenarios), workers=2) == 5


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_an_outcome_that_never_happens_is_not_assessable_and_asks_for_no_runs(files, tmp_path):
    out = tmp_path / "zero"
    result = auto_batch(files, out, "--outcomes", "arrivals,identified_deported",
                        "--min-reps", "3", "--max-reps", "40")
    summaries = Store(out).summaries()
    assert (summaries["identified_deported"] == 0).all(), "the outcome happened: pick another"
    record = recorded(out)
    assert record["stop"]["reason"] == "met" and record["stop"]["reps"] < 40
    closed = [p for p in record["pairs"] if p["status"] == "not assessable"]
    assert {(p["outcome"], p["reason"]) for p in closed} == {("identified_deported", "mean 0")}
    assert "not assessable (mean 0): identified_deported in tiny, tiny_busy" in result.stdout
    compared = run_cli("compare", str(out), "--outcomes", "arrivals,identified_deported")
    assert "identified_deported          not assessable: mean 0 in tiny, tiny_busy" in (
        compared.stdout)


def test_precision_of_one_mean():
    assert precision([0, 0, 0, 0]).reason == "mean 0"
    assert precision([3.0]).reason == "fewer than 2 runs with a value"
    assert precision([4.0, 4.0, 4.0]).status == "met"
    noisy = precision([10.0, 14.0, 7.0, 12.0])
    assert noisy.status == "not met" and noisy.needed > 4
    assert precision([100.0, 101.0, 99.0, 100.5]).status == "met"
    assert math.isnan(precision([0.0, 0.0, math.nan]).rel_half_width)


# ------------------------------------------------------------------ reproducible


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_rounds_hold_the_runs_of_a_fixed_batch_bit_for_bit(files, tmp_path):
    grown = tmp_path / "grown"
    auto_batch(files, grown, "--outcomes", "victims_true", "--precision", "0.01",
               "--min-reps", "3", "--max-reps", "12")
    assert [r["reps"] for r in recorded(grown)["rounds"]] == [3, 6, 12]
    fixed = tmp_path / "fixed"
    result = run_cli("batch", *map(str, files), "--reps", "12", "--workers", "0", "--quiet",
                     "--seed-entropy", ENTROPY, "--out", str(fixed))
    assert result.returncode == 0, result.stderr
    left, right = tables(grown), tables(fixed)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_resume_goes_on_with_the_recorded_rule_and_keeps_the_seeds(files, tmp_path):
    out = tmp_path / "b"
    auto_batch(files, out, "--outcomes", "victims_true", "--precision", "0.01",
               "--min-reps", "3", "--max-reps", "4")
    seeds = Store(out).manifest().set_index(["scenario", "rep"])["seed"]
    again = run_cli("batch", "--resume", "--out", str(out), "--workers", "0", "--quiet")
    assert again.returncode == 0, again.stderr
    assert "stopped (cap)" in again.stdout and Store(out).batch()["reps"] == 4
    more = run_cli("batch", "--resume", "--out", str(out), "--workers", "0", "--quiet",
                   "--reps", "auto", "--outcomes", "victims_true", "--precision", "0.01",
                   "--min-reps", "3", "--max-reps", "8")
    assert more.returncode == 0, more.stderr
    record = recorded(out)
    assert record["stop"]["reps"] == 8 and record["session"] == 3
    manifest = Store(out).manifest().set_index(["scenario", "rep"])["seed"]
    pd.testing.assert_series_equal(manifest.loc[seeds.index], seeds)
    assert Store(out).is_complete() and len(manifest) == 16


# ------------------------------------------------------------------ report


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_the_report_says_how_the_replications_were_chosen(files, tmp_path):
    from analysis.report import build_report, load_batch

    out = tmp_path / "b"
    auto_batch(files, out, "--outcomes", "victims_true", "--precision", "0.01",
               "--min-reps", "2", "--max-reps", "3")
    text = build_report(load_batch(Store(out)), outcomes=["victims_true"])
    assert "<h2>Replications</h2>" in text
    assert "3 per scenario after 2 rounds; stopped (cap)" in text
    assert "replications needed" in text


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("options", "expected"), [
    (["--reps", "auto", "--precision", "0"], "--precision must be a fraction"),
    (["--reps", "auto", "--precision", "nan"], "--precision must be a fraction"),
    (["--reps", "auto", "--precision", "1.5"], "--precision must be a fraction"),
    (["--reps", "auto", "--precision", "ten"], "--precision: expected a number"),
    (["--reps", "auto", "--min-reps", "1"], "--min-reps must be a whole number from 2"),
    (["--reps", "auto", "--min-reps", "6", "--max-reps", "5"],
     "--max-reps must be a whole number from --min-reps (6)"),
    (["--reps", "auto", "--max-reps", "20000"], "to 10,000, got 20000"),
    (["--reps", "auto", "--max-minutes", "-1"], "--max-minutes must be above 0"),
    (["--reps", "auto", "--max-minutes", "inf"], "--max-minutes must be above 0"),
    (["--reps", "auto", "--outcomes", "arrival"],
     "unknown outcome 'arrival'; did you mean 'arrivals'?"),
    (["--reps", "auto", "--outcomes", " , "], "--outcomes names no outcome"),
    (["--reps", "10", "--max-reps", "20"], "--max-reps only applies with --reps auto"),
    (["--precision", "0.1"], "--precision only applies with --reps auto"),
    (["--reps", "sometimes"], "expected a whole number or 'auto'"),
])
def test_bad_rule_options_get_one_line_and_status_2(files, tmp_path, options, expected):
    out = tmp_path / "out"
    line = one_error_line(run_cli("batch", *map(str, files), *options, "--workers", "0",
                                  "--out", str(out)))
    assert expected in line, line
    assert not out.exists()  # refused before anything was created


def test_a_damaged_replications_record_is_one_line_on_resume(files, tmp_path):
    out = tmp_path / "b"
    auto_batch(files, out, "--outcomes", "arrivals", "--min-reps", "2", "--max-reps", "2")
    (out / REPLICATIONS_FILE).write_text('{"rule": {"precision": -1, "outcomes": []}}')
    line = one_error_line(run_cli("batch", "--resume", "--out", str(out), "--workers", "0"))
    assert REPLICATIONS_FILE in line and "--precision must be" in line
    (out / REPLICATIONS_FILE).write_text("{")
    line = one_error_line(run_cli("batch", "--resume", "--out", str(out), "--workers", "0"))
    assert "not JSON" in line


# ------------------------------------------------------------------ make run


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_applies_the_rule_to_the_one_year_library_only():
    text = (ROOT / "Makefile").read_text()
    headline = re.search(r"^HEADLINE := (\S+)$", text, re.MULTILINE).group(1).split(",")
    assert Rule(outcomes=tuple(headline)).outcomes == tuple(headline)  # all in the catalogue
    shown = subprocess.run(["make", "-n", "run", "timeline"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, check=True).stdout.replace("\\\n", " ")
    run, timeline = [line for line in shown.splitlines() if "corridor batch" in line]
    assert "--reps auto" in run and f"--outcomes {','.join(headline)}" in run
    assert "--max-minutes" in run and "mexico_2018_2023" not in run
    assert "scenarios/baseline_2018.toml" in run
    assert "scenarios/mexico_2018_2023.toml --reps" in timeline
