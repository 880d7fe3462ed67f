"""What `corridor calibrate` leaves in its folder, written whenever a run returns (finished,
out of budget, or interrupted): generations.csv, accepted.parquet, constraints.csv,
posterior.png, ensemble/ (one scenario file per accepted set, extending a copy of the base
scenario) and a printed summary."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from analysis.calibrate import (
    ESS_WARN_DIVISOR,
    FAILURE_WARN_SHARE,
    CalibrateReport,
    band_errors,
    read_sims,
)
from analysis.calibrate_file import CalibrationSpec
from analysis.plan import resolved_dict
from model.scenario import load_scenario

ENSEMBLE_DIR = "ensemble"


def export(history, spec: CalibrationSpec, out: Path, report: CalibrateReport) -> CalibrateReport:
    from pyabc.weighted_statistics import effective_sample_size, weighted_quantile

    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0].copy()
    sims = read_sims(out, spec.names, spec.targets)
    report.runs = len(sims)
    lines = []
    if pops.empty:
        report.summary = (f"{out}: no generation finished yet ({len(sims)} runs logged in "
                          f"{out}/sims/); nothing to export")
        return report
    pops["acceptance_rate"] = pops["particles"] / pops["samples"]
    pops["ess"] = [effective_sample_size(history.get_distribution(m=0, t=t)[1])
                   for t in pops["t"]]
    generations = pops[["t", "epsilon", "samples", "particles", "acceptance_rate", "ess",
                        "wall_time", "population_end_time"]]
    files = [out / "generations.csv", out / "accepted.parquet", out / "constraints.csv",
             out / "posterior.png"]
    generations.to_csv(files[0], index=False)
    t = int(history.max_t)
    accepted = accepted_frame(history, spec, t)
    accepted.to_parquet(files[1], index=False)
    constraints = constraint_table(sims, accepted, spec)
    constraints.to_csv(files[2], index=False)
    plot_posterior(accepted, generations, spec, files[3])
    files.append(write_ensemble(accepted, spec, out / ENSEMBLE_DIR))
    report.generations = len(pops)
    report.files = files

    n = spec.abc.population_size
    ess = float(pops["ess"].iloc[-1])
    in_bands = float(np.average(accepted["in_all_bands"], weights=accepted["weight"]))
    lines.append(f"{out}: {len(pops)} generations (last t={t}, epsilon "
                 f"{pops['epsilon'].iloc[-1]:.4g}), {history.total_nr_simulations} runs in the "
                 f"history, {len(sims)} logged; final ESS {ess:.1f} of {len(accepted)}; "
                 f"{in_bands:.0%} of the posterior weight hits every band")
    lines.append("posterior (weighted median and 95% interval; prior range):")
    width = max(len(p.name) for p in spec.parameters)
    for p in spec.parameters:
        x, w = accepted[p.name].to_numpy(), accepted["weight"].to_numpy()
        lo, med, hi = (float(weighted_quantile(x, w, alpha=a)) for a in (0.025, 0.5, 0.975))
        lines.append(f"  {p.name:<{width}}  {med:.4g} [{lo:.4g}, {hi:.4g}]   prior "
                     f"[{p.low:g}, {p.high:g}]{' log' if p.log else ''}")
    if ess < n / ESS_WARN_DIVISOR:
        lines.append(f"warning: the final ESS {ess:.1f} is below N/{ESS_WARN_DIVISOR} = "
                     f"{n / ESS_WARN_DIVISOR:.1f}: a few particles carry the weight; resume "
                     "for one more generation (raise max_generations) before using it")
    if len(sims):
        failed = int(sims["failed"].fillna(0).astype(int).sum())
        share = failed / len(sims)
        if share > FAILURE_WARN_SHARE:
            first = sims.loc[sims["failed"] == 1, "error"].dropna()
            lines.append(f"warning: {failed} of {len(sims)} runs failed ({share:.0%}); first "
                         f"error: {first.iloc[0] if len(first) else '?'} (see {out}/sims/)")
    lines.append("which patterns constrain which parameters (Spearman rank correlation, over "
                 "all logged runs, between the parameter and the pattern's value; and the "
                 "posterior 95% interval as a share of the prior's):")
    lines.extend(f"  {row}" for row in format_constraints(constraints))
    if report.interrupted:
        lines.append(f"interrupted: resume with 'corridor calibrate {spec.file} --resume "
                     f"--out {out}'")
    lines.append(f"wrote {', '.join(f.name for f in files)}, env.json and sims/ in {out}")
    report.summary = "\n".join(lines)
    return report


def accepted_frame(history, spec: CalibrationSpec, t: int) -> pd.DataFrame:
    """The accepted particles of generation t: parameters, weight, distance, each pattern's
    value, the run's seed (an integer), failed, run_s, and whether it hit every band."""
    # pyabc's own tidy=True pivot drops particles (measured: one row of five); pivot here
    long = history.get_population_extended(t=t, tidy=False)
    by_particle = long.groupby("particle_id", sort=True)
    params = long.pivot_table(index="particle_id", columns="par_name", values="par_val",
                              aggfunc="first")
    stats = long.pivot_table(index="particle_id", columns="sumstat_name", values="sumstat_val",
                             aggfunc="first")
    frame = pd.DataFrame({p.name: params[p.name].astype(float) for p in spec.parameters})
    frame["weight"] = by_particle["w"].first().astype(float)
    frame["distance"] = by_particle["distance"].first().astype(float)
    for target in spec.targets:
        frame[target.id] = stats[target.id].astype(float)
    frame["seed"] = stats["seed"].round().astype("int64")
    frame["failed"] = stats["failed"].round().astype("int64")
    frame["run_s"] = stats["run_s"].astype(float)
    frame = frame.reset_index(drop=True)
    errors = frame.apply(lambda row: band_errors(spec.targets, row.to_dict()), axis=1)
    frame["in_all_bands"] = [all(e == 0 for e in err.values()) for err in errors]
    frame.insert(0, "t", t)
    return frame


