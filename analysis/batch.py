"""Scenario batches: many seeded runs of several scenarios, on Dask, into a resumable store.

The plan (which runs, with which seeds; `analysis.plan`) is fixed and written down before any
run starts; engines (`analysis.engines`) only turn jobs into outcomes, and this process alone
writes the store (`analysis.store`). So one plan gives the same files whether it runs serially,
on a local Dask cluster or on a remote scheduler, and an interrupted batch is finished by
running what is missing: a run is done when its files exist, each written to a temporary name
and renamed.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from analysis.engines import EngineSpec, Outcome, simulate_run, start_engine
from analysis.files import atomic_write
from analysis.plan import (
    STORE_SCHEMA,
    BatchError,
    Job,
    Plan,
    code_version,
    make_plan,
    now_iso,
    package_version,
)
from analysis.replications import REPLICATIONS_FILE, Rounds, Rule, recorded_rule
from analysis.store import (
    BATCH_FILE,
    ENV_FILE,
    FAILURES,
    HISTORY,
    LOCK_FILE,
    MANIFEST_FILE,
    RESULT_FOLDERS,
    Store,
    StoreError,
    manifest_difference,
    read_manifest,
)
from model.ledger import flat_summary

try:  # POSIX only; elsewhere a batch folder is simply not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

PACKAGES = ["corridor-risk", "mesa", "numpy", "pandas", "pyarrow", "pydantic", "networkx",
            "scipy", "dask", "distributed", "duckdb", "salib"]
PROJECT_ROOT = Path(__file__).resolve().parents[1]
__all__ = [
    "STORE_SCHEMA",
    "BatchError",
    "BatchReport",
    "BatchRequest",
    "EngineSpec",
    "run_batch",
    "run_plan",
]


# ------------------------------------------------------------------ provenance


def git_state() -> dict:
    """Commit and dirty flag of the project checkout (None outside a git checkout)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True,
                                  text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def environment(engine: dict) -> dict:
    """What env.json records for one session: code, interpreter, packages, engine."""
    return {
        "time": now_iso(), "code_version": code_version(), "git": git_state(),
        "python": platform.python_version(), "platform": platform.platform(),
        "packages": {name: package_version(name) for name in PACKAGES}, "engine": engine,
    }


# -------------------------------------------------------------------- store


@contextmanager
def locked(folder: Path):
    """Hold the batch folder for this process; the OS releases it even after a kill."""
    try:
        fh = open(folder / LOCK_FILE, "a+")  # noqa: SIM115 - closed by the with below
    except OSError as exc:  # the first write into the folder: read-only shows here
        raise BatchError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    with fh:
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BatchError(f"{folder} is in use by another 'corridor batch'; wait for it "
                                 "to finish or stop it first") from None
        yield


def looks_empty(folder: Path) -> bool:
    """True for a missing folder, or one holding only what an aborted start leaves behind."""
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    leftovers = {LOCK_FILE, MANIFEST_FILE}
    return all(p.name in leftovers or p.name.endswith(".tmp") for p in folder.iterdir())


def check_out_folder(store: Store, resume: bool) -> None:
    """Refuse an --out this session may not write into, before creating or locking anything,
    so a refusal leaves nothing (not even a .lock) in a folder that is not a batch's."""
    where = store.path
    if os.path.lexists(where) and not where.is_dir():
        raise BatchError(f"{where} is a file; --out must name a folder")
    if not store.is_batch():
        if resume:
            raise BatchError(f"nothing to resume: {where} holds no batch ({BATCH_FILE} missing)")
        if not looks_empty(where):
            raise BatchError(f"{where} is not empty and holds no batch; choose another --out")
    link = next(iter(linked_paths(where)), None)
    if link is not None:
        raise BatchError(f"{link} is a symbolic link; a batch writes only into its own folder, "
                         "so its files and folders must not be links")


def linked_paths(folder: Path) -> list[Path]:
    """Symbolic links among the files and folders a batch writes to (which would carry its
    writes, or the removal of leftovers, outside the folder)."""
    if not folder.is_dir():
        return []
    names = [LOCK_FILE, BATCH_FILE, MANIFEST_FILE, ENV_FILE, REPLICATIONS_FILE, FAILURES,
             HISTORY, *RESULT_FOLDERS]
    links = [folder / n for n in names if (folder / n).is_symlink()]
    for results in RESULT_FOLDERS:
        if (folder / results).is_dir() and not (folder / results).is_symlink():
            links += [p for p in (folder / results).iterdir() if p.is_symlink()]
    return links


