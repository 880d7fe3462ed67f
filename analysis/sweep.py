"""Sensitivity sweeps: the design, laid out as a plan, and its runs into a batch store.

A checked sweep file (`analysis.sweep_file.load_sweep`) becomes SALib's design: Morris
trajectories, or Saltelli's scheme for Sobol' indices, sampled from the seed entropy. This
module

1. lays the design out as an ordinary plan (`SweepPlan`): one job per design point and
   replicate, each with its `design_index`, written to the manifest with the design's values;
   every model point is validated as a scenario before anything runs;
2. runs it on the batch engine into a batch store (`run_sweep`, via `analysis.batch.run_plan`),
   so sweeps resume, run on Dask and record their provenance exactly as batches do.

`analysis.sweep_indices` then analyses the store with SALib.

Replications: each design point runs `replications` times with the replicate seeds of the
batch (the same seeds at every point: common random numbers, so differences between points
are less noisy) and the outcomes are averaged in the analysis.

A target sweep (`target = "package.module:function"`) imports and calls Python code at every
design point, in this process or on Dask workers: a sweep file with a target is a program.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.plan import (
    STORE_SCHEMA,
    Job,
    canonical_json,
    code_version,
    first_difference,
    make_run_id,
    new_entropy,
    now_iso,
    replicate_seeds,
    resolved_dict,
)
from analysis.store import Store
from analysis.sweep_file import (
    SweepError,
    SweepSpec,
    is_number,
    load_sweep,
    normalised_record,
    resolve_target,
    takes_seed,
)
from model.scenario import Scenario, ScenarioError, with_changes

#: SeedSequence spawn keys of the design sample and of the bootstrap in the analysis; far
#: from the replicate seeds' keys (0..R-1), so adding replications never changes the design.
DESIGN_STREAM, ANALYSIS_STREAM = 1_000_001, 1_000_002


# ------------------------------------------------------------------ the design as a plan


@dataclass(frozen=True)
class SweepJob(Job):
    """A run of one design point: its parameters are the plan's entry `design_index`."""

    design_index: int = 0

    @property
    def params_key(self):
        return self.design_index


def stream_seed(entropy: int, stream: int) -> int:
    """A 32-bit seed from the sweep's entropy, independent of the replicate seeds."""
    return int(np.random.SeedSequence(entropy, spawn_key=(stream,)).generate_state(1)[0])


def sample_design(spec: SweepSpec, entropy: int) -> np.ndarray:
    """SALib's design matrix, one row per design point, in the order its analyser expects."""
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    seed = stream_seed(entropy, DESIGN_STREAM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib's notes on skip values; N is checked on load
        if spec.method == "morris":
            return morris_sample.sample(spec.problem(), spec.n, num_levels=spec.levels, seed=seed)
        return sobol_sample.sample(spec.problem(), spec.n, calc_second_order=spec.second_order,
                                   scramble=True, seed=seed)


@dataclass(frozen=True)
class SweepPlan:
    """A sweep laid out like a batch plan, so `analysis.batch.run_plan` can run and store it.

    `scenarios` maps each design index to what its runs take: a validated `Scenario` (base
    scenario with the point's values) or a dict of keyword arguments (target mode).
    """

    spec: SweepSpec
    entropy: int
    design: np.ndarray = field(repr=False)
    scenarios: dict[int, Any] = field(repr=False)
    jobs: list[SweepJob] = field(repr=False)
    base_resolved: dict | None = field(default=None, repr=False)

    @property
    def reps(self) -> int:
        return self.spec.replications

    def manifest(self) -> pd.DataFrame:
        """The jobs with their design index, then the design's values by parameter name."""
        jobs = pd.DataFrame([vars(job) for job in self.jobs])
        design = pd.DataFrame(self.design, columns=self.spec.names)
        design.insert(0, "design_index", np.arange(len(design)))
        return jobs.merge(design, on="design_index", how="left", validate="many_to_one")

    def record(self, name: str, command: str) -> dict:
        """batch.toml: a batch's record plus the sweep (kind = "sweep")."""
        days = self.jobs[0].days
        resolved = self.base_resolved or {"target": self.spec.target}
        return {
            "schema": STORE_SCHEMA, "kind": "sweep", "name": name, "created": now_iso(),
            "command": command, "code_version": code_version(), "reps": self.reps,
            "days": days, "seed_entropy": str(self.entropy),
            "design_points": len(self.design), "design_sha256": self.design_digest(),
            "scenarios": {self.spec.name: {"file": self.spec.base or self.spec.target,
                                           "days": days, "resolved": resolved}},
            "sweep": self.spec.record(),
        }

    def design_digest(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.design).tobytes()).hexdigest()[:16]

    def differences(self, recorded: dict) -> list[str]:
        """What differs from a recorded batch.toml, in words (for --resume)."""
        if recorded.get("kind") != "sweep":
            return ["the folder holds a scenario batch, not a sweep"]
        found = []
        old = {k: v for k, v in normalised_record(recorded.get("sweep", {})).items()
               if k != "file"}
        new = {k: v for k, v in self.spec.record().items() if k != "file"}
        where = first_difference(old, new)
        if where:
            found.append(f"sweep {where}")
        old_base = recorded.get("scenarios", {}).get(self.spec.name, {}).get("resolved")
        where = first_difference(old_base, self.base_resolved or {"target": self.spec.target})
        if where:
            found.append(f"base scenario differs at {where}")
        if recorded.get("seed_entropy") != str(self.entropy):
            found.append(f"seed_entropy was {recorded.get('seed_entropy')}, not {self.entropy}")
        if recorded.get("schema") != STORE_SCHEMA:
            found.append(f"store schema was {recorded.get('schema')}, not {STORE_SCHEMA}")
        return found