def constraint_table(sims: pd.DataFrame, accepted: pd.DataFrame,
                     spec: CalibrationSpec) -> pd.DataFrame:
    """Per pattern and parameter: Spearman's rank correlation over every logged run between
    the parameter and the pattern's value, and the narrowing of the posterior: its 95%
    interval's width over the prior's (log scale for a log prior). A strong correlation says
    the parameter moves the pattern, so the pattern's band constrains it (the distance from a
    band is V-shaped in a parameter, so it is the value, not the distance, that is
    correlated); a width well below 1 says the patterns together pin the parameter. The runs
    are those ABC chose, denser where the posterior is, so this is a screening, not a
    sensitivity index."""
    from pyabc.weighted_statistics import weighted_quantile
    from scipy import stats

    rows = []
    for p in spec.parameters:
        x, w = accepted[p.name].to_numpy(), accepted["weight"].to_numpy()
        lo, hi = (float(weighted_quantile(x, w, alpha=a)) for a in (0.025, 0.975))
        if p.log:
            width = (math.log(hi) - math.log(lo)) / (math.log(p.high) - math.log(p.low))
        else:
            width = (hi - lo) / (p.high - p.low)
        for target in spec.targets:
            rho, n = math.nan, 0
            column = target.id
            if not sims.empty and column in sims:
                pair = sims[[p.name, column]].dropna()
                n = len(pair)
                if n >= 3 and pair[column].nunique() > 1 and pair[p.name].nunique() > 1:
                    rho = float(stats.spearmanr(pair[p.name], pair[column]).statistic)
            rows.append({"pattern": target.id, "parameter": p.name, "spearman_rho": rho,
                         "runs": n, "posterior_width_share": width})
    return pd.DataFrame(rows)


def format_constraints(table: pd.DataFrame) -> list[str]:
    lines = []
    for pattern, rows in table.groupby("pattern", sort=False):
        parts = []
        for row in rows.sort_values("spearman_rho", key=abs, ascending=False,
                                    na_position="last").itertuples():
            rho = "n/a" if not math.isfinite(row.spearman_rho) else f"{row.spearman_rho:+.2f}"
            parts.append(f"{row.parameter} {rho}")
        lines.append(f"{pattern}: {', '.join(parts)}")
    widths = table.drop_duplicates("parameter")
    lines.append("posterior width / prior width: " + ", ".join(
        f"{r.parameter} {r.posterior_width_share:.2f}" for r in widths.itertuples()))
    return lines


