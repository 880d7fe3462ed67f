"""`corridor calibrate`: ABC-SMC (pyabc) against calibration patterns.

The known-answer test simulates a tiny corridor (20 days, 30 arrivals a day, no warm-up) at a
known parameter set, writes patterns whose bands surround that run's outputs (the "record"),
calibrates the two parameters from wide priors with the single-core sampler and a seed, and
checks that the posterior's 95% interval covers the known values. The fast tests use a
5-day corridor: file errors, refusals, resume, failures, reproducibility.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import calibrate as calibrate_module
from analysis.calibrate import BandDistance, Simulator
from analysis.calibrate_file import Target, load_calibration
from model.run import simulate
from model.scenario import load_scenario, with_changes
from tests.conftest import ROOT, one_error_line, run_cli, scenarios_folder

TRUTH = {"arrivals.daily_rate": 30.0, "hub.asylum_share": 0.4}
RECORD_SEED = 11
TOLERANCE = 0.15  # bands are the record's value +/- 15%

TINY_SCENARIO = """
extends = "baseline_2018.toml"
name = "tiny"
days = {days}
warmup_days = 0

[arrivals]
daily_rate = 30

[hub]
asylum_share = 0.4
"""

PATTERNS = """
[[patterns]]
id = "arrivals_per_day"
name = "Arrivals a day"
source = "the known-answer run"
role = "calibration"
scenario = "tiny"
expression = "arrivals / days"
low = {a_low!r}
high = {a_high!r}

[[patterns]]
id = "claim_share"
name = "Share of arrivals who claim asylum"
source = "the known-answer run"
role = "calibration"
expression = "asylum_claims / arrivals"
low = {c_low!r}
high = {c_high!r}

[[patterns]]
id = "held_out"
name = "A validation pattern"
source = "the known-answer run"
role = "validation"
expression = "detentions / arrivals"
low = 0.0
high = 1.0

[[patterns]]
id = "code_check"
name = "A mechanism check"
source = "the known-answer run"
role = "mechanism"
expression = "bypass_share"
low = 0.0

[[patterns]]
id = "daily"
name = "A series pattern"
source = "the known-answer run"
role = "calibration"
series_expression = "present"
low = 0.0
high = 1000.0
"""

CALIBRATION = """
[calibration]
base = "scenarios/tiny.toml"
patterns_file = "patterns.toml"
patterns = ["arrivals_per_day", "claim_share"]

[parameters]
"arrivals.daily_rate" = [15.0, 45.0]
"hub.asylum_share" = {{ low = 0.1, high = 0.8 }}

