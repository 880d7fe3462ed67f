"""A batch's plan: scenarios x replicates, each run with its seed and run id.

Seeds: replicate k has the same seed in every scenario (common random numbers, so scenario
differences are paired), spawned from the batch's recorded entropy with
`numpy.random.SeedSequence(entropy).spawn(reps)`. More replicates later keep the first ones'
seeds, because a spawned child depends only on its index.

A run id is a hash of everything that determines a run's output (resolved scenario, seed,
days, store schema), so equal ids mean interchangeable results, and a changed scenario file
shows up as new ids.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from model.errors import UserError
from model.scenario import (
    MAX_DAYS,
    NAME_PATTERN,  # noqa: F401 - sweep names follow the schema's rule
    Scenario,
    load_scenario,
)

#: Part of every run_id: change it when the meaning of a stored run changes.
STORE_SCHEMA = "corridor-batch/1"
#: Replicates per scenario at most: the plan (one row per run) is built in memory up front.
MAX_REPS = 10_000


class BatchError(UserError):
    """A batch that cannot start as asked (bad option, busy or different store): one line."""


@dataclass(frozen=True)
class Job:
    """One planned run; everything a worker needs besides the scenario itself."""

    run_id: str
    scenario: str
    rep: int
    seed: int
    days: int
    scenario_file: str

    @property
    def params_key(self):
        """Which entry of the plan's parameter mapping this run uses: its scenario's name
        (a sweep's jobs override this with their design index)."""
        return self.scenario


@dataclass(frozen=True)
class Plan:
    """Scenarios x replicates, with seeds and run ids: what a batch is, before it runs."""

    scenarios: dict[str, Scenario]
    files: dict[str, str]
    reps: int
    days: int | None
    entropy: int
    jobs: list[Job] = field(repr=False)
    #: With --variants: scenario name -> (base scenario, variant, assumption), and the file.
    members: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    variants_file: str | None = None

    def resolved(self, name: str) -> dict:
        return resolved_dict(self.scenarios[name])

    def manifest(self) -> pd.DataFrame:
        return pd.DataFrame([vars(job) for job in self.jobs])

    def with_reps(self, reps: int) -> Plan:
        """The same scenarios with `reps` replicates: the first ones keep their seeds and run
        ids (a spawned seed depends on the entropy and its index only), so a batch grown
        round by round plans exactly the runs of one made with `--reps reps` at once."""
        check_reps(reps)
        jobs = plan_jobs(self.scenarios, self.files, self.entropy, reps, self.days)
        return dataclasses.replace(self, reps=reps, jobs=jobs)

    def differences(self, recorded: dict) -> list[str]:
        """What differs from a recorded batch.toml (a sweep plan answers this its own way)."""
        return plan_differences(self, recorded)

    def record(self, name: str, command: str) -> dict:
        """The content of batch.toml."""
        record = {
            "schema": STORE_SCHEMA, "name": name, "created": now_iso(), "command": command,
            "code_version": code_version(), "reps": self.reps,
            "seed_entropy": str(self.entropy),  # TOML integers stop at 64 bits
        }
        if self.days is not None:
            record["days"] = self.days
        if self.variants_file is not None:
            record["variants_file"] = self.variants_file
        record["scenarios"] = {
            name: {"file": self.files[name], "days": self.days or scenario.days,
                   **self._membership(name), "resolved": self.resolved(name)}
            for name, scenario in self.scenarios.items()
        }
        return record

    def _membership(self, name: str) -> dict:
        if name not in self.members:
            return {}
        base, variant, assumption = self.members[name]
        return {"base": base, "variant": variant, "assumption": assumption}


def resolved_dict(scenario: Scenario) -> dict:
    """The scenario after `extends`, as plain data (None left out: TOML cannot hold it)."""
    return scenario.model_dump(mode="json", exclude_none=True)


def canonical_json(data) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_run_id(resolved: dict, seed: int, days: int) -> str:
    """sha256 of what determines a run's output, so equal ids mean interchangeable results."""
    text = canonical_json({"schema": STORE_SCHEMA, "scenario": resolved, "seed": seed,
                           "days": days})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def replicate_seeds(entropy: int, reps: int) -> list[int]:
    """One 63-bit seed per replicate (fits Parquet's int64), the same for every scenario."""
    children = np.random.SeedSequence(entropy).spawn(reps)
    return [int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
            for child in children]


def new_entropy() -> int:
    return int(np.random.SeedSequence().entropy)


def make_plan(files: list[Path], reps: int, days: int | None = None,
              entropy: int | None = None, variants: Path | None = None) -> Plan:
    """Load the scenarios and lay out every run; ScenarioError/BatchError on bad input.

    With a variants file (`analysis.ensemble`), every scenario runs under every variant."""
    check_reps(reps)
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise BatchError(f"--days must be from 1 to {MAX_DAYS}, got {days}")
    entropy = new_entropy() if entropy is None else entropy
    scenarios, paths = _load_all(files)
    members: dict[str, tuple[str, str, str]] = {}
    if variants is not None:
        from analysis.ensemble import expand, load_variants

        expanded = expand(scenarios, load_variants(variants), variants)
        scenarios = {m.name: m.scenario for m in expanded}
        paths = {m.name: paths[m.base] for m in expanded}
        members = {m.name: (m.base, m.variant.name, m.variant.assumption) for m in expanded}
    jobs = plan_jobs(scenarios, paths, entropy, reps, days)
    return Plan(scenarios, paths, reps, days, entropy, jobs, members,
                None if variants is None else str(variants))


def check_reps(reps: int) -> None:
    if reps < 1:
        raise BatchError(f"--reps must be at least 1, got {reps}")
    if reps > MAX_REPS:
        raise BatchError(f"--reps must be at most {MAX_REPS:,}, got {reps:,}")


def plan_jobs(scenarios: dict[str, Scenario], paths: dict[str, str], entropy: int, reps: int,
              days: int | None) -> list[Job]:
    """Every scenario x replicate, scenario by scenario (the manifest's order)."""
    seeds = replicate_seeds(entropy, reps)
    return [_job(name, scenario, paths[name], rep, seed, days)
            for name, scenario in scenarios.items() for rep, seed in enumerate(seeds)]


def _load_all(files: list[Path]) -> tuple[dict[str, Scenario], dict[str, str]]:
    if not files:
        raise BatchError("no scenario files given, e.g. corridor batch scenarios/*.toml --reps 10")
    scenarios, paths = {}, {}
    for file in files:
        scenario = load_scenario(file)  # the schema has checked that the name can name a folder
        name = scenario.name
        if name in scenarios:
            raise BatchError(f"two scenarios are named '{name}' ({paths[name]}, {file}); "
                             "names must differ within a batch")
        scenarios[name], paths[name] = scenario, str(file)
    return scenarios, paths


def _job(name: str, scenario: Scenario, file: str, rep: int, seed: int,
         days: int | None) -> Job:
    days = days or scenario.days
    run_id = make_run_id(resolved_dict(scenario), seed, days)
    return Job(run_id, name, rep, seed, days, file)


def plan_differences(plan: Plan, recorded: dict) -> list[str]:
    """What differs between a plan and a recorded batch.toml, in words; empty if nothing."""
    found = []
    names, old_names = list(plan.scenarios), list(recorded.get("scenarios", {}))
    if names != old_names:
        found.append(f"scenarios {old_names} were planned, not {names}")
    for name in set(names) & set(old_names):
        where = first_difference(recorded["scenarios"][name].get("resolved"), plan.resolved(name))
        if where:
            found.append(f"scenario '{name}' differs at {where}")
    for key, new in (("reps", plan.reps), ("days", plan.days),
                     ("seed_entropy", str(plan.entropy))):
        if recorded.get(key) != new:
            found.append(f"{key} was {recorded.get(key)}, not {new}")
    if recorded.get("schema") != STORE_SCHEMA:
        found.append(f"store schema was {recorded.get('schema')}, not {STORE_SCHEMA}")
    return found


def first_difference(old, new, path: str = "") -> str | None:
    """The first key path where two nested values differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            where = first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else key)
            if where:
                return where
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            where = first_difference(a, b, f"{path}[{i}]")
            if where:
                return where
        return None
    return None if old == new else f"{path or '(top)'} ({_short(old)} -> {_short(new)})"


def _short(value) -> str:
    text = "missing" if value is None else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------ provenance


@cache
@functools.cache
def code_version() -> str:
    """A hash of the model's source and Mesa's version: what a run's results depend on.

    Computed once per process, when first asked, so it names the code this process runs
    even if files on disk are edited later (a worker started after an edit then disagrees
    with the client, and its runs are refused rather than stored under the wrong version).
    """
    import model

    root = Path(model.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"model-{digest.hexdigest()[:12]}+mesa-{package_version('mesa')}"


def package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