def check_store(store: Store, plan: Plan, resume: bool, force: bool) -> str:
    """Decide what to do with the folder: 'create', 'continue' or 'replan'; BatchError if none."""
    where = store.path
    if not store.is_batch():
        check_out_folder(store, resume)  # again, under the lock
        return "create"
    recorded = store.batch()
    differences = plan.differences(recorded)
    if not resume:
        detail = f" ({differences[0]})" if differences else ""
        raise BatchError(f"{where} already holds a batch{detail}; add --resume to continue it, "
                         "or choose another --out")
    if differences and not force:
        raise BatchError(f"{where} holds a different plan: {differences[0]}; add --force to "
                         "re-plan it (finished runs still in the plan are kept)")
    mismatch = None if differences else stored_manifest_mismatch(store, plan)
    if mismatch and not force:
        raise BatchError(f"{where}: {mismatch}; add --force to rewrite it from the plan (the "
                         "old one is kept in history/)")
    old_code = recorded.get("code_version")
    if old_code != code_version() and not force:
        raise BatchError(f"{where} was run with code {old_code}, this is {code_version()}; "
                         "add --force to finish it with this code (env.json records each session)")
    return "replan" if differences or mismatch else "continue"


def stored_manifest_mismatch(store: Store, plan: Plan) -> str | None:
    """How manifest.parquet disagrees with the plan batch.toml records (a missing one does not
    disagree: it is written again from the plan)."""
    path = store.path / MANIFEST_FILE
    if not os.path.lexists(path):
        return None
    try:
        difference = manifest_difference(read_manifest(path), plan.manifest())
    except StoreError as exc:
        return str(exc)
    return f"{MANIFEST_FILE} disagrees with {BATCH_FILE} ({difference})" if difference else None


def write_plan(store: Store, plan: Plan, command: str, created: str | None = None) -> None:
    """manifest.parquet, then batch.toml (whose presence marks the folder as a batch).
    `created`: the batch's creation time, kept when a round of the replication rule grows it."""
    store.path.mkdir(parents=True, exist_ok=True)
    write_manifest(store, plan)
    record = plan.record(store.name, command)
    if created:
        record["created"] = created
    atomic_write(store.path / BATCH_FILE, lambda f: f.write(tomli_w.dumps(record).encode()))


def write_manifest(store: Store, plan: Plan) -> None:
    atomic_write(store.path / MANIFEST_FILE, lambda f: plan.manifest().to_parquet(f, index=False))


def archive_plan(store: Store) -> Path:
    """Copy the current batch.toml and manifest into history/<time>/ before a re-plan, and
    move the replication rule's rounds there (they describe the old plan's runs)."""
    folder = store.path / HISTORY / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder.mkdir(parents=True)
    for name in (BATCH_FILE, MANIFEST_FILE):
        if (store.path / name).is_file():  # a deleted manifest has nothing to keep
            shutil.copy2(store.path / name, folder / name)
    if (store.path / REPLICATIONS_FILE).is_file():
        os.replace(store.path / REPLICATIONS_FILE, folder / REPLICATIONS_FILE)
    return folder


def record_session(store: Store, engine: dict, action: str) -> None:
    """env.json: the creating session at the top level, later ones appended to `resumes`."""
    env = environment(engine)
    if action != "create" and (store.path / ENV_FILE).exists():
        first = store.env()
        first.setdefault("resumes", []).append({**env, "replanned": action == "replan"})
        env = first
    else:
        env["resumes"] = []
    text = json.dumps(env, indent=2) + "\n"
    atomic_write(store.path / ENV_FILE, lambda f: f.write(text.encode()))


def write_outcome(store: Store, job: Job, outcome: Outcome) -> bool:
    """Publish a run's files (series first, summary last: the summary marks it done)."""
    if outcome.error is None and outcome.code_version != code_version():
        outcome = Outcome(job.run_id, error=f"CodeMismatch: worker {outcome.where} runs code "
                          f"{outcome.code_version}, the batch {code_version()}",
                          where=outcome.where)
    if outcome.error is not None:
        write_failure(store, job, outcome)
        return False
    keys = {"run_id": job.run_id, "scenario": job.scenario, "rep": job.rep, "seed": job.seed}
    outcomes = {k: (np.nan if v is None else v)  # undefined outcome: a null in Parquet
                for k, v in flat_summary(outcome.summary).items() if k not in keys}
    summary = pd.DataFrame([{**keys, **outcomes}])
    series = outcome.series.reset_index(drop=True)
    for column in ("rep", "scenario", "run_id"):
        series.insert(0, column, keys[column])
    frames = [(store.series_path(job.scenario, job.run_id), series)]
    if outcome.places is not None:
        places = outcome.places.reset_index(drop=True)
        for column in ("rep", "scenario", "run_id"):
            places.insert(0, column, keys[column])
        frames.append((store.places_path(job.scenario, job.run_id), places))
    frames.append((store.summary_path(job.scenario, job.run_id), summary))
    for path, frame in frames:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f, frame=frame: frame.to_parquet(f, index=False))
    store.failure_path(job.run_id).unlink(missing_ok=True)
    return True