[abc]
population_size = {population}
max_generations = {generations}
max_total_simulations = 2000
seed = 7
"""


def make_setup(root: Path, days: int = 20, population: int = 20, generations: int = 8,
               bands: dict | None = None) -> Path:
    """root/scenarios/tiny.toml, root/patterns.toml with bands around the record (the tiny
    corridor run once at TRUTH), and root/calib.toml; returns the calibration file."""
    folder = scenarios_folder(root)
    (folder / "tiny.toml").write_text(TINY_SCENARIO.format(days=days))
    if bands is None:
        summary = simulate(load_scenario(folder / "tiny.toml"), RECORD_SEED,
                           keep_events=False).summary
        arrivals = summary["arrivals"] / summary["days"]
        claims = summary["asylum_claims"] / summary["arrivals"]
        bands = {"a_low": arrivals * (1 - TOLERANCE), "a_high": arrivals * (1 + TOLERANCE),
                 "c_low": claims * (1 - TOLERANCE), "c_high": claims * (1 + TOLERANCE)}
    (root / "patterns.toml").write_text(PATTERNS.format(**bands))
    path = root / "calib.toml"
    path.write_text(CALIBRATION.format(population=population, generations=generations))
    return path


#: Wide bands for the fast tests: nearly every 5-day run is inside, so they finish quickly.
WIDE = {"a_low": 1.0, "a_high": 100.0, "c_low": 0.0, "c_high": 1.0}


def tiny(root: Path, population: int = 5, generations: int = 1) -> Path:
    return make_setup(root, days=5, population=population, generations=generations, bands=WIDE)


def calibrate(*args) -> object:
    return run_cli("calibrate", *map(str, args))


def weighted_interval(frame: pd.DataFrame, column: str) -> tuple[float, float]:
    from pyabc.weighted_statistics import weighted_quantile

    x, w = frame[column].to_numpy(), frame["weight"].to_numpy()
    return (float(weighted_quantile(x, w, alpha=0.025)),
            float(weighted_quantile(x, w, alpha=0.975)))


# ------------------------------------------------------------------ the known answer


@pytest.mark.slow
def test_posterior_covers_the_known_parameters(tmp_path):
    path = make_setup(tmp_path)
    out = tmp_path / "out"
    result = calibrate(path, "--workers", "0", "--out", out)
    assert result.returncode == 0, result.stderr
    accepted = pd.read_parquet(out / "accepted.parquet")
    assert len(accepted) == 20
    assert accepted["in_all_bands"].all()  # the last generation reached epsilon 0
    assert accepted["seed"].dtype == np.int64
    for name, truth in TRUTH.items():
        low, high = weighted_interval(accepted, name)
        assert low <= truth <= high, (name, low, high)
    # the posterior is narrower than the prior: the patterns carry information
    low, high = weighted_interval(accepted, "hub.asylum_share")
    assert high - low < 0.5 * (0.8 - 0.1)
    generations = pd.read_csv(out / "generations.csv")
    assert list(generations["t"]) == list(range(len(generations)))
    assert generations["epsilon"].iloc[-1] == 0
    constraints = pd.read_csv(out / "constraints.csv")
    rho = constraints.set_index(["pattern", "parameter"])["spearman_rho"]
    # each pattern is driven by its own parameter
    assert rho["claim_share", "hub.asylum_share"] > 0.8
    assert rho["arrivals_per_day", "arrivals.daily_rate"] > 0.8
    assert abs(rho["claim_share", "arrivals.daily_rate"]) < 0.5
    assert "posterior (weighted median and 95% interval" in result.stdout
    ensemble = sorted((out / "ensemble").glob("set-*.toml"))
    assert len(ensemble) == 20
    scenario = load_scenario(ensemble[-1])
    assert 15 <= scenario.arrivals.daily_rate <= 45
    assert (out / "posterior.png").stat().st_size > 10_000
    # the accepted sets as a variants file: the shipped parameters first, then every set
    from analysis.ensemble import expand, load_variants

    variants = load_variants(out / "ensemble" / "variants.toml")
    assert variants[0].name == "shipped" and len(variants) == 21
    members = expand({"base": load_scenario(out / "ensemble" / "base.toml")}, variants,
                     out / "ensemble" / "variants.toml")
    rates = sorted(m.scenario.arrivals.daily_rate for m in members[1:])
    assert rates == sorted(load_scenario(f).arrivals.daily_rate for f in ensemble)


# ------------------------------------------------------------------ file errors


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("old, new, expected", [
    ("seed = 7", "sede = 7", "abc.sede: unknown key; did you mean 'seed'?"),
    ("[15.0, 45.0]", "[45.0, 15.0]", 'parameters."arrivals.daily_rate": low (45) must be below'),
    ('"hub.asylum_share" = {', '"hub.asylum_shar" = {', "did you mean 'hub.asylum_share'"),
    ('"hub.asylum_share" = { low = 0.1, high = 0.8 }', '"hub.rest_days" = [1.0, 3.0]',
     "not a continuous number"),
    ('"hub.asylum_share" = { low = 0.1, high = 0.8 }',
     '"hub.asylum_share" = { low = 0.1, high = 1.5 }', "outside what the schema allows"),
    ('"hub.asylum_share" = { low = 0.1, high = 0.8 }',
     '"hub.asylum_share" = { low = 0.0, high = 0.8, log = true }', "log-uniform prior needs"),
    ('"claim_share"]', '"claim_shar"]', "no such pattern; did you mean 'claim_share'?"),
    ('"claim_share"]', '"held_out"]', "is a validation pattern; only role = \"calibration\""),
    ('"claim_share"]', '"code_check"]', "is a mechanism pattern"),
    ('"claim_share"]', '"daily"]', "uses a series_expression"),
    ('"claim_share"]', '"arrivals_per_day"]', "'arrivals_per_day' is named twice"),
    ("scenarios/tiny.toml", "scenarios/none.toml", "calibration.base:"),
    ('patterns_file = "patterns.toml"', 'patterns_file = "nope.toml"', "file not found"),
    ("population_size = 5", "population_size = 1", "abc.population_size"),
    ("population_size = 5", 'population_size = "5"', "abc.population_size"),
    ("[abc]", "[abc\n", "TOML syntax error"),
])
def test_bad_calibration_files_give_one_line_and_exit_2(tmp_path, old, new, expected):
    path = tiny(tmp_path)
    _edit(path, old, new)
    out = tmp_path / "out"
    line = one_error_line(calibrate(path, "--workers", "0", "--out", out))
    assert expected in line
    assert str(path) in line or "calibration.base" in line
    assert not out.exists()  # nothing written


def test_a_pattern_about_another_scenario_is_refused(tmp_path):
    path = tiny(tmp_path)
    _edit(tmp_path / "patterns.toml", 'scenario = "tiny"', 'scenario = "ffp_2020"')
    line = one_error_line(calibrate(path, "--workers", "0", "--out", tmp_path / "out"))
    assert "describes scenario 'ffp_2020', but the base scenario is 'tiny'" in line


def test_missing_file_and_folder_are_one_line(tmp_path):
    assert "file not found" in one_error_line(calibrate(tmp_path / "none.toml"))
    assert "is a folder" in one_error_line(calibrate(tmp_path))


def test_the_shipped_calibration_file_is_valid():
    files = sorted((ROOT / "scenarios" / "calibration").glob("*.toml"))
    assert files
    for path in files:
        spec = load_calibration(path)
        assert spec.targets and all(t.id for t in spec.targets)
        assert 2 <= len(spec.parameters) <= 5


def test_the_shipped_file_fits_only_calibration_patterns():
    from analysis.patterns import load_patterns

    roles = {p.id: p.role for p in load_patterns()}
    for path in (ROOT / "scenarios" / "calibration").glob("*.toml"):
        for target in load_calibration(path).targets:
            assert roles[target.id] == "calibration"


# ------------------------------------------------------------------ runs, resume, failures


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_existing_history_is_not_overwritten_and_resume_checks_the_config(tmp_path):
    path = tiny(tmp_path, generations=1)
    out = tmp_path / "out"
    first = calibrate(path, "--workers", "0", "--out", out)
    assert first.returncode == 0, first.stderr
    db = out / "abc.db"
    before = db.read_bytes()
    line = one_error_line(calibrate(path, "--workers", "0", "--out", out))
    assert "refusing to overwrite" in line and "--resume" in line
    # a changed prior: refused, and the history is untouched
    changed = tmp_path / "changed.toml"
    shutil.copy(path, changed)
    _edit(changed, "[15.0, 45.0]", "[16.0, 45.0]")
    line = one_error_line(calibrate(changed, "--workers", "0", "--out", out, "--resume"))
    assert "was made with another calibration" in line
    assert db.read_bytes() == before
    # the same file with a larger generation budget continues after generation 0
    _edit(path, "max_generations = 1", "max_generations = 2")
    resumed = calibrate(path, "--workers", "0", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after generation 0" in resumed.stdout
    assert list(pd.read_csv(out / "generations.csv")["t"]) == [0, 1]
    env = json.loads((out / "env.json").read_text())
    assert len(env["sessions"]) == 2 and env["packages"]["pyabc"] == "0.13.0"


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_resume_under_changed_model_code_needs_force(tmp_path, monkeypatch):
    """A posterior resumed under other model code would mix two models: refused in one line,
    the history untouched; --force (for a change that kept results) continues it."""
    import analysis.calibrate

    path = tiny(tmp_path, generations=1)
    out = tmp_path / "out"
    assert calibrate(path, "--workers", "0", "--out", out).returncode == 0
    db = out / "abc.db"
    before = db.read_bytes()
    _edit(path, "max_generations = 1", "max_generations = 2")
    monkeypatch.setattr(analysis.calibrate, "code_version", lambda: "model-edited+mesa-3.5.1")
    line = one_error_line(calibrate(path, "--workers", "0", "--out", out, "--resume"))
    assert "model code" in line and "model-edited" in line and "--force" in line
    assert db.read_bytes() == before
    line = one_error_line(calibrate(path, "--workers", "0", "--out", out, "--force"))
    assert "--force goes with --resume" in line
    resumed = calibrate(path, "--workers", "0", "--out", out, "--resume", "--force")
    assert resumed.returncode == 0, resumed.stderr
    assert list(pd.read_csv(out / "generations.csv")["t"]) == [0, 1]


def test_a_folder_with_other_files_is_refused(tmp_path):
    path = tiny(tmp_path)
    other = tmp_path / "batch"
    other.mkdir()
    (other / "env.json").write_text("{}")
    line = one_error_line(calibrate(path, "--workers", "0", "--out", other))
    assert "exists and is not an empty folder" in line
    assert (other / "env.json").read_text() == "{}"


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_resume_without_a_history_is_refused(tmp_path):
    path = tiny(tmp_path)
    line = one_error_line(calibrate(path, "--out", tmp_path / "empty", "--resume"))
    assert "no abc.db to resume" in line
    assert not (tmp_path / "empty").exists()
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "abc.db").write_text("not a database")
    line = one_error_line(calibrate(path, "--out", garbage, "--resume"))
    assert "cannot be read as a calibration history" in line
    assert sorted(p.name for p in garbage.iterdir()) == ["abc.db"]


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_same_seed_single_core_runs_are_identical(tmp_path):
    path = tiny(tmp_path, generations=2)
    frames = []
    for name in ("a", "b"):
        result = calibrate(path, "--workers", "1", "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr
        frames.append(pd.read_parquet(tmp_path / name / "accepted.parquet"))
    pd.testing.assert_frame_equal(frames[0].drop(columns="run_s"),
                                  frames[1].drop(columns="run_s"))
    # and the logged seeds replay: the same parameters and seed give the same pattern values
    row = frames[0].iloc[0]
    spec = load_calibration(path)
    scenario = with_changes(spec.base, {n: float(row[n]) for n in spec.names})
    summary = simulate(scenario, int(row["seed"]), spec.days, keep_events=False).summary
    assert summary["arrivals"] / summary["days"] == pytest.approx(row["arrivals_per_day"])


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_a_raising_simulation_is_a_rejected_particle_not_an_abort(tmp_path, monkeypatch):
    real = calibrate_module.simulate

    def sometimes_raises(params, seed, days=None, **kwargs):
        if params.hub.asylum_share > 0.5:
            raise RuntimeError("injected failure")
        return real(params, seed, days, **kwargs)

    monkeypatch.setattr(calibrate_module, "simulate", sometimes_raises)
    path = tiny(tmp_path, population=8, generations=2)
    out = tmp_path / "out"
    result = calibrate(path, "--workers", "0", "--out", out)
    assert result.returncode == 0, result.stderr
    sims = pd.concat(pd.read_json(p, lines=True) for p in (out / "sims").glob("*.jsonl"))
    failed = sims[sims["failed"] == 1]
    assert len(failed) > 0
    assert failed["error"].str.contains("injected failure").all()
    assert failed["arrivals_per_day"].isna().all()
    accepted = pd.read_parquet(out / "accepted.parquet")
    assert (accepted["failed"] == 0).all()
    assert (accepted["hub.asylum_share"] <= 0.5).all()
    assert "failed" in result.stdout  # the warning: far more than 5% of runs failed


def test_the_simulator_never_raises_and_guards_time(tmp_path):
    spec = load_calibration(tiny(tmp_path))
    simulator = Simulator(spec.base, spec.days, tuple(spec.targets), str(tmp_path),
                          max_run_seconds=1e-9)
    np.random.seed(1)
    out = simulator({"arrivals.daily_rate": 30.0, "hub.asylum_share": 0.4})
    assert out["failed"] == 1 and math.isnan(out["arrivals_per_day"])
    record = json.loads(next(tmp_path.glob("sims-*.jsonl")).read_text().splitlines()[0])
    assert "RunTooLong" in record["error"] and record["arrivals_per_day"] is None
    # an invalid value (the schema's limits) is a failed run too, not an exception
    out = simulator({"arrivals.daily_rate": -5.0, "hub.asylum_share": 0.4})
    assert out["failed"] == 1


def test_band_distance_is_zero_inside_every_band():
    targets = (Target("a", "x", 1.0, 3.0), Target("b", "y", 0.0, 10.0))
    distance = BandDistance(targets)
    assert distance({"a": 2.0, "b": 5.0}) == 0
    assert distance({"a": 4.0, "b": 5.0}) == pytest.approx(math.sqrt(0.5 ** 2 / 2))
    assert distance({"a": 0.0, "b": 12.0}) == pytest.approx(math.sqrt((0.25 + 0.04) / 2))
    assert math.isnan(distance({"a": math.nan, "b": 5.0}))


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_sigterm_stops_exports_and_resumes(tmp_path, monkeypatch):
    """SIGTERM (sent here from inside the 8th run) ends the command like Ctrl-C: the finished
    generation is exported, the status is 130, and --resume continues after it."""
    import os
    import signal

    real = calibrate_module.simulate
    calls = {"n": 0}

    def terminated_midway(params, seed, days=None, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(params, seed, days, **kwargs)

    monkeypatch.setattr(calibrate_module, "simulate", terminated_midway)
    path = tiny(tmp_path, generations=3)
    out = tmp_path / "out"
    before = signal.getsignal(signal.SIGTERM)
    stopped = calibrate(path, "--workers", "0", "--out", out)
    assert stopped.returncode == 130, stopped.stderr
    assert "interrupted: resume with" in stopped.stdout
    assert list(pd.read_csv(out / "generations.csv")["t"]) == [0]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler was put back
    monkeypatch.setattr(calibrate_module, "simulate", real)
    resumed = calibrate(path, "--workers", "0", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert list(pd.read_csv(out / "generations.csv")["t"]) == [0, 1, 2]
