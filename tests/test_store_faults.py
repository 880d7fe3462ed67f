"""A batch folder is the user's: copied into, damaged, edited by hand. Through the command line,
each fault is reported (one line and exit status 2 where the tool must stop) and nothing is
counted twice, lost, or written outside the folder.

One small batch (2 scenarios x 2 replicates of 5 days after a 5-day warm-up, serial) is made
once and copied per test: what is tested is the store's handling of its files, not the runs'
values, so the baseline's 120-day warm-up would only make each run (and each rerun) longer.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

from analysis.store import Store
from corridor.cli import main
from tests.conftest import BASELINE, ROOT, scenarios_folder, small_batch

#: One module fixture serves these tests: `--dist loadgroup` keeps them on one worker.
pytestmark = pytest.mark.xdist_group("test_store_faults")

ENTROPY = "4242"


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    folder = scenarios_folder(root)
    for name, rate in (("calm", 15), ("busy", 25)):
        (folder / f"{name}.toml").write_text(
            f'extends = "{BASELINE.name}"\nwarmup_days = 5\n\n[arrivals]\ndaily_rate = {rate}\n')
    return small_batch([folder / "calm.toml", folder / "busy.toml"], root / "runs" / "b", 2,
                       ENTROPY, "--days", "5")


@pytest.fixture()
def batch(original, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the batch; the test runs in tmp_path, and the project's runs/ folder
    must be the same afterwards (nothing is written outside the temporary folders)."""
    copy = tmp_path / "runs" / "b"
    shutil.copytree(original, copy)
    monkeypatch.chdir(tmp_path)
    project_runs = sorted(os.listdir(ROOT / "runs"))
    yield copy
    assert sorted(os.listdir(ROOT / "runs")) == project_runs


