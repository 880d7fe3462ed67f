"""Sensitivity indices of a finished sweep store, with SALib.

`analyse` reads a sweep's store (`analysis.sweep` ran it), orders the runs by `design_index`
(never by the order runs finished in, which SALib's row-order-sensitive estimators could not
survive), averages each outcome over the replications and writes `indices.csv`,
`indices_s2.csv`, `convergence.csv`, figures and `summary.txt`.

Morris's elementary effects and Saltelli's Sobol' estimators need the outcome at every design
point. An outcome that is not a finite number at some point (undefined in a model run, such as
`median_days_to_identification` when nobody was identified, or inf, NaN or no number at all
from a target) is therefore not analysed: the summary says at how many design points it was
not finite. When that leaves no outcome at all, the analysis refuses with one line.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.files import atomic_write
from analysis.store import Store, StoreError
from analysis.sweep import ANALYSIS_STREAM, stream_seed
from analysis.sweep_file import SweepError, SweepSpec, spec_from_record

NUM_RESAMPLES, CONF_LEVEL = 100, 0.95
#: Smallest base sample shown in the Sobol' convergence plot.
CONVERGENCE_MIN_N = 16
INDICES_FILE, S2_FILE, CONVERGENCE_FILE, SUMMARY_FILE = (
    "indices.csv", "indices_s2.csv", "convergence.csv", "summary.txt")
FIGURES = "figures"
METHOD_NAMES = {"morris": "Morris", "sobol": "Sobol'"}


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
    """X (design points x parameters) and Y (outcomes averaged over replications), both in
    design order. An outcome that is not finite at some design point is left out of Y, with
    a note saying at how many; if none is left, SweepError."""
    manifest = _finished_manifest(store, spec)
    runs = manifest[["run_id", "design_index"]].merge(_stored_outcomes(store, spec),
                                                      on="run_id", how="left",
                                                      validate="one_to_one")
    points = runs["design_index"].nunique()
    means, notes = {}, []
    for outcome in spec.outcomes:
        values = _finite_or_nan(runs[outcome])
        bad = values.isna()
        if bad.any():
            notes.append(_dropped(outcome, runs.loc[bad, "design_index"].nunique(), points,
                                  int(bad.sum()), len(runs), spec.method))
        else:
            means[outcome] = values.groupby(runs["design_index"]).mean()
    if not means:
        raise SweepError(f"{store.path}: no outcome can be analysed: " + "; ".join(notes))
    design = manifest.groupby("design_index")[spec.names].first().sort_index()
    if not (design.index == np.arange(len(design))).all():
        raise SweepError(f"{store.path}: the manifest's design indices are not 0..n-1")
    return design.to_numpy(dtype=float), pd.DataFrame(means).sort_index(), notes


def _finished_manifest(store: Store, spec: SweepSpec) -> pd.DataFrame:
    """The manifest in design order; SweepError unless every run is done (the estimators
    need every design point, so a failed or missing run stops the whole analysis)."""
    status = store.status()
    if "design_index" not in status.columns:
        raise SweepError(f"{store.path} is a scenario batch, not a sweep")
    counts = status["status"].value_counts()
    if counts.get("done", 0) < len(status):
        failed, missing = counts.get("failed", 0), counts.get("missing", 0)
        raise SweepError(f"{store.path}: {failed} runs failed and {missing} are missing of "
                         f"{len(status)}; the indices need every design point (finish with "
                         f"'corridor sweep {spec.file} --resume --out {store.path}')")
    return status.sort_values(["design_index", "rep"], kind="stable")


def _stored_outcomes(store: Store, spec: SweepSpec) -> pd.DataFrame:
    """run_id and the sweep's outcomes from the store's summaries. The names come from a
    file or a batch.toml, so they are quoted as SQL identifiers, never pasted in."""
    columns = ", ".join('"' + o.replace('"', '""') + '"' for o in spec.outcomes)
    try:
        return store.query(f"SELECT run_id, {columns} FROM summaries")
    except Exception as exc:  # noqa: BLE001 - DuckDB's binder error for a missing column
        raise SweepError(f"{store.path}: the stored runs lack an outcome ({exc})") from None


def _finite_or_nan(values: pd.Series) -> pd.Series:
    """The values as floats, with None, non-numbers, inf and -inf all turned into NaN."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return numbers.where(np.isfinite(numbers))


def _dropped(outcome: str, bad_points: int, points: int, bad_runs: int, runs: int,
             method: str) -> str:
    """The note (or refusal) for an outcome that is not finite at some design points."""
    return (f"{outcome}: not a finite number at {bad_points} of {points} design points "
            f"(undefined, NaN, infinite or not a number in {bad_runs} of {runs} runs); "
            f"{METHOD_NAMES[method]} needs every design point, so it is not analysed")


