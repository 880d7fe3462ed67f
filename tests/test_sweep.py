"""Sensitivity sweeps: sweep file -> engine -> store -> SALib -> indices.csv, checked against
functions whose indices are known exactly, plus one tiny corridor sweep for the model path.

Kept well under three minutes on two cores: the analytic sweeps run serially (a few
thousand cheap calls), Dask starts once, and the corridor sweep has six 10-day runs.
"""

from __future__ import annotations

import math
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from scipy import stats

from analysis import sweep as sweep_module
from analysis.batch import EngineSpec
from analysis.store import Store
from analysis.sweep import SweepRequest, run_sweep, sample_design
from analysis.sweep_file import load_sweep
from analysis.sweep_indices import analyse
from analysis.testfunctions import (
    ISHIGAMI_S1,
    ISHIGAMI_S2_13,
    ISHIGAMI_ST,
    LINEAR_COEFFICIENTS,
    ishigami,
)
from corridor.cli import main
from tests.conftest import BASELINE, ROOT, run_cli

ENTROPY = 20240601
PI = math.pi
ISHIGAMI_N = 256

ISHIGAMI_FILE = f"""
[sweep]
method = "sobol"
n = {ISHIGAMI_N}
second_order = true
replications = 1
outcomes = ["y"]
target = "analysis.testfunctions:ishigami"

[parameters]
x1 = {{ low = {-PI!r}, high = {PI!r} }}
x2 = {{ low = {-PI!r}, high = {PI!r} }}
x3 = {{ low = {-PI!r}, high = {PI!r} }}
"""

# x3 spans 2 units: Morris's elementary effects are in units of the range, so mu* = 2 x 1.
LINEAR_FILE = """
[sweep]
method = "morris"
n = 10
levels = 4
replications = 2
outcomes = ["y", "y_abs"]
target = "analysis.testfunctions:linear"

[parameters]
x1 = { low = 0, high = 1 }
x2 = { low = 0, high = 1 }
x3 = { low = -1, high = 1 }
x4 = { low = 0, high = 1 }
"""
LINEAR_RANGES = {"x1": 1.0, "x2": 1.0, "x3": 2.0, "x4": 1.0}


def sweep(file: Path, out: Path, workers: int = 0, entropy: int = ENTROPY) -> Store:
    request = SweepRequest(file=file, out=out, entropy=entropy,
                           engine=EngineSpec(workers=workers))
    report = run_sweep(request, progress=False)
    assert report.failed == 0
    return report.store


#: The tests that read the module's Ishigami sweep: one xdist worker computes it for all of
#: them (with `--dist loadgroup`) instead of each worker computing its own. The sweep is
#: 2,048 evaluations written one by one to the store, then SALib's bootstrap and the figures:
#: about 10 s of one core, so these are left to `make test` (slow).
def on_ishigami(test):
    return pytest.mark.slow(pytest.mark.xdist_group("sweep-ishigami")(test))


def indices_of(store: Store) -> pd.DataFrame:
    return pd.read_csv(store.path / "indices.csv")


@pytest.fixture(scope="module")
def ishigami_store(tmp_path_factory) -> Store:
    folder = tmp_path_factory.mktemp("ishigami")
    (folder / "ishigami.toml").write_text(ISHIGAMI_FILE)
    store = sweep(folder / "ishigami.toml", folder / "run")
    analyse(store)
    return store


@pytest.fixture(scope="module")
def linear_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("linear") / "linear.toml"
    path.write_text(LINEAR_FILE)
    return path


# ------------------------------------------------------------------ analytic functions