def cli(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured.out, captured.err


def refused(capsys, *args) -> str:
    """The one error line of a command that must stop with exit status 2."""
    status, _, err = cli(capsys, *args)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def files_of(folder: Path, scenario: str, kind: str = "summaries") -> list[Path]:
    return sorted((folder / kind / f"scenario={scenario}").glob("*.parquet"))


# ------------------------------------------------------------------ copies and strays


def test_copied_partitions_and_stray_files_count_nothing_twice(batch, capsys):
    shutil.copytree(batch / "summaries" / "scenario=calm", batch / "summaries" / "old")
    shutil.copytree(batch / "series" / "scenario=calm", batch / "series" / "old")
    calm_run = files_of(batch, "calm")[0]
    shutil.copy(calm_run, batch / "summaries" / "scenario=busy" / calm_run.name)
    (batch / "summaries" / "scenario=calm" / "notes.parquet").write_text("not Parquet\n")

    status, out, _ = cli(capsys, "runs", "show", batch)
    assert status == 0
    assert "ignored 6 files not in the manifest" in out, out
    assert "summaries/old/" in out and "complete: 4 of 4 runs done" in out

    status, out, err = cli(capsys, "compare", batch, "--json", "--outcomes", "arrivals")
    assert status == 0
    assert err.startswith("note: ignored 6 files")  # machine output stays clean on stdout
    assert {r["scenario"]: r["n"] for r in json.loads(out)} == {
        "calm": 2, "busy": 2}
    summaries = Store(batch).summaries()
    assert len(summaries) == 4 and summaries["run_id"].is_unique


# ------------------------------------------------------------------ damaged runs


def test_a_damaged_run_is_skipped_reported_and_rerun_on_resume(batch, original, capsys):
    truncated = files_of(batch, "calm")[0]
    truncated.write_bytes(truncated.read_bytes()[:60])
    files_of(batch, "busy", "series")[1].write_bytes(b"")  # empty

    status, out, _ = cli(capsys, "runs", "show", batch)
    assert status == 0
    assert "skipped 2 damaged runs" in out and "incomplete: 2 of 4 runs done" in out, out
    assert f"summaries/scenario=calm/{truncated.name}: not a readable Parquet file" in out

    status, out, _ = cli(capsys, "compare", batch, "--outcomes", "arrivals")
    assert status == 0
    assert out.startswith("incomplete: 2 of 4 runs done")
    report = batch.parent / "report.html"
    status, out, _ = cli(capsys, "report", batch, "--out", report)
    assert status == 0 and out.startswith("incomplete: 2 of 4 runs done")
    assert '<p class="note">incomplete: 2 of 4 runs done' in report.read_text()

    status, out, _ = cli(capsys, "batch", "--resume", "--out", batch, "--workers", "0", "--quiet")
    assert status == 0 and "4 of 4 runs done" in out
    for table in ("summaries", "series"):
        pd.testing.assert_frame_equal(getattr(Store(batch), table)(),
                                      getattr(Store(original), table)(), check_exact=True)


def test_a_file_whole_outside_but_damaged_inside_stops_with_one_line(batch, capsys):
    """Its footer reads back whole, so only reading its data finds the damage."""
    damaged = files_of(batch, "calm", "series")[0]
    data = bytearray(damaged.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8  # footer, its length, "PAR1"
    data[4:-footer] = b"\xff" * (len(data) - 4 - footer)  # every page, not the footer
    damaged.write_bytes(bytes(data))

    status, out, _ = cli(capsys, "runs", "show", batch)
    assert status == 0 and "complete: 4 of 4 runs done" in out  # the footer check passes
    line = refused(capsys, "patterns", batch, "--scenario", "calm")  # reads the series
    assert f"{damaged}: a stored result cannot be read" in line


# ------------------------------------------------------------------ the manifest


def test_a_deleted_manifest_is_rebuilt_from_batch_toml(batch, original, capsys):
    (batch / "manifest.parquet").unlink()
    status, out, _ = cli(capsys, "runs", "show", batch)
    assert status == 0
    assert "manifest.parquet is missing; the plan was rebuilt" in out
    assert "complete: 4 of 4 runs done" in out
    status, out, _ = cli(capsys, "runs", "list", "--root", batch.parent)
    assert status == 0 and "complete" in out
    assert cli(capsys, "compare", batch, "--outcomes", "arrivals")[0] == 0
    assert cli(capsys, "report", batch, "--out", batch.parent / "r.html")[0] == 0
    assert not (batch / "manifest.parquet").exists()  # reading writes nothing

    status, out, _ = cli(capsys, "batch", "--resume", "--out", batch, "--workers", "0", "--quiet")
    assert status == 0 and "4 of 4 runs done" in out
    pd.testing.assert_frame_equal(pd.read_parquet(batch / "manifest.parquet"),
                                  pd.read_parquet(original / "manifest.parquet"))


@pytest.mark.parametrize("edit", ["reps in batch.toml", "a row dropped", "a scenario renamed"])
def test_a_manifest_that_disagrees_with_batch_toml_is_noticed(batch, capsys, edit):
    manifest = pd.read_parquet(batch / "manifest.parquet")
    if edit == "reps in batch.toml":
        record = Store(batch).batch() | {"reps": 3}
        (batch / "batch.toml").write_text(tomli_w.dumps(record))
        expected = "4 runs listed, 6 planned"
    elif edit == "a row dropped":
        manifest.iloc[:-1].to_parquet(batch / "manifest.parquet", index=False)
        expected = "3 runs listed, 4 planned"
    else:  # a name that would lead writes out of the folder
        manifest.loc[0, "scenario"] = "../../outside"
        manifest.to_parquet(batch / "manifest.parquet", index=False)
        expected = "scenario '../../outside'"

    status, out, err = cli(capsys, "runs", "show", batch)
    if edit == "a scenario renamed":
        assert status == 2 and expected in err
    else:
        assert status == 0
        assert f"manifest.parquet disagrees with batch.toml: {expected}" in out, out
    line = refused(capsys, "batch", "--resume", "--out", batch, "--workers", "0")
    assert expected in line and "--force" in line
    assert not (batch.parent.parent / "outside").exists()


# ------------------------------------------------------------------ batch.toml by hand


@pytest.mark.parametrize("edit,key", [
    ("missing seed_entropy", "seed_entropy: missing"),
    ("text for reps", "reps: got 'three'; expected the number of replicates"),
    ("not TOML", "batch.toml: not TOML"),
])
def test_a_hand_edited_batch_toml_is_one_line(batch, original, capsys, edit, key):
    record = Store(batch).batch()
    if edit == "missing seed_entropy":
        del record["seed_entropy"]
        text = tomli_w.dumps(record)
    elif edit == "text for reps":
        text = tomli_w.dumps(record | {"reps": "three"})
    else:
        text = "this is [[ not TOML\n"
    (batch / "batch.toml").write_text(text)

    for command in (["runs", "show", batch], ["batch", "--resume", "--out", batch, "--workers",
                                              "0"], ["compare", batch], ["report", batch]):
        line = refused(capsys, *command)
        assert f"{batch / 'batch.toml'}" in line and key in line, (command, line)
    status, out, _ = cli(capsys, "runs", "list", "--root", batch.parent)
    assert status == 0 and "unreadable" in out
    assert sorted(p.name for p in batch.iterdir()) == sorted(p.name for p in original.iterdir())


# ------------------------------------------------------------------ a refused --out


def test_a_refused_out_leaves_no_lock_behind(original, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = original.parent.parent / "scenarios" / "calm.toml"
    a_file = tmp_path / "a-file"
    a_file.write_text("mine\n")
    not_a_batch = tmp_path / "notes"
    not_a_batch.mkdir()
    (not_a_batch / "notes.txt").write_text("mine\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["batch", scenario, "--reps", "1", "--days", "2", "--out", a_file], "is a file"),
        (["batch", scenario, "--reps", "1", "--days", "2", "--out", not_a_batch],
         "is not empty and holds no batch"),
        (["batch", "--resume", "--out", empty], "nothing to resume"),
        (["batch", scenario, "--reps", "1", "--days", "2", "--out", a_file / "sub"],
         "cannot write in"),
    ]
    for args, message in cases:
        assert message in refused(capsys, *args, "--workers", "0")
    assert a_file.read_text() == "mine\n"
    assert [p.name for p in not_a_batch.iterdir()] == ["notes.txt"]
    assert list(empty.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty", "notes"]
