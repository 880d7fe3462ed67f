"""`corridor calibrate`: fit uncertain parameters to calibration patterns with ABC-SMC (pyabc).

Design and pitfalls: ../shared/notes/calibration-pyabc.md (section 8). In short:

- the model is wrapped in `Simulator`, a picklable module-level class: it draws each run's
  seed from numpy's global RNG (which pyabc seeds), applies the particle's values to the base
  scenario with `with_changes`, runs `model.run.simulate` and evaluates every pattern's
  expression on the run's summary (the same summary batch runs store). It never raises: a
  failed or over-long run gives NaN for every pattern and `failed = 1`, so pyabc rejects it
  instead of aborting. Every run, accepted or not, is appended to `sims/sims-<pid>.jsonl`
  (pyabc keeps accepted particles only);
- the distance is zero inside every pattern's band (`BandDistance`), so with
  `minimum_epsilon = 0` the last generation holds only parameter sets whose run hit every band;
- generation 0 samples the prior (epsilon = inf); later epsilons are the median distance
  of the previous generation (pyabc's MedianEpsilon);
- the sampler is single-core (reproducible from the `[abc]` seed) for `--workers` 0 or 1,
  multicore by default (not reproducible: pyabc reseeds its workers from the OS; every run's
  seed is logged so each particle replays exactly), Dask with `--scheduler`;
- the history is `abc.db` (SQLite) in the output folder; pyabc commits it once per
  generation, so a kill loses at most the generation in progress, and `--resume` continues
  after the last stored one, refusing when the calibration's config hash has changed;
- whenever the run ends (finished, a budget reached, Ctrl-C or SIGTERM) the results are
  exported: generations.csv, accepted.parquet, posterior.png, ensemble/, constraints.csv,
  env.json, and a printed summary.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.calibrate_file import CalibrationError, CalibrationSpec, Target, load_calibration
from analysis.expressions import parse_expression
from analysis.plan import code_version
from model.run import simulate
from model.scenario import Scenario, with_changes

DB_NAME = "abc.db"
SIMS_DIR = "sims"
FROZEN_NAME = "calibration.toml"
#: Warn when the final population's effective sample size is below N / ESS_WARN_DIVISOR, or
#: when more than FAILURE_WARN_SHARE of all runs failed.
ESS_WARN_DIVISOR = 3
FAILURE_WARN_SHARE = 0.05

log = logging.getLogger("corridor.calibrate")


# ------------------------------------------------------------------ the simulator


class RunTooLong(RuntimeError):
    """A run exceeded `max_run_seconds` of wall-clock time."""


@dataclass(frozen=True)
class Simulator:
    """One ABC simulation: a parameter set in, each pattern's value (and seed, failed, run_s)
    out. Module-level and holding only data, so it pickles to multicore and Dask workers."""

    base: Scenario
    days: int
    targets: tuple[Target, ...]
    sims_dir: str
    max_run_seconds: float = math.inf

    def __call__(self, par: dict) -> dict:
        seed = int(np.random.randint(0, 2**31 - 1))  # pyabc seeds numpy's global RNG
        values = {str(k): float(v) for k, v in dict(par).items()}
        start = time.perf_counter()
        error = None
        try:
            stats = self.run(values, seed, start)
        except Exception as exc:  # noqa: BLE001 - a failed run is a rejected particle, not an abort
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            log.warning("run failed (seed %d, %s): %s", seed, values, error)
            stats = {t.id: math.nan for t in self.targets}
        run_s = time.perf_counter() - start
        result = {**stats, "seed": seed, "failed": int(error is not None), "run_s": run_s}
        self._log({"pid": os.getpid(), "time": time.time(), "parameters": values, **result,
                   "error": error})
        return result

    def run(self, values: dict, seed: int, start: float) -> dict:
        scenario = with_changes(self.base, values, "calibration particle")

        def guard() -> None:
            if time.perf_counter() - start > self.max_run_seconds:
                raise RunTooLong(f"stopped after {self.max_run_seconds:g} s (max_run_seconds)")

        result = simulate(scenario, seed, self.days, on_day=guard, keep_events=False)
        return pattern_values(self.targets, result.summary)

    def _log(self, record: dict) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in record.items()}
        try:
            with open(Path(self.sims_dir) / f"sims-{os.getpid()}.jsonl", "a") as fh:
                fh.write(json.dumps(clean) + "\n")
        except OSError as exc:  # the log is a record; losing a line must not abort the run
            log.warning("cannot append to the run log: %s", exc)


def pattern_values(targets, summary: dict) -> dict:
    """Each pattern's expression on one run's summary (a one-row table), NaN if undefined."""
    frame = pd.DataFrame([summary])
    out = {}
    for target in targets:
        value = float(parse_expression(target.expression).evaluate(frame).iloc[0])
        out[target.id] = value if math.isfinite(value) else math.nan
    return out


def band_errors(targets, stats: dict) -> dict[str, float]:
    """Per pattern: how far the value lies outside its band, in band widths (0 inside; NaN
    for an undefined value)."""
    out = {}
    for t in targets:
        v = stats.get(t.id, math.nan)
        try:
            v = float(v)
        except (TypeError, ValueError):
            v = math.nan
        out[t.id] = (max(t.low - v, v - t.high, 0.0) / (t.high - t.low)
                     if math.isfinite(v) else math.nan)
    return out


@dataclass(frozen=True)
class BandDistance:
    """Root mean square of the band errors: zero when every pattern lies in its band, NaN
    (never accepted) when a pattern is undefined or the run failed."""

    targets: tuple[Target, ...]

    def __call__(self, x: dict, x_0: dict | None = None) -> float:
        errors = list(band_errors(self.targets, x).values())
        if not all(math.isfinite(e) for e in errors):
            return math.nan
        return math.sqrt(sum(e * e for e in errors) / len(errors))


# ------------------------------------------------------------------ running


@dataclass
class CalibrateRequest:
    file: Path
    out: Path | None = None
    resume: bool = False
    workers: int | None = None
    scheduler: str | None = None
    progress: Any = print
    force: bool = False  # resume although the model's code changed (an exact change)


@dataclass
class CalibrateReport:
    out: Path
    generations: int = 0
    runs: int = 0
    interrupted: bool = False
    files: list[Path] = field(default_factory=list)
    summary: str = ""


def default_out(spec: CalibrationSpec) -> Path:
    return Path("runs") / f"calibrate-{spec.name}-{datetime.now():%Y%m%d-%H%M%S}"


def run_calibration(request: CalibrateRequest) -> CalibrateReport:
    """Check the file, open (or resume) the history, run ABC-SMC, export. A mistake in the
    file or the folder is a CalibrationError before anything is written."""
    spec = load_calibration(request.file)
    out = request.out or default_out(spec)
    db = out / DB_NAME
    if request.resume:
        if not db.is_file():
            raise CalibrationError(f"{out}: no {DB_NAME} to resume (give the folder of an "
                                   "earlier calibration with --out)")
        _check_resumable(db, spec, request.force)
    elif db.exists():
        raise CalibrationError(f"{db} exists: refusing to overwrite a calibration; add "
                               "--resume to continue it, or choose another --out")
    elif out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise CalibrationError(f"{out}: exists and is not an empty folder (a batch or another "
                               "run's files would be mixed with the calibration's); choose a "
                               "new --out")
    _check_workers(request)
    import pyabc  # 2.4 s of imports: only once the file has been checked

    logging.getLogger("ABC").setLevel(logging.WARNING)
    try:
        (out / SIMS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CalibrationError(f"cannot write to {out}: {exc.strerror or exc}") from None
    if not request.resume:
        (out / FROZEN_NAME).write_text(spec.text, encoding="utf-8")
    simulator = Simulator(spec.base, spec.days, tuple(spec.targets),
                          str((out / SIMS_DIR).resolve()), spec.abc.max_run_seconds)
    sampler, engine, close = _sampler(pyabc, request)
    report = CalibrateReport(out)
    try:
        abc = pyabc.ABCSMC(simulator, _prior(pyabc, spec), BandDistance(tuple(spec.targets)),
                           population_size=spec.abc.population_size, sampler=sampler,
                           eps=pyabc.MedianEpsilon(initial_epsilon=math.inf))
        url = f"sqlite:///{db.resolve()}"
        if request.resume:
            history = pyabc.History(url, create=False)
            abc.load(url, _only_run_id(history, db))
            done = abc.history.max_t + 1
        else:
            abc.new(url, {}, meta_info={"config_hash": spec.config_hash(),
                                         "calibration": spec.name,
                                         "code_version": code_version()})
            done = 0
        _seed(spec.abc.seed, done)
        _write_env(out, spec, engine)
        left = spec.abc.max_generations - done
        request.progress(f"calibrate {spec.name}: {len(spec.parameters)} parameters, "
                         f"{len(spec.targets)} patterns, population {spec.abc.population_size}, "
                         f"{'resuming after generation ' + str(done - 1) + ', ' if done else ''}"
                         f"up to {max(left, 0)} generations; engine {engine['kind']}"
                         f"{', ' + str(engine['workers']) + ' workers' if 'workers' in engine else ''}"
                         f"; {out}")
        if left <= 0:
            request.progress(f"nothing to run: {done} generations already, max_generations is "
                             f"{spec.abc.max_generations} (raise it in the file to go on)")
        try:
            if left > 0:
                _run(abc, spec, left, request.progress)
        except KeyboardInterrupt:
            report.interrupted = True
        report = _export(abc.history, spec, out, report)
    finally:
        close()
    if report.interrupted:
        request.progress(report.summary)
        raise KeyboardInterrupt
    return report


def _check_workers(request: CalibrateRequest) -> None:
    if request.workers is not None and request.scheduler is not None:
        raise CalibrationError("give --workers or --scheduler, not both")


def _check_resumable(db: Path, spec: CalibrationSpec, force: bool = False) -> None:
    """The stored config hash must match the file's: a changed base, days, parameter, prior,
    pattern or population size would mix two different posteriors. So must the model's code
    (`code_version`, as batches check it), unless `force` says the change kept results (a
    history from before the code was recorded counts as another version)."""
    import pyabc

    logging.getLogger("ABC").setLevel(logging.WARNING)
    try:
        history = pyabc.History(f"sqlite:///{db.resolve()}", create=False)
        run_id = _only_run_id(history, db)
        history.id = run_id
        meta = ast.literal_eval(history.get_abc().json_parameters)
    except CalibrationError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever is in the file, it is no calibration db
        raise CalibrationError(f"{db}: cannot be read as a calibration history "
                               f"({type(exc).__name__})") from None
    stored = meta.get("config_hash") if isinstance(meta, dict) else None
    if stored != spec.config_hash():
        raise CalibrationError(f"{db}: was made with another calibration (base scenario, days, "
                               "parameters, priors, patterns or population size differ); "
                               "resume with the same file, or start a new --out")
    stored_code = meta.get("code_version") or "of an unrecorded version"
    if stored_code != code_version() and not force:
        raise CalibrationError(f"{db}: was made with model code {stored_code}, this is "
                               f"{code_version()}; a resumed posterior would mix two models: "
                               "start a new --out, or add --force if the change kept the "
                               "model's results (the golden file unchanged)")


def _only_run_id(history, db: Path) -> int:
    runs = history.all_runs()
    if len(runs) != 1:
        raise CalibrationError(f"{db}: holds {len(runs)} ABC runs, expected one")
    return int(runs[0].id)


def _seed(seed: int, generation: int) -> None:
    """numpy's and Python's global RNG, from the [abc] seed and where the run starts (a resumed
    run draws fresh numbers rather than replaying generation 0's)."""
    state = np.random.SeedSequence(seed, spawn_key=(generation,)).generate_state(1)[0]
    np.random.seed(int(state))
    random.seed(int(state))


def _prior(pyabc, spec: CalibrationSpec):
    return pyabc.Distribution(**{
        p.name: (pyabc.RV("loguniform", p.low, p.high) if p.log
                 else pyabc.RV("uniform", p.low, p.high - p.low))  # scipy: loc, width
        for p in spec.parameters})


def _sampler(pyabc, request: CalibrateRequest):
    """(sampler, engine description, close)."""
    from analysis.engines import default_workers, max_workers

    if request.scheduler:
        from analysis.engines import connect

        client = connect(request.scheduler)
        sampler = pyabc.sampler.DaskDistributedSampler(dask_client=client)
        return sampler, {"kind": "dask", "address": request.scheduler,
                         "workers": len(client.nthreads())}, client.close
    workers = default_workers() if request.workers is None else request.workers
    if workers > max_workers():
        request.progress(f"note: --workers {workers} is more than the cap; using "
                         f"{max_workers()}")
        workers = max_workers()
    if workers <= 1:
        return pyabc.SingleCoreSampler(), {"kind": "single-core"}, lambda: None
    sampler = pyabc.MulticoreEvalParallelSampler(n_procs=workers, check_max_eval=True)
    return sampler, {"kind": "multicore", "workers": workers}, lambda: None


def _run(abc, spec: CalibrationSpec, generations: int, progress) -> None:
    """pyabc's ABCSMC.run, with one progress line per generation (and the same cleanup)."""
    from pyabc.weighted_statistics import effective_sample_size

    settings = spec.abc
    t = abc.initialize_components_before_run(
        minimum_epsilon=0.0, max_nr_populations=generations,
        min_acceptance_rate=settings.min_acceptance_rate,
        max_total_nr_simulations=settings.max_total_simulations,
        max_walltime=timedelta(minutes=settings.max_walltime_minutes), min_eps_diff=0.0)
    start = time.perf_counter()
    try:
        while True:
            generation_start = time.perf_counter()
            result = abc.run_generation(t=t)
            if not result["successful"]:
                progress(f"t={t}: stopped: fewer than {settings.population_size} accepted "
                         f"within the acceptance-rate budget ({settings.min_acceptance_rate:g})")
                break
            _, weights = abc.history.get_distribution(m=0, t=t)
            pops = abc.history.get_all_populations().set_index("t")
            progress(f"t={t}  eps={pops.loc[t, 'epsilon']:.4g}  acceptance "
                     f"{result['acceptance_rate']:.1%} ({int(pops.loc[t, 'samples'])} runs)  "
                     f"ESS {effective_sample_size(weights):.1f}  runs in all "
                     f"{abc.history.total_nr_simulations}  "
                     f"{time.perf_counter() - generation_start:.1f} s "
                     f"({time.perf_counter() - start:.0f} s in all)")
            with np.errstate(invalid="ignore"):  # pyabc computes inf - inf after generation 0
                stop = abc.check_terminate(t=t, acceptance_rate=result["acceptance_rate"])
            if stop:
                progress(f"stopped: {_stop_reason(abc, spec, t, result['acceptance_rate'])}")
                break
            t += 1
    finally:
        abc.history.done(end_time=datetime.now())
        abc.sampler.stop()


def _stop_reason(abc, spec: CalibrationSpec, t: int, acceptance_rate: float) -> str:
    settings = spec.abc
    if abc.eps(t) <= 0:
        return "epsilon reached 0: every accepted set's run lies inside every band"
    if acceptance_rate < settings.min_acceptance_rate:
        return (f"acceptance rate {acceptance_rate:.1%} below min_acceptance_rate "
                f"{settings.min_acceptance_rate:g}")
    if abc.history.total_nr_simulations >= settings.max_total_simulations:
        return f"max_total_simulations ({settings.max_total_simulations}) reached"
    if t >= abc.max_t:
        return f"max_generations ({settings.max_generations}) reached"
    return "max_walltime_minutes reached"


def _write_env(out: Path, spec: CalibrationSpec, engine: dict) -> None:
    from analysis.batch import environment
    from analysis.plan import package_version

    env = environment(engine)
    env["packages"]["pyabc"] = package_version("pyabc")
    env["calibration"] = {"file": str(spec.file), "config_hash": spec.config_hash(),
                          "base": str(spec.base_path), "patterns_file": str(spec.patterns_file)}
    path = out / "env.json"
    sessions = []
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            sessions = old.get("sessions", []) if isinstance(old, dict) else []
        except (OSError, ValueError):
            sessions = []
    path.write_text(json.dumps({**env, "sessions": [*sessions, env["time"]]}, indent=1))


# ------------------------------------------------------------------ export


def _export(history, spec: CalibrationSpec, out: Path, report: CalibrateReport):
    from analysis.calibrate_export import export

    return export(history, spec, out, report)


def read_sims(out: Path, names: list[str], targets) -> pd.DataFrame:
    """Every logged run: one row with its parameters, pattern values, band errors, seed,
    failed flag and time."""
    rows = []
    for path in sorted((out / SIMS_DIR).glob("sims-*.jsonl")):
        with open(path) as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill
                params = record.get("parameters") or {}
                row = {n: params.get(n, math.nan) for n in names}
                stats = {t.id: (math.nan if record.get(t.id) is None else record.get(t.id))
                         for t in targets}
                row.update(stats)
                row.update({f"error_{k}": v for k, v in band_errors(targets, stats).items()})
                row.update({"seed": record.get("seed"), "failed": record.get("failed", 0),
                            "run_s": record.get("run_s"), "error": record.get("error")})
                rows.append(row)
    return pd.DataFrame(rows)