@on_ishigami
def test_ishigami_sobol_indices_match_the_exact_values(ishigami_store):
    table = indices_of(ishigami_store).set_index("parameter")
    assert list(pd.read_csv(ishigami_store.path / "indices.csv").columns) == [
        "method", "outcome", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    for name in ("x1", "x2", "x3"):
        row = table.loc[name]
        # Tolerance from the bootstrap CI (twice the 95% half-width, never below 0.02).
        assert abs(row.S1 - ISHIGAMI_S1[name]) <= max(2 * row.S1_conf, 0.02), name
        assert abs(row.ST - ISHIGAMI_ST[name]) <= max(2 * row.ST_conf, 0.02), name
    s2 = pd.read_csv(ishigami_store.path / "indices_s2.csv")
    s2 = s2.set_index(["parameter_1", "parameter_2"])
    assert abs(s2.loc[("x1", "x3"), "S2"] - ISHIGAMI_S2_13) <= 2 * s2.loc[("x1", "x3"), "S2_conf"]
    for pair in (("x1", "x2"), ("x2", "x3")):
        assert abs(s2.loc[pair, "S2"]) <= 2 * s2.loc[pair, "S2_conf"]


@on_ishigami
def test_ishigami_agrees_with_scipy_on_the_stored_outcomes(ishigami_store):
    """SciPy's estimator on the same stored outcomes: an independent implementation."""
    manifest = ishigami_store.manifest().sort_values("design_index")
    y = manifest.merge(ishigami_store.summaries()[["run_id", "y"]], on="run_id")["y"].to_numpy()
    d, block = 3, 2 * 3 + 2  # Saltelli rows per base sample with second order: A, AB_i, BA_i, B
    f_a, f_b = y[0::block][None, :], y[block - 1::block][None, :]
    f_ab = np.stack([y[1 + i::block] for i in range(d)])[:, None, :]
    result = stats.sobol_indices(func={"f_A": f_a, "f_B": f_b, "f_AB": f_ab}, n=ISHIGAMI_N)
    table = indices_of(ishigami_store).set_index("parameter")
    np.testing.assert_allclose(np.ravel(result.first_order), table["S1"].to_numpy(), atol=0.03)
    np.testing.assert_allclose(np.ravel(result.total_order), table["ST"].to_numpy(), atol=0.03)
    # and the design really is Ishigami: the stored outcomes are f(stored inputs)
    row = manifest.iloc[5]
    assert y[5] == pytest.approx(ishigami(row.x1, row.x2, row.x3)["y"])


@on_ishigami
def test_convergence_table_and_figures(ishigami_store):
    conv = pd.read_csv(ishigami_store.path / "convergence.csv")
    assert sorted(conv["n"].unique()) == [16, 32, 64, 128, 256]
    final = conv[conv["n"] == ISHIGAMI_N].set_index("parameter")
    pd.testing.assert_series_equal(final["ST"], indices_of(ishigami_store).set_index(
        "parameter")["ST"], check_names=False)
    figures = ishigami_store.path / "figures"
    assert (figures / "sobol_y.png").stat().st_size > 1000
    assert (figures / "sobol_convergence_y.png").stat().st_size > 1000
    assert "x1" in (ishigami_store.path / "summary.txt").read_text()


@on_ishigami
def test_completion_order_does_not_change_the_indices(ishigami_store, monkeypatch):
    """Summaries arriving in any order (as from Dask) give the same indices: the analysis
    orders by design_index."""
    before = indices_of(ishigami_store)
    query = Store.query

    def shuffled(self, sql):
        frame = query(self, sql)
        return frame.sample(frac=1, random_state=7).reset_index(drop=True)

    monkeypatch.setattr(Store, "query", shuffled)
    again = analyse(ishigami_store, figures=False).indices
    pd.testing.assert_frame_equal(again.reset_index(drop=True), before)


def serial_linear(linear_file: Path, out: Path) -> tuple[Store, pd.DataFrame]:
    """The linear sweep run serially and analysed without figures: its store and indices."""
    serial = sweep(linear_file, out)
    return serial, analyse(serial, figures=False).indices


def test_linear_morris_mu_star_is_exact(linear_file, tmp_path):
    serial, table = serial_linear(linear_file, tmp_path / "serial")
    y = table[table["outcome"] == "y"].set_index("parameter")
    for name, coefficient in LINEAR_COEFFICIENTS.items():
        exact = abs(coefficient) * LINEAR_RANGES[name]
        assert y.loc[name, "mu_star"] == pytest.approx(exact, abs=1e-9)
        assert y.loc[name, "mu"] == pytest.approx(coefficient * LINEAR_RANGES[name], abs=1e-9)
        assert y.loc[name, "sigma"] == pytest.approx(0, abs=1e-9)
    assert list(table.columns) == ["method", "outcome", "parameter", "mu", "mu_star",
                                   "mu_star_conf", "sigma"]
    assert (serial.path / "figures" / "morris_y.png").exists() is False  # figures=False


@pytest.mark.slow  # starts a local Dask cluster of two workers
def test_linear_morris_on_dask_matches_serial(linear_file, tmp_path):
    """Two Dask workers finish runs in another order; the indices are the same."""
    _, table = serial_linear(linear_file, tmp_path / "serial")
    parallel = sweep(linear_file, tmp_path / "dask", workers=2)
    analyse(parallel)
    pd.testing.assert_frame_equal(indices_of(parallel), table)
    assert (parallel.path / "figures" / "morris_y.png").stat().st_size > 1000
    manifest = parallel.manifest()
    assert {"design_index", "x1", "x2", "x3", "x4"} <= set(manifest.columns)
    assert len(manifest) == 10 * 5 * 2  # trajectories x (D + 1) x replications


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_same_sweep_and_entropy_reproduce_the_indices(linear_file, tmp_path):
    first = analyse(sweep(linear_file, tmp_path / "a"), figures=False).indices
    second = analyse(sweep(linear_file, tmp_path / "b"), figures=False).indices
    pd.testing.assert_frame_equal(first, second)
    other = sweep(linear_file, tmp_path / "c", entropy=ENTROPY + 1)
    assert not other.manifest()["x1"].equals(Store(tmp_path / "a").manifest()["x1"])


def test_resume_runs_only_what_is_missing(linear_file, tmp_path):
    store = sweep(linear_file, tmp_path / "s")
    victims = sorted((store.path / "summaries").rglob("*.parquet"))[:7]
    for path in victims:
        path.unlink()
    report = run_sweep(SweepRequest(file=None, out=store.path, resume=True,
                                    engine=EngineSpec(workers=0)), progress=False)
    assert (report.ran, report.failed) == (7, 0)


# ------------------------------------------------------------------ the corridor model


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_tiny_corridor_sweep_runs_the_model(tmp_path):
    scenarios = tmp_path / "scenarios"
    (scenarios / "sweeps").mkdir(parents=True)
    shutil.copy(BASELINE, scenarios / BASELINE.name)
    # A 20-day warm-up instead of the baseline's 120 (a quarter of the cost): long enough for
    # every outcome to vary across the design, so all three are analysed (asserted below).
    (scenarios / "tiny.toml").write_text(
        f'extends = "{BASELINE.name}"\ndays = 10\nwarmup_days = 20\n\n'
        '[arrivals]\ndaily_rate = 20\n')
    (scenarios / "sweeps" / "tiny_morris.toml").write_text("""
[sweep]
method = "morris"
n = 2
levels = 4
replications = 1
days = 10
outcomes = ["bypass_share", "mean_wait_days_hub", "identification_rate"]
base = "../tiny.toml"

[parameters]
"movement.detection_aversion" = { low = 0.2, high = 3.0 }
"hub.give_up_per_day" = { low = 0.0, high = 0.1 }
""")
    result = run_cli("sweep", str(scenarios / "sweeps" / "tiny_morris.toml"), "--workers", "0",
                     "--out", str(tmp_path / "run"), "--quiet", "--seed-entropy", "5")
    assert result.returncode == 0, result.stderr
    store = Store(tmp_path / "run")
    manifest = store.manifest()
    assert len(manifest) == 2 * 3 and set(manifest["days"]) == {10}
    table = indices_of(store)
    assert set(table["parameter"]) == {"movement.detection_aversion", "hub.give_up_per_day"}
    assert set(table["method"]) == {"morris"}
    assert set(table["outcome"]) == {"bypass_share", "mean_wait_days_hub", "identification_rate"}
    assert "movement.detection_aversion" in result.stdout
    # re-analysis of the finished store gives the same file
    again = run_cli("sweep", "--analyse-only", str(tmp_path / "run"))
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(indices_of(store), table)


def test_shipped_sweep_files_are_valid():
    morris, base = load_sweep(ROOT / "scenarios" / "sweeps" / "morris_baseline.toml")
    assert morris.method == "morris" and 10 <= len(morris.parameters) <= 20
    sobol, base = load_sweep(ROOT / "scenarios" / "sweeps" / "sobol_ffp.toml")
    assert sobol.method == "sobol" and base.name == "ffp_2020"
    assert set(sobol.names) <= set(morris.names)


# ------------------------------------------------------------------ mistakes


def _bad(tmp_path: Path, sweep_table: str, parameters: str) -> Path:
    scenarios = tmp_path / "scenarios"
    (scenarios / "sweeps").mkdir(parents=True, exist_ok=True)
    shutil.copy(BASELINE, scenarios / BASELINE.name)
    path = scenarios / "sweeps" / "bad.toml"
    path.write_text(f"[sweep]\n{sweep_table}\n\n[parameters]\n{parameters}\n")
    return path


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """`corridor ...` in this process: exit status, stdout, stderr."""
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _one_line_error(status: int, err: str) -> str:
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


GOOD_SWEEP = 'method = "morris"\nn = 4\noutcomes = ["incidence_per_1000"]\nbase = "../baseline_2018.toml"'
GOOD_PARAM = '"traffickers.offer_success" = { low = 0.001, high = 0.004 }'


@pytest.mark.parametrize("sweep_table, parameters, expected", [
    (GOOD_SWEEP, '"traffickers.offer_sucess" = { low = 0.001, high = 0.004 }',
     "did you mean 'traffickers.offer_success'"),
    (GOOD_SWEEP, '"traffickers.offer_success" = { low = 0.1, high = 1.5 }',
     "outside what the schema allows (traffickers.offer_success <= 1)"),
    (GOOD_SWEEP.replace('"morris"', '"sobol"').replace("n = 4", "n = 100"), GOOD_PARAM,
     "needs a power of two, got 100"),
    (GOOD_SWEEP.replace("incidence_per_1000", "incidence"), GOOD_PARAM,
     "unknown outcome 'incidence'"),
    (GOOD_SWEEP.replace("baseline_2018", "nowhere"), GOOD_PARAM, "'../nowhere.toml' not found"),
    (GOOD_SWEEP, '"traffickers.pool_size" = { low = 5, high = 20 }', "float parameters only"),
])
def test_bad_sweep_files_give_one_line_and_exit_2(tmp_path, sweep_table, parameters, expected):
    path = _bad(tmp_path, sweep_table, parameters)
    result = run_cli("sweep", str(path), "--workers", "0", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing ran


@pytest.mark.parametrize("sweep_table, parameters, expected", [
    (GOOD_SWEEP, '"traffickers.offer_success" = { lo = 0.001, high = 0.004 }',
     (""": parameters."traffickers.offer_success".lo: unknown key; did you mean 'low'? """
      "(allowed here: low, high, dist, peak)")),
    (GOOD_SWEEP + '\noutputs = ["bypass_share"]', GOOD_PARAM,
     ": sweep.outputs: give outcomes only (outputs is its old name"),
    (GOOD_SWEEP.replace("outcomes", "outcome"), GOOD_PARAM,
     ": sweep.outcome: unknown key; did you mean 'outcomes'?"),
])
def test_schema_mistakes_name_the_key_in_process(tmp_path, capsys, sweep_table, parameters,
                                                  expected):
    """The pydantic schema's errors, shaped like the scenario loader's: one line, the key."""
    path = _bad(tmp_path, sweep_table, parameters)
    status, _, err = _main(capsys, "sweep", str(path), "--workers", "0",
                           "--out", str(tmp_path / "out"))
    line = _one_line_error(status, err)
    assert line.startswith(f"error: {path}: ") and expected in line
    assert not (tmp_path / "out").exists()


def test_outputs_is_still_read_as_outcomes(tmp_path):
    path = _bad(tmp_path, GOOD_SWEEP.replace("outcomes", "outputs"), GOOD_PARAM)
    spec, _ = load_sweep(path)
    assert spec.outcomes == ["incidence_per_1000"]
    assert spec.record()["outcomes"] == ["incidence_per_1000"] and "outputs" not in spec.record()


def test_a_record_that_says_outputs_resumes_and_analyses(linear_file, tmp_path):
    """Stores written before the rename keep `outputs` in batch.toml: --resume sees no change
    and the analysis reads them."""
    store = sweep(linear_file, tmp_path / "old")
    before = analyse(store, figures=False).indices
    record = tomllib.loads((store.path / "batch.toml").read_text())
    record["sweep"]["outputs"] = record["sweep"].pop("outcomes")
    (store.path / "batch.toml").write_text(tomli_w.dumps(record))
    report = run_sweep(SweepRequest(file=linear_file, out=store.path, resume=True,
                                    engine=EngineSpec(workers=0)), progress=False)
    assert (report.planned, report.ran) == (100, 0)
    pd.testing.assert_frame_equal(analyse(store, figures=False).indices, before)


@pytest.mark.parametrize("method, second_order", [("morris", False), ("sobol", False),
                                                   ("sobol", True)])
def test_design_size_arithmetic_matches_salib(tmp_path, method, second_order):
    """The size the cap is checked against is the size SALib samples."""
    path = tmp_path / "size.toml"
    path.write_text(LINEAR_FILE.replace('method = "morris"', f'method = "{method}"')
                    .replace("n = 10", f"n = 8\nsecond_order = {str(second_order).lower()}"))
    spec, _ = load_sweep(path)
    assert spec.second_order is second_order
    assert sample_design(spec, ENTROPY).shape == (spec.design_points, 4)


# ------------------------------------------------------------------ untrusted input


@pytest.mark.parametrize("method, n, replications", [
    ("sobol", 2 ** 40, 1),             # a power of two: only the size can stop it
    ("morris", 1_000_000_000, 1),
    ("morris", 100_000, 10),           # 500,000 points x 10 replications
])
def test_a_huge_design_is_refused_before_it_is_sampled(tmp_path, capsys, monkeypatch, method,
                                                       n, replications):
    def never(*args, **kwargs):
        raise AssertionError("the design was sampled")

    monkeypatch.setattr(sweep_module, "sample_design", never)
    path = tmp_path / "huge.toml"
    path.write_text(LINEAR_FILE.replace('method = "morris"', f'method = "{method}"')
                    .replace("n = 10", f"n = {n}")
                    .replace("replications = 2", f"replications = {replications}"))
    status, _, err = _main(capsys, "sweep", str(path), "--workers", "0", "--quiet",
                           "--out", str(tmp_path / "out"))
    line = _one_line_error(status, err)
    rows = n * (4 + 1 if method == "morris" else 4 + 2)
    assert f"sweep.n: {n:,} x " in line and f"= {rows * replications:,} runs" in line
    assert "at most 1,000,000 runs" in line
    assert not (tmp_path / "out").exists()


CLIFF_FILE = """
[sweep]
method = "{method}"
n = {n}
replications = 2
outcomes = {outcomes}
target = "analysis.testfunctions:cliff"

[parameters]
x1 = {{ low = 0, high = 1 }}
x2 = {{ low = 0, high = 1 }}
"""


def _cliff_sweep(tmp_path, capsys, method: str, outcomes: list[str]):
    path = tmp_path / "cliff.toml"
    path.write_text(CLIFF_FILE.format(method=method, n=8 if method == "morris" else 16,
                                      outcomes=str(outcomes).replace("'", '"')))
    out = tmp_path / "out"
    status, stdout, err = _main(capsys, "sweep", str(path), "--workers", "0", "--quiet",
                                "--out", str(out), "--seed-entropy", "11")
    manifest = Store(out).manifest()
    below = manifest.loc[manifest["x1"] < 0.1, "design_index"].nunique()
    return status, stdout, err, below, manifest["design_index"].nunique()


@pytest.mark.parametrize("method", ["morris", "sobol"])
@pytest.mark.parametrize("outcome", ["y", "y_nan", "y_none", "y_text"])
def test_an_outcome_not_finite_everywhere_is_refused(tmp_path, capsys, method, outcome):
    """inf, NaN, None and a string at some design points: never indices of 0 or NaN, one line
    that says at how many points (counted here from the design itself)."""
    status, _, err, below, points = _cliff_sweep(tmp_path, capsys, method, [outcome])
    assert below > 0, "the design never reaches the cliff: nothing to refuse"
    line = _one_line_error(status, err)
    assert f"{outcome}: not a finite number at {below} of {points} design points" in line
    assert "needs every design point" in line
    assert not (tmp_path / "out" / "indices.csv").exists()


def test_a_finite_outcome_is_still_analysed_beside_one_that_is_not(tmp_path, capsys):
    status, stdout, err, below, points = _cliff_sweep(tmp_path, capsys, "morris", ["y", "z"])
    assert status == 0, err
    table = pd.read_csv(tmp_path / "out" / "indices.csv")
    assert set(table["outcome"]) == {"z"} and table["mu_star"].notna().all()
    note = f"note: y: not a finite number at {below} of {points} design points"
    assert note in stdout and note in (tmp_path / "out" / "summary.txt").read_text()


def test_help_and_readme_say_a_target_is_code(capsys):
    assert main(["sweep", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert 'target = "package.module:function" is code, not data' in text
    assert "run only sweep files you trust" in text
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "a sweep file with a `target` is a program" in readme
