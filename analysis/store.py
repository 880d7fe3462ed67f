"""The results store of a batch, `runs/<batch>/`: its layout, its status, and reading it.

Every later analysis (comparisons, sensitivity, plots, reports) reads batches through this
module, so the layout is written down in one place:

    runs/<batch>/
      batch.toml                              the plan: command, resolved scenarios, reps, entropy
      env.json                                where and with what code it ran (one entry per session)
      manifest.parquet                        one row per planned run, written before any run starts
      summaries/scenario=<name>/<run_id>.parquet   one row of outcomes per finished run
      series/scenario=<name>/<run_id>.parquet      the daily series of a finished run
      places/scenario=<name>/<run_id>.parquet      per-place totals of a finished run
      failures/<run_id>.json                  error and traceback of a run that raised
      replications.json                       with `--reps auto`: the rule, its rounds, why it stopped

Status is derived from the files, never kept in a file of its own, so nothing can disagree
with the disk. A batch folder is the user's and may have been edited by hand, copied into or
damaged, so only what the plan expects is read: a run is done when its summary and series sit
at their own paths (`<folder>/scenario=<its scenario>/<its run_id>.parquet`) and read back
whole (Parquet footer, row count and keys, from the footer alone); any other file under the
results folders is ignored and reported. A missing manifest is rebuilt from batch.toml (the
plan is deterministic). Tables are read through DuckDB views over the Parquet files, so a
batch of 10,000 runs is queried in place without loading it into memory first.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.plan import NAME_PATTERN, make_run_id, replicate_seeds
from analysis.userfiles import UserFileError, read_text
from model.errors import UserError

BATCH_FILE = "batch.toml"
ENV_FILE = "env.json"
MANIFEST_FILE = "manifest.parquet"
SUMMARIES = "summaries"
SERIES = "series"
PLACES = "places"
FAILURES = "failures"
HISTORY = "history"
LOCK_FILE = ".lock"
DEFAULT_ROOT = Path("runs")
RESULT_FOLDERS = (SUMMARIES, SERIES, PLACES)

#: Columns every manifest has, in this order (later designs may add columns after them).
MANIFEST_COLUMNS = ["run_id", "scenario", "rep", "seed", "days", "scenario_file"]
#: Columns every summary and series file starts with, so each file describes itself.
KEY_COLUMNS = ["run_id", "scenario", "rep"]
STATUSES = ("done", "failed", "missing")
RUN_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
#: How many damaged or ignored files a warning names before "...".
SHOWN = 3


class StoreError(UserError):
    """A store that cannot be read as asked (not a batch, no such batch): one line for the user."""


@dataclass(frozen=True)
class Scan:
    """One look at a batch folder: the plan, each run's status, and what was left out and why."""

    runs: pd.DataFrame            # the manifest with a `status` column: done, failed, missing
    rebuilt: bool                 # manifest.parquet was missing: the plan came from batch.toml
    mismatch: str | None          # how manifest.parquet disagrees with batch.toml, if it does
    files: dict[str, list[str]]   # per results folder: the files of done runs (what is read)
    damaged: dict[str, str]       # run_id -> which of its files is damaged and how
    ignored: list[str]            # files under the results folders that no planned run owns
    stale: set[str]               # runs of an earlier plan, kept after a forced re-plan

    @property
    def done(self) -> set[str]:
        return set(self.runs.loc[self.runs["status"] == "done", "run_id"])

    @property
    def failed(self) -> set[str]:
        return set(self.runs.loc[self.runs["status"] == "failed", "run_id"])

    def progress(self) -> str | None:
        """'incomplete: 15 of 24 runs done (...)', or None when every planned run is done."""
        counts = self.runs["status"].value_counts()
        done, planned = int(counts.get("done", 0)), len(self.runs)
        if done == planned:
            return None
        return (f"incomplete: {done} of {planned} runs done ({int(counts.get('failed', 0))} "
                f"failed, {int(counts.get('missing', 0))} missing); figures use the done runs")

    def warnings(self) -> list[str]:
        """One line per thing a reader of the results should know was rebuilt or left out."""
        lines = []
        if self.rebuilt:
            lines.append(f"{MANIFEST_FILE} is missing; the plan was rebuilt from {BATCH_FILE} "
                         "('corridor batch --resume' writes it back)")
        if self.mismatch:
            lines.append(f"{MANIFEST_FILE} disagrees with {BATCH_FILE}: {self.mismatch}; "
                         f"results follow {MANIFEST_FILE}")
        if self.damaged:
            lines.append(f"skipped {_count(len(self.damaged), 'damaged run')} (rerun by "
                         f"'corridor batch --resume'): {_some(self.damaged.values())}")
        if self.ignored:
            lines.append(f"ignored {_count(len(self.ignored), 'file')} not in the manifest or "
                         f"not where the plan puts them: {_some(self.ignored)}")
        return lines