def write_failure(store: Store, job: Job, outcome: Outcome) -> None:
    record = {**vars(job), "error": outcome.error,
              "traceback": outcome.traceback, "where": outcome.where,
              "code_version": outcome.code_version, "time": now_iso()}
    path = store.failure_path(job.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write((json.dumps(record, indent=2) + "\n").encode()))


# -------------------------------------------------------------------- batch


@dataclass
class BatchReport:
    """What a batch session did, for the command line to print."""

    store: Store
    action: str
    planned: int
    done_before: int
    ran: int = 0
    failed: int = 0
    seconds: float = 0.0
    engine: dict = field(default_factory=dict)
    #: With the replication rule: its rounds and why it stopped (replications.json).
    replications: dict | None = None

    @property
    def done(self) -> int:
        return self.done_before + self.ran - self.failed


@dataclass
class BatchRequest:
    """A `corridor batch` command line, as the analysis layer sees it."""

    files: list[Path]
    reps: int | None
    days: int | None = None
    entropy: int | None = None
    out: Path | None = None
    resume: bool = False
    force: bool = False
    engine: EngineSpec = field(default_factory=EngineSpec)
    command: str = "corridor batch"
    variants: Path | None = None
    #: `--reps auto`: the replication rule chooses reps (`reps` is then its first round, or
    #: None for the rule's `min_reps`).
    rule: Rule | None = None


def default_out(root: Path = Path("runs")) -> Path:
    return root / datetime.now().strftime("batch-%Y%m%d-%H%M%S")


def fill_from_store(request: BatchRequest) -> BatchRequest:
    """On --resume, what the command leaves out comes from the batch being resumed,
    the replication rule included (when neither --reps nor --reps auto is given)."""
    if not request.resume:
        return request
    if request.out is None:
        raise BatchError("--resume needs --out runs/NAME, the batch to continue")
    store = Store(request.out)
    if not store.is_batch():
        raise BatchError(f"nothing to resume: {request.out} holds no batch ({BATCH_FILE} missing)")
    recorded = store.batch()
    variants = request.variants or (Path(recorded["variants_file"])
                                    if recorded.get("variants_file") else None)
    files = request.files or list(dict.fromkeys(Path(s["file"])
                                                for s in recorded["scenarios"].values()))
    rule = request.rule
    if rule is None and request.reps is None:
        rule = recorded_rule(store.path)
    return BatchRequest(
        files=files, variants=variants,
        reps=request.reps if request.reps is not None else recorded["reps"],
        days=request.days if request.days is not None else recorded.get("days"),
        entropy=request.entropy if request.entropy is not None else int(recorded["seed_entropy"]),
        out=request.out, resume=True, force=request.force, engine=request.engine,
        command=request.command, rule=rule)


def run_batch(request: BatchRequest, progress: bool = True,
              run_fn: Callable = simulate_run,
              on_start: Callable[[BatchReport], None] | None = None,
              on_round: Callable[[dict], None] | None = None) -> BatchReport:
    """Plan, open the store, run what is missing, and report. With the replication rule
    (`request.rule`) the batch grows round by round until the rule stops it; `on_round` is
    handed replications.json's record after each round. `run_fn` is for tests."""
    started = time.monotonic()  # the rule's time budget counts from here
    request = fill_from_store(request)
    rule = request.rule
    reps = request.reps if request.reps is not None else (rule.min_reps if rule else None)
    if reps is None:
        raise BatchError("--reps is required for a new batch, e.g. --reps 10 or --reps auto")
    plan = make_plan(request.files, reps, request.days, request.entropy, request.variants)
    out = request.out or default_out()
    if rule is None:
        return run_plan(plan, request, out, progress, run_fn, on_start)
    rounds = Rounds(rule, out, on_round, started)
    report = run_plan(plan, request, out, progress, run_fn, on_start, rounds.extend)
    report.replications = rounds.record or None
    return report


