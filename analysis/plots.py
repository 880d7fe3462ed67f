"""Figures for the report (matplotlib, colour-blind-safe Okabe-Ito palette).

Each function takes tidy tables and returns a matplotlib Figure; the report
module turns figures into embedded PNGs.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # no screen needed: figures go to files and HTML
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from model.ledger import label

#: Okabe & Ito (2008) colours, distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]

#: For text that comes from a file (place names): drawn as written, never as maths or
#: LaTeX, so a name like "$\frac{a}$" can neither break a figure nor run TeX.
LITERAL = {"parse_math": False, "usetex": False}

SERIES_PANELS = (
    ("exploited", "People in exploitation"),
    ("identified", "Victims identified (awaiting referral)"),
    ("protected", "Victims in shelters"),
    ("waiting", "People waiting at the hub"),
    ("detained", "People detained"),
    ("traffickers_active", "Traffickers active"),
)


def scenario_colours(scenarios: list[str]) -> dict[str, str]:
    return {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(scenarios)}


def corridor_map(places: list[dict], links: list[dict], per_place: pd.DataFrame,
                 scenario: str) -> plt.Figure:
    """The corridor drawn at real coordinates: link width by flow, where victims were
    recruited (circles) and identified (diamonds), means over replications."""
    fig, ax = plt.subplots(figsize=(8.5, 6.5))
    where = {p["id"]: (p["lon"], p["lat"]) for p in places}
    flows = per_place.set_index("place")["passed"] if len(per_place) else pd.Series(dtype=float)
    top = max(float(flows.max()) if len(flows) else 1.0, 1.0)
    for link in links:
        (x0, y0), (x1, y1) = where[link["a"]], where[link["b"]]
        through = min(flows.get(link["a"], 0.0), flows.get(link["b"], 0.0))
        width = 0.8 + 7.0 * through / top
        style = "--" if link.get("route") == "bypass" else "-"
        ax.plot([x0, x1], [y0, y1], style, color="#999999", linewidth=width, zorder=1,
                solid_capstyle="round")
    kinds = {"crossing": "s", "hub": "*", "checkpoint": "X", "transit": "o", "bypass": "v",
             "exit": "^"}
    for place in places:
        x, y = where[place["id"]]
        ax.scatter([x], [y], marker=kinds.get(place["kind"], "o"), s=70, color="#000000",
                   zorder=3)
        ax.annotate(place["name"], (x, y), textcoords="offset points", xytext=(6, 6),
                    fontsize=8, **LITERAL)
    if len(per_place):
        data = per_place.set_index("place")
        scale = max(float(data["recruited"].max()), 1.0)
        for place_id, row in data.iterrows():
            x, y = where[place_id]
            if row["recruited"] > 0:
                ax.scatter([x], [y], s=60 + 900 * row["recruited"] / scale, color=OKABE_ITO[3],
                           alpha=0.45, zorder=2, label="_r")
            if row["identified"] > 0:
                ax.scatter([x], [y], s=30 + 900 * row["identified"] / scale, marker="D",
                           color=OKABE_ITO[0], alpha=0.7, zorder=4, label="_i")
    handles = [
        plt.Line2D([], [], color="#999999", linewidth=4, label="road (width: people passing)"),
        plt.Line2D([], [], color="#999999", linestyle="--", linewidth=2, label="bypass path"),
        plt.Line2D([], [], marker="o", linestyle="", color=OKABE_ITO[3], alpha=0.45,
                   markersize=12, label="victims recruited here"),
        plt.Line2D([], [], marker="D", linestyle="", color=OKABE_ITO[0], alpha=0.7,
                   markersize=9, label="victims identified here"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=True)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(f"Corridor: flows and victims, {scenario} (mean per run)")
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig


def series_bands(series: pd.DataFrame, scenarios: list[str]) -> plt.Figure:
    """Daily counts per scenario: mean over replications with a 95% confidence band."""
    panels = [(c, t) for c, t in SERIES_PANELS if c in series.columns]
    cols = 2
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.1 * rows), sharex=True, squeeze=False)
    colours = scenario_colours(scenarios)
    for ax, (column, title) in zip(axes.flat, panels, strict=False):
        for scenario in scenarios:
            block = series[series["scenario"] == scenario]
            if block.empty:
                continue
            stats = block.groupby("day")[column].agg(["mean", "std", "count"])
            half = 1.96 * stats["std"].fillna(0) / np.sqrt(stats["count"].clip(lower=1))
            ax.plot(stats.index, stats["mean"], color=colours[scenario], label=scenario,
                    linewidth=1.4)
            ax.fill_between(stats.index, stats["mean"] - half, stats["mean"] + half,
                            color=colours[scenario], alpha=0.2, linewidth=0)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("day")
    axes.flat[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Daily series: mean over replications, 95% confidence band", fontsize=11)
    fig.tight_layout()
    return fig


def _outcome_panels(n_outcomes: int, height_per_row: float):
    """A grid of four panels a row, one per outcome; the panels left over are hidden."""
    cols = 4
    rows = max(1, math.ceil(n_outcomes / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 1.2 + height_per_row * rows + rows),
                             squeeze=False)
    for ax in axes.flat[n_outcomes:]:
        ax.set_visible(False)
    return fig, axes


def _percent_factor(base_means: pd.Series, outcome: str) -> tuple[float, bool]:
    """The factor that puts differences in % of the baseline's mean, and whether it does
    (not when that mean is 0 or unknown: then differences stay as they are)."""
    scale = abs(float(base_means.get(outcome, np.nan)))
    relative = math.isfinite(scale) and scale > 0
    return (100.0 / scale if relative else 1.0), relative


def _style_panel(ax, outcome: str, scenarios: list[str], relative: bool) -> None:
    """A difference panel: zero line, one row per scenario (first on top), the outcome's label."""
    ax.axvline(0, color="#000000", linewidth=0.8)
    ax.set_yticks(range(len(scenarios)), scenarios[::-1], fontsize=7)
    ax.set_title(label(outcome), fontsize=8)
    ax.set_xlabel("% of baseline" if relative else "difference", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.7, len(scenarios) - 0.3)


