"""Scenario batches: reproducible on any engine, resumable after a kill, honest about failures.

Runs are tiny (10 to 40 days, 20 arrivals a day, a few days of warm-up instead of the
baseline's 120) so the whole file stays well under four minutes on two cores; what is tested
is the batch machinery, not the model.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

import analysis.engines
from analysis.batch import BatchError, BatchRequest, EngineSpec, run_batch
from analysis.engines import simulate_run
from analysis.plan import make_plan, replicate_seeds
from analysis.store import Store, list_stores, open_store
from model.run import simulate
from model.scenario import load_scenario
from tests.conftest import BASELINE, CORRIDOR_BIN, one_error_line, run_cli

ENTROPY = 20200109
DASK_BIN = Path(sys.executable).parent / "dask"


# ------------------------------------------------------------------ helpers


@pytest.fixture()
def scenarios(tmp_path) -> Path:
    """tmp_path/scenarios with a copy of the baseline and two tiny variants of it."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    shutil.copy(BASELINE, folder / BASELINE.name)
    write_variant(folder / "tiny.toml", days=10, rate=20)
    write_variant(folder / "tiny_busy.toml", days=10, rate=30)
    return folder


#: The baseline warms up for 120 days, which would be 90% of a tiny run's cost. The batch
#: machinery does not care how long a run is, only that the warm-up is passed through: a short
#: one still is, so that test_store_tables_hold_what_simulate_returns checks it (the stored
#: series starts on day TINY_WARMUP + 1 and counts the warm-up's arrivals).
TINY_WARMUP = 5


def write_variant(path: Path, days: int, rate: float, warmup: int = TINY_WARMUP) -> Path:
    path.write_text(f'extends = "{BASELINE.name}"\ndays = {days}\nwarmup_days = {warmup}\n\n'
                    f"[arrivals]\ndaily_rate = {rate}\n")
    return path


def tiny_files(folder: Path) -> list[Path]:
    return [folder / "tiny.toml", folder / "tiny_busy.toml"]


def batch(files, out, reps=3, workers=0, run_fn=simulate_run, **kwargs):
    """run_batch with this file's defaults: fixed entropy, serial, no progress bar."""
    request = BatchRequest(files=list(files), reps=reps, entropy=ENTROPY, out=out,
                           engine=EngineSpec(workers=workers), **kwargs)
    return run_batch(request, progress=False, run_fn=run_fn)


def tables(out: Path) -> dict[str, pd.DataFrame]:
    store = Store(out)
    return {"manifest": store.manifest(), "summaries": store.summaries(),
            "series": store.series()}