@dataclass(frozen=True)
class Store:
    """One batch folder. Cheap to create; every method reads the disk afresh."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def is_batch(self) -> bool:
        return (self.path / BATCH_FILE).is_file()

    # ---------------------------------------------------------------- layout

    def result_path(self, folder: str, scenario: str, run_id: str) -> Path:
        """Where a run's file of one results folder (summaries, series, places) belongs."""
        return self.path / folder / f"scenario={scenario}" / f"{run_id}.parquet"

    def summary_path(self, scenario: str, run_id: str) -> Path:
        return self.result_path(SUMMARIES, scenario, run_id)

    def series_path(self, scenario: str, run_id: str) -> Path:
        return self.result_path(SERIES, scenario, run_id)

    def places_path(self, scenario: str, run_id: str) -> Path:
        return self.result_path(PLACES, scenario, run_id)

    def failure_path(self, run_id: str) -> Path:
        return self.path / FAILURES / f"{run_id}.json"

    def temp_files(self) -> list[Path]:
        """Files an interrupted write left behind (see `analysis.files.atomic_write`)."""
        return sorted(self.path.rglob(".*.tmp"))

    # ---------------------------------------------------------------- records

    def batch(self) -> dict:
        """batch.toml, checked: a hand-edited key the tool relies on is one StoreError line."""
        path = self.path / BATCH_FILE
        try:
            record = tomllib.loads(read_text(path))
        except UserFileError as exc:
            raise StoreError(f"{exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise StoreError(f"{path}: not TOML ({exc})") from None
        return check_record(record, path)

    def env(self) -> dict:
        """env.json: the session that created the batch, plus `resumes` ({} if there is none)."""
        path = self.path / ENV_FILE
        if not os.path.lexists(path):
            return {}
        try:
            env = json.loads(read_text(path))
        except UserFileError as exc:
            raise StoreError(f"{exc}") from None
        except json.JSONDecodeError as exc:
            raise StoreError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(env, dict) or not isinstance(env.get("resumes", []), list):
            raise StoreError(f"{path}: not an environment record (a JSON object whose "
                             "'resumes' is a list)")
        return env

    def replications(self) -> dict | None:
        """replications.json: the replication rule's rounds and stopping reason (None for a
        batch whose replications were given, not chosen by the rule)."""
        from analysis.replications import read_replications

        return read_replications(self.path)

    def manifest(self) -> pd.DataFrame:
        """One row per planned run: run_id, scenario, rep, seed, days, scenario_file (rebuilt
        from batch.toml if manifest.parquet is missing)."""
        return self._manifest()[0]

    def _manifest(self) -> tuple[pd.DataFrame, bool]:
        """The manifest and whether it was rebuilt because manifest.parquet is missing."""
        path = self.path / MANIFEST_FILE
        if not os.path.lexists(path):
            return self.planned_manifest(), True
        return read_manifest(path), False

    def planned_manifest(self) -> pd.DataFrame:
        """The manifest batch.toml implies: its scenarios x replicates with seeds spawned from
        its entropy and run ids from its resolved scenarios, in `analysis.plan.make_plan`'s
        order. A sweep's design cannot be rebuilt here: StoreError."""
        record = self.batch()
        if record.get("kind") == "sweep":
            raise StoreError(f"{self.path / MANIFEST_FILE}: missing, and a sweep's manifest is "
                             f"rebuilt only by 'corridor sweep SWEEPFILE --resume --out "
                             f"{self.path}'")
        return _planned_rows(canonical_record_key(record))

    def plan_mismatch(self, manifest: pd.DataFrame) -> str | None:
        """How `manifest` disagrees with the plan batch.toml records, in a few words."""
        record = self.batch()
        if record.get("kind") == "sweep":  # the design is the sweep's: only the count is known
            points = record.get("design_points")
            expected = points * record["reps"] if _is_count(points) else len(manifest)
            return f"{len(manifest)} runs listed, {expected} planned" if len(manifest) != expected else None
        return manifest_difference(manifest, self.planned_manifest())

    # ---------------------------------------------------------------- status

    def scan(self, manifest: pd.DataFrame | None = None) -> Scan:
        """Look at the folder once: which planned runs are done (files whole, where they belong),
        failed or missing; what is damaged and what is ignored. `manifest` (a plan's, on
        resume) replaces the stored one."""
        rebuilt, mismatch = False, None
        if manifest is None:
            manifest, rebuilt = self._manifest()
            mismatch = None if rebuilt else self.plan_mismatch(manifest)
        listing = {folder: _parquet_files(self.path / folder) for folder in RESULT_FOLDERS}
        files = {folder: [] for folder in RESULT_FOLDERS}
        done, damaged, owned = set(), {}, set()
        for run in manifest[["run_id", "scenario"]].itertuples(index=False):
            paths = {f: self.result_path(f, run.scenario, run.run_id) for f in RESULT_FOLDERS}
            owned.update(paths.values())
            present = {f: p for f, p in paths.items() if p in listing[f]}
            if SUMMARIES not in present or SERIES not in present:
                continue  # not finished (places are optional: older batches have none)
            problem = self._damage(present, run.run_id, run.scenario)
            if problem:
                damaged[run.run_id] = problem
                continue
            done.add(run.run_id)
            for folder, path in present.items():
                files[folder].append(str(path))
        leftovers = set().union(*listing.values()) - owned
        stale = self._stale(leftovers, set(manifest["run_id"]))
        ignored = sorted(str(p.relative_to(self.path)) for p in leftovers
                         if _file_run_id(p) not in stale)
        failed = self._failure_ids() - done
        runs = manifest.copy()
        runs["status"] = ["done" if rid in done else "failed" if rid in failed else "missing"
                          for rid in runs["run_id"]]
        return Scan(runs, rebuilt, mismatch, files, damaged, ignored, stale)

    def _damage(self, present: dict[str, Path], run_id: str, scenario: str) -> str | None:
        """What is wrong with a run's files, as '<file>: <problem>'; None if all read whole."""
        for folder, path in present.items():
            rows = 1 if folder == SUMMARIES else None
            problem = parquet_problem(path, run_id, scenario, rows)
            if problem:
                return f"{path.relative_to(self.path)}: {problem}"
        return None

    def _stale(self, leftovers: set[Path], planned: set[str]) -> set[str]:
        """Runs not in the plan whose summary and series both sit in a scenario partition:
        finished runs of an earlier plan, kept on disk after a forced re-plan."""
        def ids(folder: str) -> set[str]:
            return {_file_run_id(p) for p in leftovers
                    if p.parent.parent == self.path / folder
                    and p.parent.name.startswith("scenario=")}
        return (ids(SUMMARIES) & ids(SERIES)) - planned - {None}

    def _failure_ids(self) -> set[str]:
        folder = self.path / FAILURES
        return {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()

    def done_ids(self, manifest: pd.DataFrame | None = None) -> set[str]:
        """Runs whose summary and series exist where they belong and read back whole (none
        while the folder holds no batch yet)."""
        if manifest is None and not self.is_batch():
            return set()
        return self.scan(manifest).done

    def failed_ids(self) -> set[str]:
        """Runs with a failure record and no results (a later success supersedes a failure)."""
        return self.scan().failed

    def status(self) -> pd.DataFrame:
        """The manifest with a `status` column: done, failed or missing."""
        return self.scan().runs

    def counts(self, scan: Scan | None = None) -> pd.DataFrame:
        """Per scenario (in plan order): planned, done, failed, missing."""
        status = (scan or self.scan()).runs
        order = list(dict.fromkeys(status["scenario"]))
        table = pd.crosstab(status["scenario"], status["status"]).reindex(
            index=order, columns=list(STATUSES), fill_value=0)
        table.insert(0, "planned", table.sum(axis=1))
        table.columns.name = None
        return table

    def stale_ids(self) -> set[str]:
        """Finished runs that the current plan no longer contains (kept after a forced re-plan)."""
        return self.scan().stale

    def is_complete(self) -> bool:
        return bool((self.status()["status"] == "done").all())

    def notes(self) -> list[str]:
        """What a reader of this batch's figures should be told first: whether it is
        incomplete, and what was rebuilt, skipped or ignored."""
        scan = self.scan()
        progress = scan.progress()
        return ([progress] if progress else []) + scan.warnings()

    # ---------------------------------------------------------------- reading

    def connect(self, scan: Scan | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with views over this batch.

        Views: `manifest` (planned runs), `runs` (manifest + status), `summaries` (one row per
        done run), `series` (one row per done run and day), `failures` (one row per failed run).
        `summaries`, `series` and `places` read only the files of runs that are done.
        """
        scan = scan or self.scan()
        con = duckdb.connect()
        con.register("runs", scan.runs)
        con.register("manifest", scan.runs.drop(columns="status"))
        for view, folder in (("summaries", SUMMARIES), ("series", SERIES), ("places", PLACES)):
            con.execute(f"CREATE VIEW {view} AS {_results_query(scan.files[folder])}")
        con.register("failures", self.failures(scan))
        return con

    def query(self, sql: str) -> pd.DataFrame:
        """Run one SQL query against the views of `connect()` and return a DataFrame."""
        scan = self.scan()
        with self.connect(scan) as con:
            try:
                return con.execute(sql).df()
            except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException):
                raise  # the query's own mistake, not the data's
            except duckdb.Error as exc:  # a file whose footer is whole but whose data is not
                bad = _first_unreadable(f for files in scan.files.values() for f in files)
                raise StoreError(f"{bad or self.path}: a stored result cannot be read "
                                 f"({_first_line(exc)}); move the damaged file away and "
                                 "resume the batch") from None

    def summaries(self) -> pd.DataFrame:
        """One row per done run: run_id, scenario, rep, seed, then the run's outcomes."""
        return self.query("SELECT * FROM summaries ORDER BY scenario, rep")

    def series(self) -> pd.DataFrame:
        """One row per done run and day: run_id, scenario, rep, day, then the daily counts."""
        return self.query("SELECT * FROM series ORDER BY scenario, rep, day")

    def places(self) -> pd.DataFrame:
        """One row per done run and place: run_id, scenario, rep, place, name, passed,
        recruited, identified (empty for batches run before places were stored)."""
        return self.query("SELECT * FROM places ORDER BY scenario, rep")

    def failures(self, scan: Scan | None = None) -> pd.DataFrame:
        """One row per failed run: run_id, scenario, rep, seed, error, traceback, ..."""
        runs = (scan or self.scan()).runs
        failed = runs[runs["status"] == "failed"].sort_values("run_id")
        rows = [self._failure_record(run) for run in failed.itertuples(index=False)]
        columns = ["run_id", "scenario", "rep", "seed", "error", "traceback"]
        return pd.DataFrame(rows, columns=list(dict.fromkeys(columns + _keys(rows))))

    def _failure_record(self, run) -> dict:
        """A failure record, or a stand-in saying why it cannot be read (never a traceback)."""
        keys = {"run_id": run.run_id, "scenario": run.scenario, "rep": run.rep, "seed": run.seed}
        try:
            record = json.loads(read_text(self.failure_path(run.run_id)))
        except (UserFileError, json.JSONDecodeError) as exc:
            record = {"error": f"failure record cannot be read ({_printable(str(exc))})"}
        if not isinstance(record, dict):
            record = {"error": "failure record is not a JSON object"}
        return {**record, **keys}


# -------------------------------------------------------------------- checks


def check_record(record: dict, path: Path) -> dict:
    """batch.toml's keys that the tool computes with, checked; seed_entropy as text.

    The message names the file and the key and says what is allowed, because a batch.toml
    may have been edited by hand.
    """
    def refuse(key: str, allowed: str) -> None:
        shown = "missing" if key not in record else f"got {_short(record[key])}"
        raise StoreError(f"{path}: {key}: {shown}; expected {allowed}")

    if not _is_count(record.get("reps")):
        refuse("reps", "the number of replicates, a whole number of at least 1")
    entropy = record.get("seed_entropy")
    if isinstance(entropy, int) and not isinstance(entropy, bool) and entropy >= 0:
        record["seed_entropy"] = str(entropy)
    elif not (isinstance(entropy, str) and entropy.isdigit()):
        refuse("seed_entropy", "the entropy the seeds were spawned from, a whole number")
    if "days" in record and not _is_count(record["days"], 0):
        refuse("days", "a whole number (0 for a sweep of a target function)")
    if record.get("kind", "batch") not in ("batch", "sweep"):
        refuse("kind", "'sweep', or no kind for a scenario batch")
    scenarios = record.get("scenarios")
    if not isinstance(scenarios, dict) or not scenarios:
        refuse("scenarios", "a table with one table per scenario")
    for name, entry in scenarios.items():
        _check_scenario_entry(name, entry, path)
    return record


def _check_scenario_entry(name: str, entry, path: Path) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise StoreError(f"{path}: scenarios.{_short(name)}: a scenario name is letters, "
                         "digits, '_', '-' and '.'")
    key = f"scenarios.{name}"
    if not isinstance(entry, dict):
        raise StoreError(f"{path}: {key}: expected a table with file, days and resolved")
    for field, ok, allowed in (("file", isinstance(entry.get("file"), str), "a file name"),
                               ("days", _is_count(entry.get("days"), 0), "a whole number"),
                               ("resolved", isinstance(entry.get("resolved"), dict),
                                "the resolved scenario, a table")):
        if not ok:
            shown = "missing" if field not in entry else f"got {_short(entry[field])}"
            raise StoreError(f"{path}: {key}.{field}: {shown}; expected {allowed}")


def read_manifest(path: Path) -> pd.DataFrame:
    """manifest.parquet, checked: the columns, unique run ids, scenario names that can name a
    folder (they become paths the batch writes to). StoreError (one line) otherwise."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise StoreError(f"{path}: not a regular file")
    try:
        manifest = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise StoreError(f"{path}: cannot be read as Parquet ({_first_line(exc)}); delete it to "
                         "have it rebuilt from batch.toml") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise StoreError(f"{path}: no column '{missing[0]}' (a manifest has "
                         f"{', '.join(MANIFEST_COLUMNS)})")
    ids, names = manifest["run_id"].astype(str), manifest["scenario"].astype(str)
    bad_id = next((i for i in ids if not RUN_ID_PATTERN.fullmatch(i)), None)
    if bad_id is not None or not ids.is_unique:
        what = f"run id {_short(bad_id)}" if bad_id is not None else "a run id listed twice"
        raise StoreError(f"{path}: {what}; run ids are unique, 16 hex digits")
    bad_name = next((n for n in names if not NAME_PATTERN.fullmatch(n)), None)
    if bad_name is not None:
        raise StoreError(f"{path}: scenario {_short(bad_name)}; scenario names are letters, "
                         "digits, '_', '-' and '.'")
    for column in ("rep", "seed", "days"):
        if not pd.api.types.is_integer_dtype(manifest[column]):
            raise StoreError(f"{path}: column '{column}' holds {manifest[column].dtype}, "
                             "not whole numbers")
    return manifest


def manifest_difference(found: pd.DataFrame, planned: pd.DataFrame) -> str | None:
    """The first way a stored manifest differs from a plan's, in words; None if it does not
    (run ids, scenarios, replicates, seeds and days; not the spelling of file paths)."""
    found_names = list(dict.fromkeys(found["scenario"]))
    planned_names = list(dict.fromkeys(planned["scenario"]))
    if found_names != planned_names:
        return f"scenarios {found_names} listed, {planned_names} planned"
    if len(found) != len(planned):
        return f"{len(found)} runs listed, {len(planned)} planned"
    keys = ["run_id", "scenario", "rep", "seed", "days"]
    pairs = zip(found[keys].itertuples(index=False, name=None),
                planned[keys].itertuples(index=False, name=None), strict=True)
    for row, (have, want) in enumerate(pairs, start=1):
        if tuple(map(str, have)) != tuple(map(str, want)):
            return (f"row {row} ({want[1]} rep {want[2]}) lists run {_short(have[0])}, "
                    f"the plan has {want[0]}")
    return None


def parquet_problem(path: Path, run_id: str, scenario: str, rows: int | None) -> str | None:
    """Whether a run's Parquet file reads back whole, from its footer alone: a regular file,
    a footer, `rows` rows (at least one), the key columns, and this run's keys in the column
    statistics. None if it is whole, else the problem in a few words."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    return _footer_problem(str(path), info.st_ino, info.st_size, info.st_mtime_ns, run_id,
                           scenario, rows)


@lru_cache(maxsize=100_000)
def _footer_problem(path: str, _ino: int, _size: int, _mtime_ns: int, run_id: str,
                    scenario: str, rows: int | None) -> str | None:
    """parquet_problem's reading part, cached by the file's identity (inode, size, mtime), so
    looking at a batch of thousands of runs again reads no footer twice."""
    try:
        meta = pq.read_metadata(path)
    except (OSError, pa.ArrowException):
        return "not a readable Parquet file (truncated, empty or not Parquet)"
    if meta.num_rows == 0 or (rows is not None and meta.num_rows != rows):
        return f"{meta.num_rows} rows, {rows or 'at least 1'} expected"
    names = meta.schema.names
    for key, value in (("run_id", run_id), ("scenario", scenario)):
        if key not in names:
            return f"no column '{key}'"
        seen = _column_range(meta, names.index(key))
        if seen is not None and seen != (value, value):
            return f"holds {key} {_short(seen[0])}, not {value}"
    return None


def _column_range(meta: pq.FileMetaData, column: int) -> tuple | None:
    """(min, max) of a column over the row groups from the footer's statistics, or None if
    some row group has none."""
    lows, highs = [], []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        lows.append(stats.min)
        highs.append(stats.max)
    return (min(lows), max(highs)) if lows else None


# -------------------------------------------------------------------- helpers


def _first_unreadable(files) -> str | None:
    """The first file pyarrow cannot read whole (only looked for after a read failed)."""
    for file in files:
        try:
            pq.read_table(file)
        except (OSError, pa.ArrowException):
            return _printable(file)
    return None


def canonical_record_key(record: dict) -> str:
    """batch.toml's planning keys as one string, to cache the manifest they imply."""
    keep = {"reps": record["reps"], "seed_entropy": record["seed_entropy"],
            "scenarios": {name: {"file": e["file"], "days": e["days"], "resolved": e["resolved"]}
                          for name, e in record["scenarios"].items()}}
    return json.dumps(keep, separators=(",", ":"), default=str)  # str: TOML dates, by hand


@lru_cache(maxsize=32)
def _planned_rows(key: str) -> pd.DataFrame:
    """The manifest a checked batch.toml implies (see Store.planned_manifest); one hash per
    scenario and replicate, so it is cached by the record's planning keys."""
    record = json.loads(key)
    seeds = replicate_seeds(int(record["seed_entropy"]), record["reps"])
    rows = [{"run_id": make_run_id(entry["resolved"], seed, entry["days"]), "scenario": name,
             "rep": rep, "seed": seed, "days": entry["days"], "scenario_file": entry["file"]}
            for name, entry in record["scenarios"].items() for rep, seed in enumerate(seeds)]
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def _parquet_files(folder: Path) -> set[Path]:
    """Every `*.parquet` entry under `folder` except hidden (temporary) ones, links included
    (they are judged, not followed); an empty set if the folder does not exist."""
    found = set()
    for parent, _, names in os.walk(folder):
        found.update(Path(parent) / n for n in names
                     if n.endswith(".parquet") and not n.startswith("."))
    return found


def _file_run_id(path: Path) -> str | None:
    stem = path.name.removesuffix(".parquet")
    return stem if RUN_ID_PATTERN.fullmatch(stem) else None


def _results_query(files: list[str]) -> str:
    if not files:
        return "SELECT run_id, scenario, rep FROM runs WHERE false"
    listed = ", ".join(_sql_path(Path(f)) for f in files)
    return (f"SELECT * FROM read_parquet([{listed}], union_by_name = true, "
            "hive_partitioning = false) "
            "WHERE run_id IN (SELECT run_id FROM runs WHERE status = 'done')")


def _is_count(value, least: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _keys(rows: list[dict]) -> list[str]:
    return [key for row in rows for key in row]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _some(items) -> str:
    items = [_printable(str(i)) for i in items]
    return ", ".join(items[:SHOWN]) + (f", ... ({len(items) - SHOWN} more)"
                                       if len(items) > SHOWN else "")


def _printable(text: str) -> str:
    """Text safe to print on one line: control characters (e.g. in a file name) become '?'."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _short(value) -> str:
    text = _printable(repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return _printable(lines[0]) if lines else type(exc).__name__


def _sql_path(path: Path) -> str:
    """A path as a SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def open_store(batch: str | Path, root: Path = DEFAULT_ROOT) -> Store:
    """The batch at the path `batch`, or named `batch` under `root`; StoreError if neither."""
    for path in (Path(batch), root / str(batch)):
        if Store(path).is_batch():
            return Store(path)
    raise StoreError(f"no batch '{batch}' in {root}/ or at {batch}/ ('corridor runs list' "
                     "shows the batches)")


def list_stores(root: Path = DEFAULT_ROOT) -> list[Store]:
    """Every batch folder directly under `root`, oldest first (an unreadable batch.toml sorts
    first; listing it says what is wrong)."""
    if not root.is_dir():
        return []
    stores = [Store(p) for p in root.iterdir() if p.is_dir() and Store(p).is_batch()]
    return sorted(stores, key=lambda s: (_created(s), s.name))


def _created(store: Store) -> str:
    try:
        return str(store.batch().get("created", ""))
    except StoreError:
        return ""