def forest_plot(table: pd.DataFrame, baseline: str) -> plt.Figure:
    """Paired differences from the baseline with 95% CIs: one small panel per outcome,
    in % of the baseline's mean (absolute when the baseline mean is 0)."""
    contrasts = table[table["scenario"] != baseline]
    base_means = table[table["scenario"] == baseline].set_index("outcome")["mean"]
    outcomes = list(dict.fromkeys(contrasts["outcome"]))
    scenarios = list(dict.fromkeys(contrasts["scenario"]))
    colours = scenario_colours([baseline, *scenarios])
    fig, axes = _outcome_panels(len(outcomes), 0.32 * len(scenarios))
    for ax, outcome in zip(axes.flat, outcomes, strict=False):
        factor, relative = _percent_factor(base_means, outcome)
        for y, scenario in enumerate(scenarios[::-1]):
            row = contrasts[(contrasts["outcome"] == outcome) & (contrasts["scenario"] == scenario)]
            if row.empty or not np.isfinite(row["diff"].iloc[0]):
                continue
            r = row.iloc[0]
            mid, low, high = (factor * r[k] for k in ("diff", "diff_ci_low", "diff_ci_high"))
            ax.errorbar(mid, y, xerr=[[max(mid - low, 0)], [max(high - mid, 0)]],
                        fmt=MARKERS[scenarios.index(scenario) % len(MARKERS)],
                        color=colours[scenario], capsize=3)
        _style_panel(ax, outcome, scenarios, relative)
    fig.suptitle(f"Each scenario minus {baseline}, paired by seed, with 95% CIs", fontsize=11)
    fig.tight_layout()
    return fig


def ensemble_strip(effects: pd.DataFrame, baseline: str) -> plt.Figure:
    """The distribution of each effect over an ensemble's variants: one dot per variant (the
    reference variant, the first, as a larger black diamond), one row per scenario, one panel
    per outcome, in % of the baseline's mean under the reference variant."""
    reference = effects["variant"].iloc[0]
    contrasts = effects[effects["diff"].notna()]
    base = effects[(effects["scenario"] == baseline) & (effects["variant"] == reference)]
    base_means = base.set_index("outcome")["mean"]
    outcomes = list(dict.fromkeys(contrasts["outcome"]))
    scenarios = list(dict.fromkeys(contrasts["scenario"]))
    colours = scenario_colours([baseline, *scenarios])
    fig, axes = _outcome_panels(len(outcomes), 0.4 * len(scenarios))
    for ax, outcome in zip(axes.flat, outcomes, strict=False):
        factor, relative = _percent_factor(base_means, outcome)
        for y, scenario in enumerate(scenarios[::-1]):
            block = contrasts[(contrasts["outcome"] == outcome)
                              & (contrasts["scenario"] == scenario)]
            others = block[block["variant"] != reference]
            ax.scatter(factor * others["diff"], [y] * len(others), s=14, alpha=0.6,
                       color=colours[scenario])
            ref = block[block["variant"] == reference]
            ax.scatter(factor * ref["diff"], [y] * len(ref), s=40, marker="D", color="#000000")
        _style_panel(ax, outcome, scenarios, relative)
    fig.suptitle(f"Each scenario minus {baseline} under each variant (diamond: {reference})",
                 fontsize=11)
    fig.tight_layout()
    return fig


def victim_funnel(summaries: pd.DataFrame, scenarios: list[str]) -> plt.Figure:
    """True -> identified -> protected victims per scenario, overall and by sex and age."""
    groups = [("all", ""), ("women and girls", "_female"), ("men and boys", "_male"),
              ("minors", "_minor")]
    stages = [("true", "victims_true"), ("identified", "victims_identified"),
              ("protected", "victims_protected")]
    fig, axes = plt.subplots(1, len(groups), figsize=(13, 3.8), sharey=False)
    colours = scenario_colours(scenarios)
    width = 0.8 / max(1, len(scenarios))
    for ax, (title, suffix) in zip(axes, groups, strict=True):
        for i, scenario in enumerate(scenarios):
            block = summaries[summaries["scenario"] == scenario]
            means = [block[f"{column}{suffix}"].mean() if f"{column}{suffix}" in block else 0.0
                     for _, column in stages]
            x = np.arange(len(stages)) + (i - (len(scenarios) - 1) / 2) * width
            ax.bar(x, means, width=width, color=colours[scenario], label=scenario,
                   hatch=["", "//", "..", "xx", "\\\\", "++", "oo", "**"][i % 8],
                   edgecolor="white")
        ax.set_xticks(range(len(stages)), [s for s, _ in stages])
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("people per run (mean)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Victim funnel: true, identified, protected", fontsize=11)
    fig.tight_layout()
    return fig
