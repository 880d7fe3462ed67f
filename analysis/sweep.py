"""Sensitivity sweeps: Morris screening and Sobol' indices over declared uncertain parameters.

A sweep file (`scenarios/sweeps/*.toml`) names a base scenario (or a Python function, the
`target`), the uncertain parameters with their ranges, the method and its size, the
replications per design point and the outputs. This module

1. reads and checks the file completely before anything runs (`load_sweep`): every mistake is
   one `SweepError` line;
2. lays the SALib design out as an ordinary plan (`SweepPlan`): one job per design point and
   replicate, each with its `design_index`, written to the manifest with the design's values;
3. runs it on the batch engine into a batch store (`run_sweep`, via `analysis.batch.run_plan`),
   so sweeps resume, run on Dask and record their provenance exactly as batches do;
4. analyses the store with SALib (`analyse`), ordering results by `design_index` (never by the
   order runs finished in, which SALib's row-order-sensitive estimators could not survive),
   and writes `indices.csv`, `indices_s2.csv`, `convergence.csv`, figures and a summary.

Replications: each design point runs `replications` times with the replicate seeds of the
batch (the same seeds at every point: common random numbers, so differences between points
are less noisy) and the outputs are averaged. The remaining noise still deflates every index,
which is why the summary states R.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import inspect
import math
import tomllib
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.files import atomic_write
from analysis.plan import (
    NAME_PATTERN,
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
from analysis.store import Store, StoreError
from model.errors import UserError
from model.ledger import OUTCOME_NAMES
from model.scenario import Scenario, ScenarioError, flatten, load_scenario, with_changes

METHODS = ("morris", "sobol")
DISTS = ("unif", "logunif", "triang")
SWEEP_KEYS = ("method", "n", "levels", "second_order", "replications", "outputs", "base",
              "target", "days", "seed_entropy", "name")
PARAMETER_KEYS = ("low", "high", "dist", "peak")
#: SeedSequence spawn keys of the design sample and of the bootstrap in the analysis; far
#: from the replicate seeds' keys (0..R-1), so adding replications never changes the design.
DESIGN_STREAM, ANALYSIS_STREAM = 1_000_001, 1_000_002
NUM_RESAMPLES, CONF_LEVEL = 100, 0.95
#: Smallest base sample shown in the Sobol' convergence plot.
CONVERGENCE_MIN_N = 16
INDICES_FILE, S2_FILE, CONVERGENCE_FILE, SUMMARY_FILE = (
    "indices.csv", "indices_s2.csv", "convergence.csv", "summary.txt")
FIGURES = "figures"


class SweepError(UserError):
    """A sweep that cannot run or be analysed as asked: one line for the user."""


# ------------------------------------------------------------------ sweep files


@dataclass(frozen=True)
class Parameter:
    """One uncertain parameter: its dotted key (or keyword argument) and its distribution."""

    name: str
    low: float
    high: float
    dist: str = "unif"
    peak: float = 0.5  # triang only: the mode's position within [low, high], from 0 to 1

    def salib_bounds(self) -> list[float]:
        return [self.low, self.high, self.peak] if self.dist == "triang" else [self.low, self.high]

    def record(self) -> dict:
        out = {"low": self.low, "high": self.high, "dist": self.dist}
        if self.dist == "triang":
            out["peak"] = self.peak
        return out


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep file."""

    file: str
    name: str
    method: str
    n: int
    levels: int
    second_order: bool
    replications: int
    outputs: list[str]
    parameters: list[Parameter]
    base: str | None = None      # path of the base scenario, as resolved from the sweep file
    target: str | None = None    # "package.module:function"
    days: int | None = None      # overrides the base scenario's days
    seed_entropy: int | None = None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def problem(self) -> dict:
        """SALib's problem dict."""
        return {"num_vars": len(self.parameters), "names": self.names,
                "bounds": [p.salib_bounds() for p in self.parameters],
                "dists": [p.dist for p in self.parameters]}

    def record(self) -> dict:
        """What batch.toml keeps of the sweep: enough to re-analyse without the file."""
        out = {"file": self.file, "name": self.name, "method": self.method, "n": self.n,
               "replications": self.replications, "outputs": list(self.outputs),
               "parameters": {p.name: p.record() for p in self.parameters}}
        if self.method == "morris":
            out["levels"] = self.levels
        else:
            out["second_order"] = self.second_order
        for key in ("base", "target", "days"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def spec_from_record(record: dict) -> SweepSpec:
    """The SweepSpec a batch.toml recorded (for --analyse-only: the file may have changed)."""
    params = [Parameter(name, float(p["low"]), float(p["high"]), p.get("dist", "unif"),
                        float(p.get("peak", 0.5))) for name, p in record["parameters"].items()]
    return SweepSpec(file=record["file"], name=record["name"], method=record["method"],
                     n=int(record["n"]), levels=int(record.get("levels", 4)),
                     second_order=bool(record.get("second_order", False)),
                     replications=int(record["replications"]), outputs=list(record["outputs"]),
                     parameters=params, base=record.get("base"), target=record.get("target"),
                     days=record.get("days"))


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SweepError(f"{path}: sweep file not found") from None
    except IsADirectoryError:
        raise SweepError(f"{path}: is a folder, expected a sweep .toml file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: TOML syntax error: {exc}") from None


def _unknown(path: Path, where: str, key: str, allowed) -> SweepError:
    hint = difflib.get_close_matches(key, list(allowed), n=1)
    mean = f"; did you mean '{hint[0]}'?" if hint else ""
    return SweepError(f"{path}: {where}: unknown key '{key}'{mean} (allowed: "
                      f"{', '.join(allowed)})")


def _int(path: Path, key: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SweepError(f"{path}: sweep.{key}: expected a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = f" and at most {high}" if high is not None else ""
        raise SweepError(f"{path}: sweep.{key}: must be at least {low}{upper}, got {value}")
    return value


def load_sweep(path: Path | str) -> tuple[SweepSpec, Scenario | None]:
    """Read and check a sweep file; the base scenario comes back loaded (None for a target).

    Everything that can be checked without running is checked here, so a mistake costs one
    line and no runs: unknown keys, sizes, parameter paths (with the closest existing one),
    ranges against the scenario schema's limits, outputs, the base file or the target.
    """
    path = Path(path)
    data = _read(path)
    for key in data:
        if key not in ("sweep", "parameters"):
            raise _unknown(path, "(top level)", key, ("sweep", "parameters"))
    sweep, params = data.get("sweep"), data.get("parameters")
    if not isinstance(sweep, dict):
        raise SweepError(f"{path}: a [sweep] table is required (method, n, outputs, base ...)")
    if not isinstance(params, dict) or not params:
        raise SweepError(f"{path}: a [parameters] table with at least one parameter is required, "
                         'e.g. "traffickers.offer_success" = { low = 0.001, high = 0.004 }')
    for key in sweep:
        if key not in SWEEP_KEYS:
            raise _unknown(path, "sweep", key, SWEEP_KEYS)
    method = sweep.get("method")
    if method not in METHODS:
        raise SweepError(f"{path}: sweep.method: must be 'morris' or 'sobol', got {method!r}")
    if "n" not in sweep:
        raise SweepError(f"{path}: sweep.n: required (Sobol: base sample, a power of two; "
                         "Morris: trajectories)")
    n = _int(path, "n", sweep["n"], 2)
    if method == "sobol" and n & (n - 1):
        lower = 1 << (n.bit_length() - 1)
        raise SweepError(f"{path}: sweep.n: Sobol' needs a power of two, got {n} (try {lower} or "
                         f"{lower * 2})")
    levels = _int(path, "levels", sweep.get("levels", 4), 2)
    if method == "morris" and levels % 2:
        raise SweepError(f"{path}: sweep.levels: Morris needs an even number of levels, got "
                         f"{levels}")
    second_order = sweep.get("second_order", False)
    if not isinstance(second_order, bool):
        raise SweepError(f"{path}: sweep.second_order: expected true or false, got "
                         f"{second_order!r}")
    replications = _int(path, "replications", sweep.get("replications", 1), 1)
    days = sweep.get("days")
    if days is not None:
        days = _int(path, "days", days, 1, 3650)
    entropy = sweep.get("seed_entropy")
    if entropy is not None:
        entropy = _int(path, "seed_entropy", entropy, 0)
    name = sweep.get("name", path.stem)
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SweepError(f"{path}: sweep.name: '{name}' cannot name a folder; use letters, "
                         "digits, '_', '-' and '.'")
    outputs = sweep.get("outputs")
    if (not isinstance(outputs, list) or not outputs
            or not all(isinstance(o, str) for o in outputs)):
        raise SweepError(f"{path}: sweep.outputs: a list of output names is required, e.g. "
                         '["incidence_per_1000"]')
    if len(set(outputs)) != len(outputs):
        raise SweepError(f"{path}: sweep.outputs: an output is named twice")
    has_base, has_target = "base" in sweep, "target" in sweep
    if has_base == has_target:
        raise SweepError(f"{path}: sweep: give either base = \"../scenario.toml\" or target = "
                         "\"package.module:function\", not " + ("both" if has_base else "neither"))
    parameters = [_parameter(path, key, value) for key, value in params.items()]
    spec = SweepSpec(file=str(path), name=name, method=method, n=n, levels=levels,
                     second_order=second_order, replications=replications, outputs=outputs,
                     parameters=parameters, days=days, seed_entropy=entropy)
    if has_base:
        return _check_model_sweep(path, spec, sweep["base"])
    if days is not None:
        raise SweepError(f"{path}: sweep.days: only applies to a base scenario, not a target")
    return _check_target_sweep(path, spec, sweep["target"]), None


def _parameter(path: Path, key: str, value) -> Parameter:
    where = f'parameters."{key}"'
    if not isinstance(value, dict):
        raise SweepError(f"{path}: {where}: expected {{ low = ..., high = ... }}, got {value!r}")
    for k in value:
        if k not in PARAMETER_KEYS:
            raise _unknown(path, where, k, PARAMETER_KEYS)
    bounds = []
    for k in ("low", "high"):
        v = value.get(k)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise SweepError(f"{path}: {where}.{k}: a finite number is required, got {v!r}")
        bounds.append(float(v))
    low, high = bounds
    if not low < high:
        raise SweepError(f"{path}: {where}: low ({low:g}) must be below high ({high:g})")
    dist = value.get("dist", "unif")
    if dist not in DISTS:
        raise SweepError(f"{path}: {where}.dist: one of {', '.join(DISTS)}, got {dist!r} "
                         "(bounded distributions only, so the range is what the schema checks)")
    if dist == "logunif" and low <= 0:
        raise SweepError(f"{path}: {where}: logunif needs low > 0, got {low:g}")
    peak = value.get("peak", 0.5)
    if dist != "triang" and "peak" in value:
        raise SweepError(f"{path}: {where}.peak: only for dist = 'triang'")
    if isinstance(peak, bool) or not isinstance(peak, int | float) or not 0 <= peak < 1:
        raise SweepError(f"{path}: {where}.peak: a number in [0, 1) (the mode's position "
                         f"between low and high), got {peak!r}")
    return Parameter(key, low, high, dist, float(peak))


def _check_model_sweep(path: Path, spec: SweepSpec, base) -> tuple[SweepSpec, Scenario]:
    if not isinstance(base, str):
        raise SweepError(f"{path}: sweep.base: a scenario path relative to the sweep file, e.g. "
                         "\"../ffp_2020.toml\"")
    base_path = path.parent / base
    if not base_path.is_file():
        raise SweepError(f"{path}: sweep.base: '{base}' not found (looked for {base_path})")
    scenario = load_scenario(base_path)
    known = flatten(scenario)
    for p in spec.parameters:
        _check_schema_range(path, p, known)
    outputs = model_outputs(scenario)
    _check_outputs(path, spec.outputs, outputs, "the model's summary")
    return (SweepSpec(**{**vars(spec), "base": str(base_path)}), scenario)


def _check_schema_range(path: Path, p: Parameter, known: dict) -> None:
    """The parameter must exist in the schema, be continuous and stay inside its limits."""
    where = f'parameters."{p.name}"'
    if p.name not in known:
        hint = difflib.get_close_matches(p.name, list(known), n=1, cutoff=0.5)
        mean = f"; did you mean '{hint[0]}'?" if hint else ""
        raise SweepError(f"{path}: {where}: no such scenario parameter{mean} (parameters are "
                         "dotted keys such as traffickers.offer_success)")
    info = schema_field(p.name)
    if info is None or info.annotation is not float:
        kind = getattr(info, "annotation", type(known[p.name]))
        raise SweepError(f"{path}: {where}: is {getattr(kind, '__name__', kind)}, not a "
                         "continuous number; sweeps vary float parameters only")
    lo, lo_strict, hi, hi_strict = schema_limits(info)
    if lo is not None and (p.low < lo or (lo_strict and p.low == lo)):
        sign = ">" if lo_strict else ">="
        raise SweepError(f"{path}: {where}.low: {p.low:g} is outside what the schema allows "
                         f"({p.name} {sign} {lo:g})")
    if hi is not None and (p.high > hi or (hi_strict and p.high == hi)):
        sign = "<" if hi_strict else "<="
        raise SweepError(f"{path}: {where}.high: {p.high:g} is outside what the schema allows "
                         f"({p.name} {sign} {hi:g})")


def schema_field(dotted: str):
    """The pydantic FieldInfo of a dotted scenario parameter, or None."""
    block, _, key = dotted.partition(".")
    outer = Scenario.model_fields.get(block)
    if outer is None:
        return None
    if not key:
        return outer
    fields = getattr(outer.annotation, "model_fields", None)
    return fields.get(key) if fields else None


def schema_limits(info) -> tuple[float | None, bool, float | None, bool]:
    """(lower, lower is strict, upper, upper is strict) from a field's constraints."""
    lo = hi = None
    lo_strict = hi_strict = False
    for m in info.metadata:
        for attr, is_low, strict in (("ge", True, False), ("gt", True, True),
                                     ("le", False, False), ("lt", False, True)):
            value = getattr(m, attr, None)
            if value is not None:
                if is_low:
                    lo, lo_strict = float(value), strict
                else:
                    hi, hi_strict = float(value), strict
    return lo, lo_strict, hi, hi_strict


def model_outputs(scenario: Scenario) -> list[str]:
    """The numeric outcomes a model run reports: the ledger's outcome catalogue."""
    return list(OUTCOME_NAMES)


def _check_outputs(path: Path, asked: list[str], known: list[str], what: str) -> None:
    for output in asked:
        if output not in known:
            hint = difflib.get_close_matches(output, known, n=1)
            mean = f"did you mean '{hint[0]}'? " if hint else ""
            raise SweepError(f"{path}: sweep.outputs: unknown output '{output}'; {mean}"
                             f"({what} has: {', '.join(known)})")


def resolve_target(target: str):
    """The function named by "package.module:function"; SweepError if there is none."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SweepError(f"target '{target}': expected \"package.module:function\"")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SweepError(f"target '{target}': cannot import {module_name} ({exc})") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise SweepError(f"target '{target}': {module_name} has no function {attr}")
    return func


def _check_target_sweep(path: Path, spec: SweepSpec, target) -> SweepSpec:
    if not isinstance(target, str):
        raise SweepError(f"{path}: sweep.target: expected \"package.module:function\"")
    try:
        func = resolve_target(target)
    except SweepError as exc:
        raise SweepError(f"{path}: sweep.{exc}") from None
    signature = inspect.signature(func)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for p in spec.parameters:
        if p.name not in signature.parameters and not takes_any:
            hint = difflib.get_close_matches(p.name, list(signature.parameters), n=1)
            mean = f"; did you mean '{hint[0]}'?" if hint else ""
            raise SweepError(f'{path}: parameters."{p.name}": {target} takes no such '
                             f"argument{mean}")
    middle = {p.name: (p.low + p.high) / 2 for p in spec.parameters}
    try:
        result = func(**middle)  # one call checks the outputs before the design runs
    except Exception as exc:  # noqa: BLE001 - any failure of the user's function is reported
        raise SweepError(f"{path}: sweep.target: {target} failed at the middle of the ranges: "
                         f"{type(exc).__name__}: {exc}") from None
    if not isinstance(result, dict):
        raise SweepError(f"{path}: sweep.target: {target} must return a dict of outputs, "
                         f"got {type(result).__name__}")
    _check_outputs(path, spec.outputs, list(result), target)
    return SweepSpec(**{**vars(spec), "target": target})


# ------------------------------------------------------------------ the design as a plan


@dataclass(frozen=True)
class SweepJob(Job):
    """A run of one design point: its parameters are the plan's entry `design_index`."""

    design_index: int = 0

    @property
    def params_key(self):
        return self.design_index


def _stream_seed(entropy: int, stream: int) -> int:
    """A 32-bit seed from the sweep's entropy, independent of the replicate seeds."""
    return int(np.random.SeedSequence(entropy, spawn_key=(stream,)).generate_state(1)[0])


def sample_design(spec: SweepSpec, entropy: int) -> np.ndarray:
    """SALib's design matrix, one row per design point, in the order its analyser expects."""
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    seed = _stream_seed(entropy, DESIGN_STREAM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib's notes on skip values; N is checked above
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
        old = {k: v for k, v in recorded.get("sweep", {}).items() if k != "file"}
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
    """What a target run gives the store: the function's outputs and a one-row series."""

    summary: dict
    series: pd.DataFrame


@dataclass(frozen=True)
class TargetRunner:
    """The `run_fn` of a target sweep: calls the function with the point's values (and the
    replicate seed, if it takes `seed`). Holds only the name, so it pickles to Dask workers."""

    target: str

    def __call__(self, params: dict, seed: int, days: int) -> TargetResult:
        func = resolve_target(self.target)
        kwargs = dict(params)
        if "seed" in inspect.signature(func).parameters:
            kwargs["seed"] = seed
        outputs = func(**kwargs)
        summary = {k: (None if v is None else float(v)) for k, v in outputs.items()}
        return TargetResult(summary, pd.DataFrame({"day": [0]}))


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


# ------------------------------------------------------------------ analysis


@dataclass
class SweepAnalysis:
    """What `analyse` found and wrote."""

    store: Store
    spec: SweepSpec
    indices: pd.DataFrame
    s2: pd.DataFrame | None
    convergence: pd.DataFrame | None
    notes: list[str]
    files: list[Path]
    summary: str


def design_results(store: Store, spec: SweepSpec) -> tuple[np.ndarray, pd.DataFrame, list[str]]:
    """X (design points x parameters) and Y (outputs averaged over replications), both in
    design order, from the manifest and the summaries; outputs undefined in some run are
    left out of Y and named in the notes."""
    status = store.status()
    if "design_index" not in status.columns:
        raise SweepError(f"{store.path} is a scenario batch, not a sweep")
    counts = status["status"].value_counts()
    if counts.get("done", 0) < len(status):
        failed, missing = counts.get("failed", 0), counts.get("missing", 0)
        raise SweepError(f"{store.path}: {failed} runs failed and {missing} are missing of "
                         f"{len(status)}; the indices need every design point (finish with "
                         f"'corridor sweep {spec.file} --resume --out {store.path}')")
    manifest = status.sort_values(["design_index", "rep"], kind="stable")
    columns = ", ".join(f'"{o}"' for o in spec.outputs)
    try:
        summaries = store.query(f"SELECT run_id, {columns} FROM summaries")
    except Exception as exc:  # noqa: BLE001 - DuckDB's binder error for a missing column
        raise SweepError(f"{store.path}: the stored runs lack an output ({exc})") from None
    runs = manifest[["run_id", "design_index"]].merge(summaries, on="run_id", how="left",
                                                      validate="one_to_one")
    notes, kept = [], []
    for output in spec.outputs:
        undefined = int(runs[output].isna().sum())
        if undefined:
            notes.append(f"{output}: undefined in {undefined} of {len(runs)} runs; not analysed")
        else:
            kept.append(output)
    means = runs.groupby("design_index")[kept].mean().sort_index()
    design = manifest.groupby("design_index")[spec.names].first().sort_index()
    if not (design.index == np.arange(len(design))).all():
        raise SweepError(f"{store.path}: the manifest's design indices are not 0..n-1")
    return design.to_numpy(dtype=float), means, notes


def analyse(store: Store, figures: bool = True) -> SweepAnalysis:
    """SALib on a finished sweep store; writes indices.csv (and indices_s2.csv,
    convergence.csv for Sobol'), figures and summary.txt into the store's folder."""
    recorded = store.batch()
    if recorded.get("kind") != "sweep":
        raise SweepError(f"{store.path} holds a scenario batch, not a sweep "
                         "('corridor compare' analyses batches)")
    spec = spec_from_record(recorded["sweep"])
    entropy = int(recorded["seed_entropy"])
    seed = _stream_seed(entropy, ANALYSIS_STREAM)
    X, Y, notes = design_results(store, spec)
    problem = spec.problem()
    rows, s2_rows, conv_rows = [], [], []
    for output in Y.columns:
        y = Y[output].to_numpy(dtype=float)
        if np.ptp(y) == 0:
            notes.append(f"{output}: the same value at every design point; not analysed")
            continue
        if spec.method == "morris":
            rows += _morris(problem, X, y, spec.levels, seed, output)
        else:
            found, s2 = _sobol(problem, y, spec.second_order, seed, output)
            rows += found
            s2_rows += s2
            conv_rows += _convergence(problem, y, spec, seed, output)
    indices = pd.DataFrame(rows, columns=["method", "output", "parameter",
                                          *_value_columns(spec.method)])
    s2 = pd.DataFrame(s2_rows, columns=["method", "output", "parameter_1", "parameter_2",
                                        "S2", "S2_conf"]) if spec.second_order else None
    convergence = (pd.DataFrame(conv_rows, columns=["output", "n", "parameter", "S1", "S1_conf",
                                                    "ST", "ST_conf"])
                   if spec.method == "sobol" else None)
    files = [_write_csv(store.path / INDICES_FILE, indices)]
    if s2 is not None and spec.method == "sobol":
        files.append(_write_csv(store.path / S2_FILE, s2))
    if convergence is not None:
        files.append(_write_csv(store.path / CONVERGENCE_FILE, convergence))
    if figures and not indices.empty:
        from analysis.sweep_plots import sweep_figures

        files += sweep_figures(store.path / FIGURES, spec, indices, convergence)
    text = summary_text(store, spec, len(X), indices, notes)
    files.append(atomic_write(store.path / SUMMARY_FILE, lambda f: f.write(text.encode())))
    return SweepAnalysis(store, spec, indices, s2, convergence, notes, files, text)


def _value_columns(method: str) -> list[str]:
    return (["mu", "mu_star", "mu_star_conf", "sigma"] if method == "morris"
            else ["S1", "S1_conf", "ST", "ST_conf"])


def _morris(problem, X, y, levels, seed, output) -> list[list]:
    from SALib.analyze import morris as morris_analyze

    res = morris_analyze.analyze(problem, X, y, num_resamples=NUM_RESAMPLES,
                                 conf_level=CONF_LEVEL, num_levels=levels, seed=seed)
    return [["morris", output, name, float(res["mu"][i]), float(res["mu_star"][i]),
             float(res["mu_star_conf"][i]), float(res["sigma"][i])]
            for i, name in enumerate(problem["names"])]


def _sobol_indices(problem, y, second_order, seed) -> dict:
    from SALib.analyze import sobol as sobol_analyze

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tiny subsamples in the convergence
        return sobol_analyze.analyze(problem, y, calc_second_order=second_order,
                                     num_resamples=NUM_RESAMPLES, conf_level=CONF_LEVEL,
                                     seed=seed)


def _sobol(problem, y, second_order, seed, output) -> tuple[list[list], list[list]]:
    res = _sobol_indices(problem, y, second_order, seed)
    names = problem["names"]
    rows = [["sobol", output, name, float(res["S1"][i]), float(res["S1_conf"][i]),
             float(res["ST"][i]), float(res["ST_conf"][i])] for i, name in enumerate(names)]
    s2 = []
    if second_order:
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                s2.append(["sobol", output, names[i], names[j], float(res["S2"][i, j]),
                           float(res["S2_conf"][i, j])])
    return rows, s2


def _convergence(problem, y, spec: SweepSpec, seed, output) -> list[list]:
    """Indices recomputed on the first 2^k base samples: whether N was large enough. The
    rows of a Saltelli design come in blocks, one per base sample, so a prefix of blocks is
    itself a (smaller) Saltelli design."""
    d = len(spec.parameters)
    block = 2 * d + 2 if spec.second_order else d + 2
    rows = []
    n = min(CONVERGENCE_MIN_N, spec.n)
    while n <= spec.n:
        res = _sobol_indices(problem, y[: n * block], spec.second_order, seed)
        rows += [[output, n, name, float(res["S1"][i]), float(res["S1_conf"][i]),
                  float(res["ST"][i]), float(res["ST_conf"][i])]
                 for i, name in enumerate(problem["names"])]
        n *= 2
    return rows


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda f: f.write(frame.to_csv(index=False).encode()))


def summary_text(store: Store, spec: SweepSpec, points: int, indices: pd.DataFrame,
                 notes: list[str], top: int = 3) -> str:
    """The parameters that matter most per output, with the design's size and noise caveat."""
    size = (f"{spec.n} trajectories, {spec.levels} levels" if spec.method == "morris"
            else f"N = {spec.n}{', second order' if spec.second_order else ''}")
    plural = "s" if spec.replications > 1 else ""
    lines = [(f"sweep {spec.name} ({store.path}): {spec.method}, {size}; {points} design "
              f"points x {spec.replications} replication{plural} (averaged per point; "
              "replicate noise deflates the indices)")]
    key = "mu_star" if spec.method == "morris" else "ST"
    for output, group in indices.groupby("output", sort=False):
        ranked = group.sort_values(key, ascending=False).head(top)
        if spec.method == "morris":
            parts = [f"{r.parameter} (mu* {r.mu_star:.3g} +/- {r.mu_star_conf:.2g}, "
                     f"sigma {r.sigma:.3g})" for r in ranked.itertuples()]
        else:
            parts = [f"{r.parameter} (ST {r.ST:.2f} +/- {r.ST_conf:.2f}, S1 {r.S1:.2f})"
                     for r in ranked.itertuples()]
        lines.append(f"  {output}: " + "; ".join(parts))
    lines += [f"  note: {note}" for note in notes]
    return "\n".join(lines) + "\n"


def open_sweep(path: Path | str) -> Store:
    """The sweep store at `path` (or under runs/); SweepError if it is not a sweep."""
    from analysis.store import open_store

    try:
        store = open_store(path)
    except StoreError as exc:
        raise SweepError(str(exc)) from None
    if store.batch().get("kind") != "sweep":
        raise SweepError(f"{store.path} holds a scenario batch, not a sweep")
    return store