def analyse(store: Store, figures: bool = True) -> SweepAnalysis:
    """SALib on a finished sweep store; writes indices.csv (and indices_s2.csv,
    convergence.csv for Sobol'), figures and summary.txt into the store's folder."""
    recorded = store.batch()
    if recorded.get("kind") != "sweep":
        raise SweepError(f"{store.path} holds a scenario batch, not a sweep "
                         "('corridor compare' analyses batches)")
    spec = spec_from_record(recorded.get("sweep"), store.path / "batch.toml")
    seed = stream_seed(_recorded_entropy(store, recorded), ANALYSIS_STREAM)
    X, Y, notes = design_results(store, spec)
    problem = spec.problem()
    rows, s2_rows, conv_rows = [], [], []
    for outcome in Y.columns:
        y = Y[outcome].to_numpy(dtype=float)
        if np.ptp(y) == 0:
            notes.append(f"{outcome}: the same value at every design point; not analysed")
            continue
        if spec.method == "morris":
            rows += _morris(problem, X, y, spec.levels, seed, outcome)
        else:
            found, s2 = _sobol(problem, y, spec.second_order, seed, outcome)
            rows += found
            s2_rows += s2
            conv_rows += _convergence(problem, y, spec, seed, outcome)
    indices = pd.DataFrame(rows, columns=["method", "outcome", "parameter",
                                          *_value_columns(spec.method)])
    s2 = pd.DataFrame(s2_rows, columns=["method", "outcome", "parameter_1", "parameter_2",
                                        "S2", "S2_conf"]) if spec.second_order else None
    convergence = (pd.DataFrame(conv_rows, columns=["outcome", "n", "parameter", "S1",
                                                    "S1_conf", "ST", "ST_conf"])
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


def _recorded_entropy(store: Store, recorded: dict) -> int:
    """The seed entropy batch.toml recorded (a string: TOML integers stop at 2**63)."""
    try:
        entropy = int(recorded["seed_entropy"])
    except (KeyError, TypeError, ValueError):
        entropy = -1
    if entropy < 0:
        raise SweepError(f"{store.path}/batch.toml: seed_entropy: a whole number, 0 or more, "
                         f"is required, got {recorded.get('seed_entropy')!r}")
    return entropy


def _value_columns(method: str) -> list[str]:
    return (["mu", "mu_star", "mu_star_conf", "sigma"] if method == "morris"
            else ["S1", "S1_conf", "ST", "ST_conf"])


def _morris(problem, X, y, levels, seed, outcome) -> list[list]:
    from SALib.analyze import morris as morris_analyze

    res = morris_analyze.analyze(problem, X, y, num_resamples=NUM_RESAMPLES,
                                 conf_level=CONF_LEVEL, num_levels=levels, seed=seed)
    return [["morris", outcome, name, float(res["mu"][i]), float(res["mu_star"][i]),
             float(res["mu_star_conf"][i]), float(res["sigma"][i])]
            for i, name in enumerate(problem["names"])]


def _sobol_indices(problem, y, second_order, seed) -> dict:
    from SALib.analyze import sobol as sobol_analyze

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # tiny subsamples in the convergence
        return sobol_analyze.analyze(problem, y, calc_second_order=second_order,
                                     num_resamples=NUM_RESAMPLES, conf_level=CONF_LEVEL,
                                     seed=seed)


def _sobol(problem, y, second_order, seed, outcome) -> tuple[list[list], list[list]]:
    res = _sobol_indices(problem, y, second_order, seed)
    names = problem["names"]
    rows = [["sobol", outcome, name, float(res["S1"][i]), float(res["S1_conf"][i]),
             float(res["ST"][i]), float(res["ST_conf"][i])] for i, name in enumerate(names)]
    s2 = []
    if second_order:
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                s2.append(["sobol", outcome, names[i], names[j], float(res["S2"][i, j]),
                           float(res["S2_conf"][i, j])])
    return rows, s2


def _convergence(problem, y, spec: SweepSpec, seed, outcome) -> list[list]:
    """Indices recomputed on the first 2^k base samples: whether N was large enough. The
    rows of a Saltelli design come in blocks, one per base sample, so a prefix of blocks is
    itself a (smaller) Saltelli design."""
    d = len(spec.parameters)
    block = 2 * d + 2 if spec.second_order else d + 2
    rows = []
    n = min(CONVERGENCE_MIN_N, spec.n)
    while n <= spec.n:
        res = _sobol_indices(problem, y[: n * block], spec.second_order, seed)
        rows += [[outcome, n, name, float(res["S1"][i]), float(res["S1_conf"][i]),
                  float(res["ST"][i]), float(res["ST_conf"][i])]
                 for i, name in enumerate(problem["names"])]
        n *= 2
    return rows


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda f: f.write(frame.to_csv(index=False).encode()))


def summary_text(store: Store, spec: SweepSpec, points: int, indices: pd.DataFrame,
                 notes: list[str], top: int = 3) -> str:
    """The parameters that matter most per outcome, with the design's size and noise caveat."""
    size = (f"{spec.n} trajectories, {spec.levels} levels" if spec.method == "morris"
            else f"N = {spec.n}{', second order' if spec.second_order else ''}")
    plural = "s" if spec.replications > 1 else ""
    lines = [(f"sweep {spec.name} ({store.path}): {spec.method}, {size}; {points} design "
              f"points x {spec.replications} replication{plural} (averaged per point; "
              "replicate noise deflates the indices)")]
    key = "mu_star" if spec.method == "morris" else "ST"
    for outcome, group in indices.groupby("outcome", sort=False):
        ranked = group.sort_values(key, ascending=False).head(top)
        if spec.method == "morris":
            parts = [f"{r.parameter} (mu* {r.mu_star:.3g} +/- {r.mu_star_conf:.2g}, "
                     f"sigma {r.sigma:.3g})" for r in ranked.itertuples()]
        else:
            parts = [f"{r.parameter} (ST {r.ST:.2f} +/- {r.ST_conf:.2f}, S1 {r.S1:.2f})"
                     for r in ranked.itertuples()]
        lines.append(f"  {outcome}: " + "; ".join(parts))
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