def plot_posterior(accepted: pd.DataFrame, generations: pd.DataFrame, spec: CalibrationSpec,
                   path: Path) -> None:
    """Weighted marginals on the diagonal, particles of each pair below it (colour = weight),
    and epsilon, acceptance rate and ESS by generation in the bottom row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    names = spec.names
    d = len(names)
    size = max(d, 3)  # columns: the pairs, or the three diagnostics if wider
    fig = plt.figure(figsize=(2.6 * size, 2.6 * (d + 1)))
    grid = fig.add_gridspec(d + 1, size)
    w = accepted["weight"].to_numpy()
    for i, a in enumerate(names):
        prior = next(p for p in spec.parameters if p.name == a)
        for j, b in enumerate(names[: i + 1]):
            ax = fig.add_subplot(grid[i, j])
            if i == j:
                bins = (np.geomspace(prior.low, prior.high, 21) if prior.log
                        else np.linspace(prior.low, prior.high, 21))
                ax.hist(accepted[a], bins=bins, weights=w, color="#4477aa")
                ax.set_xlim(prior.low, prior.high)
                ax.set_yticks([])
            else:
                ax.scatter(accepted[b], accepted[a], c=w, s=8, cmap="viridis")
                other = next(p for p in spec.parameters if p.name == b)
                ax.set_xlim(other.low, other.high)
                ax.set_ylim(prior.low, prior.high)
            other = next(p for p in spec.parameters if p.name == b)
            if other.log:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            if prior.log and i != j:
                ax.set_yscale("log")
                ax.yaxis.set_minor_formatter(NullFormatter())
            if i == d - 1:
                ax.set_xlabel(b, fontsize=7)
            if j == 0 and i != j:
                ax.set_ylabel(a, fontsize=7)
            ax.tick_params(labelsize=6)
    panels = [("epsilon", "epsilon (band distance)"), ("acceptance_rate", "acceptance rate"),
              ("ess", "effective sample size")]
    for k, (column, title) in enumerate(panels):
        ax = fig.add_subplot(grid[d, k])
        values = generations[column].replace([np.inf, -np.inf], np.nan)
        ax.plot(generations["t"], values, marker="o")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("generation", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"calibration {spec.name}: posterior of generation "
                 f"{int(accepted['t'].iloc[0])} ({len(accepted)} particles)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_ensemble(accepted: pd.DataFrame, spec: CalibrationSpec, folder: Path) -> Path:
    """ensemble/base.toml (the base scenario as resolved) and one scenario file per accepted
    set that `extends` it with the set's values; weights.csv lists files and weights. The
    first file is loaded back, so a file that would not load fails here, not later."""
    folder.mkdir(exist_ok=True)
    for old in folder.glob("set-*.toml"):
        old.unlink()
    base = resolved_dict(spec.base)
    (folder / "base.toml").write_text(
        f"# {spec.base_path} as resolved when the calibration ran; the set files extend it\n"
        + tomli_w.dumps(base), encoding="utf-8")
    rows = []
    digits = len(str(len(accepted)))
    for k, row in enumerate(accepted.itertuples(index=False), start=1):
        values = dict(zip(accepted.columns, row, strict=True))
        name = f"set-{k:0{digits}d}"
        data: dict = {"extends": "base.toml", "name": f"{spec.name}-{name}",
                      "description": f"{spec.base.name} with calibrated parameter set {k} "
                      f"(weight {values['weight']:.4g}) of {spec.name}"}
        for p in spec.parameters:
            block, _, key = p.name.partition(".")
            if key:
                data.setdefault(block, {})[key] = float(values[p.name])
            else:
                data[block] = float(values[p.name])
        (folder / f"{name}.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
        rows.append({"file": f"{name}.toml", "weight": values["weight"],
                     "seed": values["seed"], **{p.name: values[p.name]
                                               for p in spec.parameters}})
    pd.DataFrame(rows).to_csv(folder / "weights.csv", index=False)
    write_variants(rows, spec, folder / VARIANTS_FILE)
    if rows:
        load_scenario(folder / rows[0]["file"])
    return folder


VARIANTS_FILE = "variants.toml"


def write_variants(rows: list[dict], spec: CalibrationSpec, path: Path) -> None:
    """The accepted sets as a variants file (`analysis.ensemble`): `corridor batch
    scenarios/*.toml --variants <out>/ensemble/variants.toml` runs every scenario under every
    set, and `compare --ensemble` says which effects keep their sign across them. The first
    variant is the shipped parameters (the reference), then each set, heaviest first."""
    variants = [{"name": "shipped", "assumption": f"the shipped parameters of "
                 f"{spec.base.name} (not calibrated)", "set": {}}]
    for row in sorted(rows, key=lambda r: -r["weight"]):
        name = row["file"].removesuffix(".toml")
        values = {p.name: float(row[p.name]) for p in spec.parameters}
        shown = ", ".join(f"{k} = {v:.4g}" for k, v in values.items())
        variants.append({"name": name, "assumption": f"calibrated set (weight "
                         f"{row['weight']:.3g}): {shown}", "set": values})
    header = ("# Accepted parameter sets of the calibration, as a variants file for "
              "`corridor batch --variants`\n")
    path.write_text(header + tomli_w.dumps({"variants": variants}), encoding="utf-8")
