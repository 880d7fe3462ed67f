"""Figures of a sensitivity sweep, one PNG per outcome and kind, in `runs/<sweep>/figures/`.

Morris: mu* against sigma (Campolongo et al. 2007), so influential (right) and non-linear or
interacting (high) parameters stand apart. Sobol': S1 and ST bars with their bootstrap
confidence intervals, and the indices over growing N to show whether N sufficed.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed on a server or in tests
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.files import atomic_write


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def sweep_figures(folder: Path, spec, indices: pd.DataFrame,
                  convergence: pd.DataFrame | None) -> list[Path]:
    """Every figure of a sweep; returns the files written."""
    files = []
    for outcome, group in indices.groupby("outcome", sort=False):
        if spec.method == "morris":
            files.append(_save(morris_figure(outcome, group, spec),
                               folder / f"morris_{_slug(outcome)}.png"))
        else:
            files.append(_save(sobol_figure(outcome, group, spec),
                               folder / f"sobol_{_slug(outcome)}.png"))
            if convergence is not None:
                conv = convergence[convergence["outcome"] == outcome]
                files.append(_save(convergence_figure(outcome, conv, spec),
                                   folder / f"sobol_convergence_{_slug(outcome)}.png"))
    return files


def morris_figure(outcome: str, group: pd.DataFrame, spec):
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.errorbar(group["mu_star"], group["sigma"], xerr=group["mu_star_conf"], fmt="o",
                color="tab:blue", ecolor="lightgray", capsize=2)
    for row in group.itertuples():
        ax.annotate(row.parameter, (row.mu_star, row.sigma), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    top = max(group["mu_star"].max(), group["sigma"].max(), 1e-12)
    ax.plot([0, top], [0, top], ls="--", lw=0.8, color="gray", label="sigma = mu*")
    ax.set_xlabel("mu* (mean |elementary effect|)")
    ax.set_ylabel("sigma (spread of elementary effects)")
    ax.set_title(f"Morris: {outcome} ({spec.n} trajectories, R = {spec.replications})")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def sobol_figure(outcome: str, group: pd.DataFrame, spec):
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(group) + 2), 4))
    x = np.arange(len(group))
    ax.bar(x - 0.2, group["S1"], 0.4, yerr=group["S1_conf"], capsize=3, label="S1 (first order)")
    ax.bar(x + 0.2, group["ST"], 0.4, yerr=group["ST_conf"], capsize=3, label="ST (total)")
    ax.set_xticks(x, group["parameter"], rotation=30, ha="right", fontsize=8)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("index (95% bootstrap CI)")
    ax.set_title(f"Sobol': {outcome} (N = {spec.n}, R = {spec.replications})")
    ax.legend(fontsize=8)
    return fig


def convergence_figure(outcome: str, conv: pd.DataFrame, spec):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, index in zip(axes, ("S1", "ST"), strict=True):
        for name, rows in conv.groupby("parameter", sort=False):
            ax.plot(rows["n"], rows[index], marker="o", label=name)
            ax.fill_between(rows["n"], rows[index] - rows[f"{index}_conf"],
                            rows[index] + rows[f"{index}_conf"], alpha=0.15)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("base sample N (first N of the design)")
        ax.set_title(f"{index} of {outcome}")
    axes[0].set_ylabel("index")
    axes[1].legend(fontsize=7)
    return fig