def run_plan(plan, request: BatchRequest, out: Path, progress: bool = True,
             run_fn: Callable = simulate_run,
             on_start: Callable[[BatchReport], None] | None = None,
             extend: Callable | None = None) -> BatchReport:
    """Run a ready plan into the store at `out` (a batch's, or a sweep's from analysis.sweep):
    lock, check, create or continue, run what is missing. `request` gives resume, force,
    engine and command. `extend(plan, report)`, called after the plan's runs, may return a
    larger plan to run next on the same engine (the replication rule's rounds)."""
    store = Store(out)
    check_out_folder(store, request.resume)
    created = not store.path.exists()
    had_lock = os.path.lexists(store.path / LOCK_FILE)
    try:
        store.path.mkdir(parents=True, exist_ok=True)
        with locked(store.path):
            action = check_store(store, plan, request.resume, request.force)
            return _run_locked(store, plan, action, request, progress, run_fn, on_start,
                               extend)
    except OSError as exc:  # the disk refused: a full disk, a read-only folder, a name clash
        _take_back(store.path, created, had_lock)
        where = f" ({exc.filename})" if exc.filename else ""
        raise BatchError(f"cannot write in {store.path}: {exc.strerror or exc}{where}") from None
    except BaseException:
        _take_back(store.path, created, had_lock)
        raise


def _take_back(folder: Path, created: bool, had_lock: bool) -> None:
    """Undo what a refused or failed start left in a folder that holds no batch: the .lock
    this session made, and the folder itself if this session created it and it is empty."""
    if Store(folder).is_batch() or not folder.is_dir():
        return
    if not had_lock:
        (folder / LOCK_FILE).unlink(missing_ok=True)
    if created and not any(folder.iterdir()):
        folder.rmdir()


def _run_locked(store, plan, action, request, progress, run_fn, on_start,
                extend=None) -> BatchReport:
    """The batch proper, under the folder's lock. The plan is written once the engine is up,
    so an unreachable scheduler leaves no half-started batch behind. Done means done under
    this plan, with files that read back whole: a damaged run runs again. Each larger plan
    `extend` returns is published (batch.toml and manifest) before its runs start."""
    for leftover in store.temp_files():
        leftover.unlink()  # a write a kill interrupted; the lock says no one else is writing
    todo = _todo(store, plan, action)
    report = BatchReport(store, action, len(plan.jobs), len(plan.jobs) - len(todo))
    if not todo and extend is None:
        _publish_plan(store, plan, action, request.command)
        if on_start:
            on_start(report)
        return report
    with start_engine(request.engine) as runner:
        _publish_plan(store, plan, action, request.command)
        report.engine = runner.description
        record_session(store, runner.description, action)
        if on_start:
            on_start(report)
        while plan is not None:
            _consume(store, plan, todo, runner, run_fn, report, progress)
            plan = extend(plan, report) if extend else None
            if plan is not None:
                _publish_plan(store, plan, "extend", request.command)
                todo = _todo(store, plan, "extend")
                report.planned = len(plan.jobs)
    return report


def _todo(store: Store, plan: Plan, action: str) -> list[Job]:
    done = store.done_ids(plan.manifest()) if action != "create" else set()
    return [job for job in plan.jobs if job.run_id not in done]


def _publish_plan(store: Store, plan: Plan, action: str, command: str) -> None:
    """Write the plan for `action`: create, replan (the old one archived first), extend (a
    round of the replication rule: more replicates, every earlier run still in the plan),
    or continue (the plan on disk is this one)."""
    if action == "replan":
        archive_plan(store)
    if action == "extend":
        write_plan(store, plan, command, created=store.batch().get("created"))
    elif action != "continue":
        write_plan(store, plan, command)
    elif not os.path.lexists(store.path / MANIFEST_FILE):
        write_manifest(store, plan)  # deleted by hand; batch.toml agrees with the plan


def _consume(store, plan, todo, runner, run_fn, report, progress) -> None:
    from tqdm import tqdm

    if not todo:
        return
    by_id = {job.run_id: job for job in todo}
    start, before = time.perf_counter(), report.seconds
    with tqdm(total=len(plan.jobs), initial=report.done, unit="run", desc=store.name,
              disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        bar.set_postfix(failed=0)
        for outcome in runner.outcomes(todo, plan.scenarios, run_fn):
            report.ran += 1
            report.failed += not write_outcome(store, by_id[outcome.run_id], outcome)
            report.seconds = before + time.perf_counter() - start
            bar.set_postfix(failed=report.failed, refresh=False)
            bar.update(1)