def assert_same_tables(a: Path, b: Path) -> None:
    left, right = tables(a), tables(b)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    """Poll `condition` until it holds; fail with `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ the plan


def test_replicate_k_has_one_seed_in_every_scenario_and_more_reps_keep_it(scenarios):
    plan = make_plan(tiny_files(scenarios), reps=4, entropy=ENTROPY)
    manifest = plan.manifest()
    by_rep = manifest.groupby("rep")["seed"].nunique()
    assert (by_rep == 1).all()                      # common random numbers
    assert manifest["seed"].nunique() == 4          # replicates differ
    assert manifest["run_id"].is_unique
    assert replicate_seeds(ENTROPY, 6)[:4] == replicate_seeds(ENTROPY, 4)
    assert replicate_seeds(ENTROPY + 1, 4) != replicate_seeds(ENTROPY, 4)


def test_run_id_changes_with_what_changes_a_run(scenarios):
    base = make_plan([scenarios / "tiny.toml"], reps=1, entropy=ENTROPY).jobs[0]
    longer = make_plan([scenarios / "tiny.toml"], reps=1, days=11, entropy=ENTROPY).jobs[0]
    write_variant(scenarios / "tiny.toml", days=10, rate=21)
    edited = make_plan([scenarios / "tiny.toml"], reps=1, entropy=ENTROPY).jobs[0]
    assert len({base.run_id, longer.run_id, edited.run_id}) == 3
    assert len(base.run_id) == 16


# ------------------------------------------------------------ reproducibility


@pytest.mark.slow  # starts two local Dask clusters (1 and 2 workers)
def test_serial_one_worker_and_two_workers_give_identical_tables(scenarios, tmp_path):
    files = tiny_files(scenarios)
    serial = batch(files, tmp_path / "serial", workers=0)
    one = batch(files, tmp_path / "one", workers=1)
    two = batch(files, tmp_path / "two", workers=2)
    assert [r.engine["kind"] for r in (serial, one, two)] == ["serial", "local", "local"]
    assert all(r.done == r.planned == 6 and r.failed == 0 for r in (serial, one, two))
    assert_same_tables(tmp_path / "serial", tmp_path / "one")
    assert_same_tables(tmp_path / "serial", tmp_path / "two")


def test_store_tables_hold_what_simulate_returns(scenarios, tmp_path):
    batch(tiny_files(scenarios), tmp_path / "b", reps=2)
    store = Store(tmp_path / "b")
    summaries, series = store.summaries(), store.series()
    assert list(summaries.columns[:4]) == ["run_id", "scenario", "rep", "seed"]
    assert len(summaries) == 4 and len(series) == 4 * 10
    job = store.manifest().iloc[-1]
    direct = simulate(load_scenario(scenarios / "tiny_busy.toml"), int(job.seed), 10,
                      keep_events=False)
    row = summaries.set_index("run_id").loc[job.run_id]
    assert row["arrivals"] == direct.summary["arrivals"]
    daily = series[series.run_id == job.run_id].drop(columns=["run_id", "scenario", "rep"])
    assert daily["day"].min() == TINY_WARMUP + 1  # the warm-up ran and was not counted
    pd.testing.assert_frame_equal(daily.reset_index(drop=True), direct.series,
                                  check_dtype=False)
    counts = store.query("SELECT scenario, count(*) AS n FROM summaries GROUP BY scenario "
                         "ORDER BY scenario")
    assert counts.to_dict("list") == {"scenario": ["tiny", "tiny_busy"], "n": [2, 2]}
    assert summaries["arrivals"].nunique() > 1  # replicates really differ


# ------------------------------------------------------------------ faults


@pytest.mark.slow  # a real `corridor batch` on Dask, killed, resumed, and run again whole
def test_killed_batch_resumed_equals_an_uninterrupted_one(scenarios, tmp_path):
    # Runs of about 0.3 s (a 40-day warm-up): the kill, sent within a poll (0.05 s) of the
    # third finished run, lands seconds before the 16th would finish.
    files = [write_variant(scenarios / "slow.toml", days=40, rate=20, warmup=40),
             write_variant(scenarios / "slow_busy.toml", days=40, rate=30, warmup=40)]
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [str(CORRIDOR_BIN), "batch", *map(str, files), "--reps", "8", "--workers", "1",
         "--seed-entropy", str(ENTROPY), "--out", str(out), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: len(Store(out).done_ids()) >= 3, "three finished runs")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its Dask workers, no goodbye
        proc.wait()
    store = Store(out)
    assert 3 <= len(store.done_ids()) < 16, "the kill should land part-way through"
    (out / "summaries" / "scenario=slow" / ".half-written.parquet.x1.tmp").write_bytes(b"PAR")

    resumed = run_cli("batch", "--resume", "--out", str(out), "--workers", "0", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "16 of 16 runs done" in resumed.stdout

    batch(files, tmp_path / "whole", reps=8)
    assert_same_tables(out, tmp_path / "whole")
    assert store.summaries()["run_id"].is_unique
    assert store.temp_files() == []
    assert len(store.env()["resumes"]) == 1


@pytest.mark.slow  # a local Dask cluster of two workers
def test_failing_run_lands_in_failures_and_the_rest_complete(scenarios, tmp_path):
    bad_seed = replicate_seeds(ENTROPY, 3)[1]
    out = tmp_path / "b"
    report = batch(tiny_files(scenarios), out, workers=2,
                   run_fn=functools.partial(fail_on_seed, bad_seed=bad_seed))
    assert report.engine["kind"] == "local"  # the injected function crossed to Dask workers
    assert (report.done, report.failed) == (4, 2)  # replicate 1 of both scenarios
    store = Store(out)
    failures = store.failures()
    assert sorted(failures["rep"]) == [1, 1]
    assert failures["error"].str.contains("injected failure").all()
    assert failures["traceback"].str.contains("fail_on_seed").all()
    assert store.counts()["done"].tolist() == [2, 2]

    shown = run_cli("runs", "show", str(out))
    assert "incomplete: 4 of 6 runs done, 2 failed" in shown.stdout, shown.stdout

    again = batch(tiny_files(scenarios), out, resume=True)  # failed runs are retried
    assert (again.done, again.failed) == (6, 0)
    assert store.failures().empty and store.is_complete()
    assert not list((out / "failures").glob("*.json"))


def fail_on_seed(params, seed, days, bad_seed):
    """A run function that raises for one replicate seed, as a model bug would."""
    if seed == bad_seed:
        raise RuntimeError(f"injected failure for seed {seed}")
    return simulate(params, seed, days, keep_events=False)


# ------------------------------------------------------------------ resume rules


def test_resume_with_an_edited_scenario_is_refused_unless_forced(scenarios, tmp_path):
    out = tmp_path / "b"
    batch(tiny_files(scenarios), out, reps=2)
    write_variant(scenarios / "tiny.toml", days=10, rate=25)

    refused = run_cli("batch", "--resume", "--out", str(out), "--workers", "0")
    line = one_error_line(refused)
    assert "scenario 'tiny' differs at arrivals.daily_rate (20.0 -> 25.0)" in line
    assert "--force" in line

    forced = run_cli("batch", "--resume", "--force", "--out", str(out), "--workers", "0",
                     "--quiet")
    assert forced.returncode == 0, forced.stderr
    store = Store(out)
    assert store.is_complete() and len(store.stale_ids()) == 2  # old tiny runs kept, unread
    assert store.summaries().query("scenario == 'tiny'")["arrivals"].gt(0).all()
    assert len(list((out / "history").glob("*/batch.toml"))) == 1
    assert store.batch()["scenarios"]["tiny"]["resolved"]["arrivals"]["daily_rate"] == 25


def test_resume_with_other_code_is_refused_unless_forced(scenarios, tmp_path):
    out = tmp_path / "b"
    batch(tiny_files(scenarios), out, reps=1)
    record = Store(out).batch() | {"code_version": "model-000000000000+mesa-0"}
    (out / "batch.toml").write_text(tomli_w.dumps(record))
    with pytest.raises(BatchError, match="was run with code model-000000000000"):
        batch(tiny_files(scenarios), out, reps=1, resume=True)
    assert batch(tiny_files(scenarios), out, reps=1, resume=True, force=True).done == 2


def test_a_folder_holding_another_batch_is_refused(scenarios, tmp_path):
    out = tmp_path / "b"
    batch([scenarios / "tiny.toml"], out, reps=1)
    result = run_cli("batch", str(scenarios / "tiny_busy.toml"), "--reps", "1",
                     "--out", str(out), "--workers", "0")
    assert "already holds a batch" in one_error_line(result)
    assert tomllib.loads((out / "batch.toml").read_text())["scenarios"].keys() == {"tiny"}


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("case", [
    "unknown file", "no reps",
    # Waits out the client's whole connect timeout (analysis.engines.CONNECT_TIMEOUT_S,
    # lowered to 2 s below: the refusal and its message do not depend on how long it retried);
    # "bad address" fails at once in the same handler (analysis.engines.connect), so the
    # fast suite keeps that one.
    pytest.param("no scheduler", marks=pytest.mark.slow),
    "bad address"])
def test_bad_batch_input_gets_one_line_and_status_2(scenarios, tmp_path, monkeypatch, case):
    monkeypatch.setattr(analysis.engines, "CONNECT_TIMEOUT_S", 2)  # pure waiting otherwise
    tiny = str(scenarios / "tiny.toml")
    args = {
        "unknown file": [str(scenarios / "nope.toml"), "--reps", "2"],
        "no reps": [tiny, "--reps", "0"],
        "no scheduler": [tiny, "--reps", "1", "--scheduler", f"tcp://127.0.0.1:{free_port()}"],
        "bad address": [tiny, "--reps", "1", "--scheduler", "nonsense"],
    }[case]
    out = tmp_path / "out"
    line = one_error_line(run_cli("batch", *args, "--out", str(out)))
    expected = {"unknown file": "nope.toml", "no reps": "--reps must be at least 1",
                "no scheduler": "cannot reach the Dask scheduler",
                "bad address": "cannot reach the Dask scheduler"}[case]
    assert expected in line
    assert not out.exists()  # nothing half-started is left behind


def test_runs_show_of_an_unknown_batch_is_one_line(tmp_path):
    line = one_error_line(run_cli("runs", "show", "no-such-batch", "--root", str(tmp_path)))
    assert "no batch 'no-such-batch'" in line


# ------------------------------------------------------------ a real cluster


@pytest.fixture()
def dask_scheduler(tmp_path):
    """A `dask scheduler` and one `dask worker`, separate processes on 127.0.0.1."""
    from distributed import Client

    scheduler_file = tmp_path / "scheduler.json"
    logs = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    quiet = {"stdout": logs, "stderr": subprocess.STDOUT}
    processes = [subprocess.Popen(
        [str(DASK_BIN), "scheduler", "--host", "127.0.0.1", "--port", str(free_port()),
         "--no-dashboard", "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        wait_for(lambda: _address(scheduler_file), "the scheduler file")
        address = _address(scheduler_file)
        processes.append(subprocess.Popen(
            [str(DASK_BIN), "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
             "--nthreads", "1", "--no-dashboard"], **quiet))
        with Client(address, timeout="20s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        logs.close()


def _address(scheduler_file: Path) -> str | None:
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.slow  # starts `dask scheduler` and `dask worker` processes
def test_batch_runs_on_a_separately_started_scheduler(scenarios, tmp_path, dask_scheduler):
    out = tmp_path / "remote"
    result = run_cli("batch", *map(str, tiny_files(scenarios)), "--reps", "3",
                     "--seed-entropy", str(ENTROPY), "--scheduler", dask_scheduler,
                     "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    env = Store(out).env()
    assert env["engine"] == {"kind": "scheduler", "address": dask_scheduler, "workers": 1}
    batch(tiny_files(scenarios), tmp_path / "serial")
    assert_same_tables(out, tmp_path / "serial")

    shown = run_cli("runs", "show", "remote", "--root", str(tmp_path))
    assert "complete: 6 of 6 runs done" in shown.stdout, shown.stdout
    listed = run_cli("runs", "list", "--root", str(tmp_path))
    assert [s.name for s in list_stores(tmp_path)] == ["remote", "serial"]
    assert "remote" in listed.stdout and "complete" in listed.stdout
    assert open_store("remote", tmp_path).path == out