def make_sweep_plan(spec: SweepSpec, base: Scenario | None, entropy: int) -> SweepPlan:
    """Sample the design and lay out design points x replications; every model point is
    validated first, so a combination the schema forbids stops the sweep before it runs."""
    design = sample_design(spec, entropy)
    seeds = replicate_seeds(entropy, spec.replications)
    base_resolved = resolved_dict(base) if base is not None else None
    digest = hashlib.sha256(canonical_json(base_resolved or {"target": spec.target})
                            .encode()).hexdigest()
    days = (spec.days or base.days) if base is not None else 0
    source = spec.base or spec.target
    points: dict[int, Any] = {}
    jobs: list[SweepJob] = []
    for i, row in enumerate(design):
        values = {name: float(v) for name, v in zip(spec.names, row, strict=True)}
        points[i] = (_model_point(spec, base, values, i) if base is not None
                     else values)
        for rep, seed in enumerate(seeds):
            run_id = make_run_id({"base": digest, "set": values, "design_index": i}, seed, days)
            jobs.append(SweepJob(run_id, spec.name, rep, seed, days, source, i))
    return SweepPlan(spec, entropy, design, points, jobs, base_resolved)


def _model_point(spec: SweepSpec, base: Scenario, values: dict, index: int) -> Scenario:
    try:
        return with_changes(base, values, f"{spec.file} design point {index}")
    except ScenarioError as exc:
        raise SweepError(f"{exc} (the values {values} break a rule between parameters; narrow "
                         "the ranges)") from None


@dataclass
class TargetResult:
    """What a target run gives the store: the function's outcomes and a one-row series."""

    summary: dict
    series: pd.DataFrame


@dataclass(frozen=True)
class TargetRunner:
    """The `run_fn` of a target sweep: calls the function with the point's values (and the
    replicate seed, if it takes `seed`). Holds only the name, so it pickles to Dask workers.

    This runs the target's code. Its outcomes are stored as numbers: None stays undefined,
    and anything that is not a number becomes NaN, so the analysis counts it with inf and
    NaN as a design point where that outcome is not a finite number."""

    target: str

    def __call__(self, params: dict, seed: int, days: int) -> TargetResult:
        func = resolve_target(self.target)
        kwargs = dict(params)
        if takes_seed(func):
            kwargs["seed"] = seed
        outcomes = func(**kwargs)
        if not isinstance(outcomes, dict):
            raise SweepError(f"target '{self.target}' returned {type(outcomes).__name__}, "
                             "not a dict of outcomes")
        summary = {k: _stored_number(v) for k, v in outcomes.items()}
        return TargetResult(summary, pd.DataFrame({"day": [0]}))


def _stored_number(value) -> float | None:
    """An outcome as the store keeps it: a float (inf and NaN kept, an integer too large for
    a float becomes inf), None, or NaN for a value that is no number at all (a string)."""
    if value is None:
        return None
    if not is_number(value):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


# ------------------------------------------------------------------ running


@dataclass
class SweepRequest:
    """A `corridor sweep` command line, as the analysis layer sees it."""

    file: Path | None
    out: Path | None = None
    resume: bool = False
    force: bool = False
    entropy: int | None = None
    engine: Any = None
    command: str = "corridor sweep"


def run_sweep(request: SweepRequest, progress: bool = True, on_start=None):
    """Check the sweep file, lay out its design and run it into a store; returns the batch
    report. On --resume the entropy (and, if not given, the sweep file) come from the store."""
    from analysis.batch import BatchRequest, EngineSpec, run_plan

    recorded = _resumed_record(request)
    file = request.file or (Path(recorded["sweep"]["file"]) if recorded else None)
    if file is None:
        raise SweepError("a sweep file is required, e.g. corridor sweep "
                         "scenarios/sweeps/morris_baseline.toml")
    spec, base = load_sweep(file)
    entropy = request.entropy
    if entropy is None:
        entropy = (spec.seed_entropy if spec.seed_entropy is not None
                   else int(recorded["seed_entropy"]) if recorded else new_entropy())
    plan = make_sweep_plan(spec, base, entropy)
    out = request.out or Path("runs") / datetime.now().strftime(f"{spec.name}-%Y%m%d-%H%M%S")
    batch_request = BatchRequest(files=[], reps=spec.replications, out=out,
                                 resume=request.resume, force=request.force,
                                 engine=request.engine or EngineSpec(), command=request.command)
    run_fn = TargetRunner(spec.target) if spec.target else _simulate_run()
    return run_plan(plan, batch_request, out, progress, run_fn, on_start)


def _simulate_run():
    from analysis.engines import simulate_run

    return simulate_run


def _resumed_record(request: SweepRequest) -> dict | None:
    if not request.resume:
        return None
    if request.out is None:
        raise SweepError("--resume needs --out runs/NAME, the sweep to continue")
    store = Store(request.out)
    if not store.is_batch():
        raise SweepError(f"nothing to resume: {request.out} holds no sweep")
    recorded = store.batch()
    if recorded.get("kind") != "sweep":
        raise SweepError(f"{request.out} holds a scenario batch, not a sweep")
    return recorded
