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

Status is derived from which files exist, never kept in a file of its own: a run is done when
its summary (written after its series) exists, so nothing can disagree with the disk. Tables are
read through DuckDB views over the Parquet files, so a batch of 10,000 runs is queried in place
without loading it into memory first.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

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

#: Columns every manifest has, in this order (later designs may add columns after them).
MANIFEST_COLUMNS = ["run_id", "scenario", "rep", "seed", "days", "scenario_file"]
#: Columns every summary and series file starts with, so each file describes itself.
KEY_COLUMNS = ["run_id", "scenario", "rep"]
STATUSES = ("done", "failed", "missing")


class StoreError(UserError):
    """A store that cannot be read as asked (not a batch, no such batch): one line for the user."""


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

    def summary_path(self, scenario: str, run_id: str) -> Path:
        return self.path / SUMMARIES / f"scenario={scenario}" / f"{run_id}.parquet"

    def series_path(self, scenario: str, run_id: str) -> Path:
        return self.path / SERIES / f"scenario={scenario}" / f"{run_id}.parquet"

    def places_path(self, scenario: str, run_id: str) -> Path:
        return self.path / PLACES / f"scenario={scenario}" / f"{run_id}.parquet"

    def failure_path(self, run_id: str) -> Path:
        return self.path / FAILURES / f"{run_id}.json"

    def temp_files(self) -> list[Path]:
        """Files an interrupted write left behind (see `analysis.files.atomic_write`)."""
        return sorted(self.path.rglob(".*.tmp"))

    # ---------------------------------------------------------------- records

    def batch(self) -> dict:
        """batch.toml: the plan as it was recorded."""
        try:
            with open(self.path / BATCH_FILE, "rb") as fh:
                return tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise StoreError(f"{self.path / BATCH_FILE}: cannot be read ({exc})") from None

    def env(self) -> dict:
        """env.json: the environment of the session that created the batch, plus `resumes`."""
        return json.loads((self.path / ENV_FILE).read_text())

    def manifest(self) -> pd.DataFrame:
        """One row per planned run: run_id, scenario, rep, seed, days, scenario_file."""
        return pd.read_parquet(self.path / MANIFEST_FILE)

    # ---------------------------------------------------------------- status

    def _ids_in(self, folder: str, suffix: str) -> set[str]:
        root = self.path / folder
        if not root.is_dir():
            return set()
        return {p.name[: -len(suffix)] for p in root.glob(f"*/*{suffix}")
                if not p.name.startswith(".")}

    def done_ids(self) -> set[str]:
        """Runs whose summary and series both exist."""
        return self._ids_in(SUMMARIES, ".parquet") & self._ids_in(SERIES, ".parquet")

    def failed_ids(self) -> set[str]:
        """Runs with a failure record and no results (a later success supersedes a failure)."""
        folder = self.path / FAILURES
        failed = {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()
        return failed - self.done_ids()

    def status(self) -> pd.DataFrame:
        """The manifest with a `status` column: done, failed or missing."""
        manifest = self.manifest()
        done, failed = self.done_ids(), self.failed_ids()
        manifest["status"] = [
            "done" if rid in done else "failed" if rid in failed else "missing"
            for rid in manifest["run_id"]
        ]
        return manifest

    def counts(self) -> pd.DataFrame:
        """Per scenario (in plan order): planned, done, failed, missing."""
        status = self.status()
        order = list(dict.fromkeys(status["scenario"]))
        table = pd.crosstab(status["scenario"], status["status"]).reindex(
            index=order, columns=list(STATUSES), fill_value=0)
        table.insert(0, "planned", table.sum(axis=1))
        table.columns.name = None
        return table

    def stale_ids(self) -> set[str]:
        """Finished runs that the current plan no longer contains (kept after a forced re-plan)."""
        return self.done_ids() - set(self.manifest()["run_id"])

    def is_complete(self) -> bool:
        return bool((self.status()["status"] == "done").all())

    # ---------------------------------------------------------------- reading

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with views over this batch.

        Views: `manifest` (planned runs), `runs` (manifest + status), `summaries` (one row per
        done run), `series` (one row per done run and day), `failures` (one row per failed run).
        `summaries` and `series` hold only runs that are done and in the plan.
        """
        con = duckdb.connect()
        con.register("runs", self.status())
        con.execute(f"CREATE VIEW manifest AS SELECT * FROM read_parquet({_sql_path(self.path / MANIFEST_FILE)})")
        for view, folder in (("summaries", SUMMARIES), ("series", SERIES), ("places", PLACES)):
            con.execute(f"CREATE VIEW {view} AS {self._results_query(folder)}")
        con.register("failures", self.failures())
        return con

    def _results_query(self, folder: str) -> str:
        if not self._ids_in(folder, ".parquet"):
            return "SELECT run_id, scenario, rep FROM runs WHERE false"
        files = _sql_path(self.path / folder / "*" / "*.parquet")
        return (f"SELECT * FROM read_parquet({files}, union_by_name = true, "
                "hive_partitioning = false) "
                "WHERE run_id IN (SELECT run_id FROM runs WHERE status = 'done')")

    def query(self, sql: str) -> pd.DataFrame:
        """Run one SQL query against the views of `connect()` and return a DataFrame."""
        with self.connect() as con:
            return con.execute(sql).df()

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

    def failures(self) -> pd.DataFrame:
        """One row per failed run: run_id, scenario, rep, seed, error, traceback, ..."""
        failed = sorted(self.failed_ids())
        rows = [json.loads(self.failure_path(rid).read_text()) for rid in failed]
        columns = ["run_id", "scenario", "rep", "seed", "error", "traceback"]
        return pd.DataFrame(rows, columns=list(dict.fromkeys(columns + _keys(rows))))


def _keys(rows: list[dict]) -> list[str]:
    return [key for row in rows for key in row]


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
    """Every batch folder directly under `root`, oldest first."""
    if not root.is_dir():
        return []
    stores = [Store(p) for p in root.iterdir() if p.is_dir() and Store(p).is_batch()]
    return sorted(stores, key=lambda s: (s.batch().get("created", ""), s.name))
