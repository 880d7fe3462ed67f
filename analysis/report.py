"""The batch report: one self-contained HTML file with embedded figures and tables.

Everything a reader needs to tell, with uncertainty, which scenario protects more
women and girls: the corridor map, daily series with confidence bands, a forest plot
of paired differences, the victim funnel, the comparison table, the patterns table,
and where the numbers came from. Every name that comes from a file is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis import plots
from analysis.compare import HEADLINE_OUTCOMES, compare, default_baseline
from analysis.ensemble import (
    ensemble_compare,
    membership,
    reference_runs,
    reference_variant_name,
    robustness,
    sentences,
)
from analysis.patterns import DEFAULT_PATTERNS, evaluate, load_patterns, tally
from analysis.stats import mean_interval
from analysis.store import Store
from model.ledger import OUTCOME_BY_NAME, PER_YEAR, label

#: Published figures per calendar year, with their sources (set beside per-year outcomes).
RECORD = Path(__file__).resolve().with_name("record.toml")

CAVEAT = ("The model is synthetic: its people are invented and its parameters partly assumed "
          "(docs/ODD.md gives each one's provenance). Its figures compare scenarios run on the "
          "same simulated people; they are not forecasts or estimates of real numbers of victims.")


@dataclass
class BatchData:
    """What the report reads from a batch store."""

    name: str
    summaries: pd.DataFrame
    series: pd.DataFrame
    places: pd.DataFrame
    plan: dict
    env: dict
    notes: list[str] = field(default_factory=list)  # incomplete, skipped or ignored: said first
    replications: dict | None = None  # replications.json, when the replication rule chose reps

    @property
    def scenarios(self) -> list[str]:
        return sorted(self.summaries["scenario"].unique())


def load_batch(store: Store) -> BatchData:
    return BatchData(name=store.name, summaries=store.summaries(), series=store.series(),
                     places=store.places(), plan=store.batch(), env=store.env(),
                     notes=store.notes(), replications=store.replications())


def build_report(data: BatchData, baseline: str | None = None,
                 outcomes: list[str] | None = None,
                 patterns_file: Path = DEFAULT_PATTERNS) -> str:
    """The whole HTML document as a string. For a batch run with --variants, the first
    section says which effects hold across the variants; the others show the reference
    variant (the first), under the base scenarios' names."""
    outcomes = outcomes or [o for o in HEADLINE_OUTCOMES if o in data.summaries.columns]
    members = membership(data.plan)
    ensemble = []
    if members:
        bases = sorted({b for b, _, _ in members.values()})
        base_line = members[baseline][0] if baseline in members else (
            baseline or default_baseline(bases))
        effects = ensemble_compare(data.summaries, members, base_line, outcomes)
        ensemble = [_ensemble_section(effects, base_line)]
        data = reference_variant(data, members)
        baseline = base_line
    baseline = baseline or default_baseline(data.scenarios)
    table = compare(data.summaries, baseline, outcomes)
    order = [baseline] + [s for s in data.scenarios if s != baseline]
    pattern_table = evaluate(load_patterns(patterns_file), data.summaries, data.series, baseline)
    sections = [
        *ensemble,
        _section("Corridor map", _map_figures(data, order),
                 "Link width: people passing (mean per run). Circles: where victims were "
                 "recruited; diamonds: where they were identified."),
        _section("Daily series", [_figure(plots.series_bands(data.series, order),
                                          "Daily series with 95% confidence bands")]),
        _section("Differences from the baseline",
                 [_figure(plots.forest_plot(table, baseline), "Forest plot of paired differences")],
                 f"Each scenario minus {html.escape(baseline)}, run by run with the same seeds; "
                 "95% confidence intervals."),
        _section("Victim funnel", [_figure(plots.victim_funnel(data.summaries, order),
                                           "Victim funnel by sex and age")],
                 "True victims (all, identified or not), victims identified, victims "
                 "protected; mean per run."),
        _section("Comparison table", [_comparison_html(table)],
                 "Mean and 95% CI per scenario; paired difference from the baseline with its "
                 "CI; paired Cohen's d (d_z); Vargha-Delaney A12 (0.5 = no difference; 0.56 "
                 "small, 0.64 medium, 0.71 large); p-values Holm-adjusted over all contrasts."),
        _section("Patterns", [_patterns_html(pattern_table)],
                 f"Real-world patterns ({html.escape(tally(pattern_table))}). Reproduced: the "
                 "whole 95% CI of the model's mean lies inside the source's band; mechanism "
                 "checks test the model's logic and count in no verdict."),
    ]
    if data.replications:
        sections.append(_replications_section(data.replications))
    years = per_year_table(data.summaries)
    if not years.empty:
        sections.append(_section(
            "Per calendar year, beside the published record", [_per_year_html(years)],
            "For scenarios with a calendar: the model's mean per run [95% CI] in each year, "
            "and the national figure published for that year. The corridor carries a fraction "
            "of the country's flows, so compare the indices (each year over the run's first "
            "year), not the levels. A year the run covers only in part counts only its days."))
    return _page(data, baseline, sections)


def per_year_table(summaries: pd.DataFrame, record_file: Path = RECORD) -> pd.DataFrame:
    """Per scenario with per-year outcomes, per published series and year: the model's mean
    [CI], the published figure, and both as an index of the first year (empty without a
    calendar scenario)."""
    record = tomllib.loads(record_file.read_text(encoding="utf-8"))["series"]
    prefix = f"{PER_YEAR}."
    columns = [c for c in summaries.columns if c.startswith(prefix)]
    rows = []
    for scenario, runs in summaries.groupby("scenario"):
        for series in record.values():
            outcome = series["outcome"]
            years = sorted({c.split(".")[1] for c in columns if c.endswith(f".{outcome}")
                            and runs[c].notna().any()})
            first = {}
            for year in years:
                values = runs[f"{prefix}{year}.{outcome}"].dropna().to_numpy(dtype=float)
                mean, ci = float(values.mean()), mean_interval(values)
                published = series["values"].get(year)
                first = first or {"model": mean, "record": published}
                rows.append({"scenario": scenario, "measure": series["label"],
                             "outcome": outcome, "year": year, "n": len(values), "mean": mean,
                             "ci_low": ci.low, "ci_high": ci.high, "published": published,
                             "model_index": _ratio(mean, first["model"]),
                             "record_index": _ratio(published, first["record"]),
                             "source": series["source"]})
    return pd.DataFrame(rows)


def _replications_section(record: dict) -> str:
    """How the replication rule chose this batch's replications: its rounds, why it stopped,
    and the outcomes it left short (from replications.json, a file: every value escaped)."""
    from analysis.replications import stop_summary

    rule, stop = record.get("rule") or {}, record.get("stop") or {}
    head = ("<tr><th>round</th><th>replications per scenario</th><th>runs</th><th>seconds</th>"
            "<th>pairs meeting the rule</th><th>worst (half-width / mean)</th></tr>")
    rows = []
    for r in record.get("rounds", []):
        bad = r.get("worst") or {}
        worst_text = (f"{_outcome_cell(str(bad.get('outcome')))} in "
                      f"{html.escape(str(bad.get('scenario')))}: "
                      f"{_pct(bad.get('rel_half_width'))}" if bad else "&ndash;")
        rows.append(f"<tr><td>{_fmt(r.get('round'))}</td><td>{_fmt(r.get('reps'))}</td>"
                    f"<td>{_fmt(r.get('runs'))}</td><td>{_fmt(r.get('seconds'))}</td>"
                    f"<td>{_fmt(r.get('met'))} of {_fmt(r.get('assessable'))}</td>"
                    f"<td>{worst_text}</td></tr>")
    pairs = [p for p in record.get("pairs", []) if p.get("status") != "met"]
    items = "".join(
        f"<li>{_outcome_cell(str(p.get('outcome')))} in {html.escape(str(p.get('scenario')))}: "
        + (f"not assessable ({html.escape(str(p.get('reason')))})"
           if p.get("status") == "not assessable" else
           f"half-width {_pct(p.get('rel_half_width'))} of the mean, about "
           f"{_fmt(p.get('needed'))} replications needed") + "</li>" for p in pairs)
    budget = rule.get("max_minutes")
    intro = (f"Chosen by the replication rule (<code>corridor batch --reps auto</code>): rounds "
             f"of runs until every watched outcome of every scenario has a 95% CI half-width "
             f"at most {_pct(rule.get('precision'))} of its mean, at most "
             f"{_fmt(rule.get('max_reps'))} replications per scenario"
             f"{f', within {_fmt(budget)} minutes' if budget is not None else ''}. "
             f"{html.escape(stop_summary(record))}: {html.escape(str(stop.get('text', '')))}.")
    parts = [f'<table class="replications">{head}{"".join(rows)}</table>']
    if items:
        parts.append(f"<p>Outcomes short of the rule or not assessable:</p><ul>{items}</ul>")
    return _section("Replications", parts, intro)


def _pct(value) -> str:
    """A fraction as a percentage (0.101 -> 10.1%); anything else as a dash."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.1%}"
    return "&ndash;"


def _whole(value) -> str:
    """A count to the nearest whole number, with thousands separators."""
    number = float(value) if value is not None else math.nan
    return f"{number:,.0f}" if math.isfinite(number) else "&ndash;"


def _ratio(value, first) -> float:
    return value / first if value is not None and first else math.nan


def _per_year_html(table: pd.DataFrame) -> str:
    head = ("<tr><th>scenario</th><th>model outcome / published series</th><th>year</th>"
            "<th>model mean</th><th>95% CI</th><th>published</th><th>model index</th>"
            "<th>record index</th></tr>")
    rows = [f"<tr><td>{html.escape(r['scenario'])}</td><td>{_outcome_cell(r['outcome'])} / "
            f"<span title=\"{html.escape(r['source'])}\">{html.escape(r['measure'])}</span></td>"
            f"<td>{html.escape(r['year'])}</td><td>{_whole(r['mean'])}</td>"
            f"<td>[{_whole(r['ci_low'])}, {_whole(r['ci_high'])}]</td>"
            f"<td>{_whole(r['published'])}</td><td>{_fmt(r['model_index'])}</td>"
            f"<td>{_fmt(r['record_index'])}</td></tr>" for _, r in table.iterrows()]
    sources = "".join(f"<li>{html.escape(m)}: {html.escape(s)}</li>" for m, s in
                      table[["measure", "source"]].drop_duplicates().itertuples(index=False))
    return f'<table class="per-year">{head}{"".join(rows)}</table><ul>{sources}</ul>'


def reference_variant(data: BatchData, members: dict[str, tuple[str, str, str]]) -> BatchData:
    """The batch's runs under its first variant, scenarios under their base names."""
    first = reference_variant_name(members)
    plan = {**data.plan, "scenarios": {
        members[n][0]: entry for n, entry in data.plan.get("scenarios", {}).items()
        if n in members and members[n][1] == first}}
    return BatchData(data.name, reference_runs(data.summaries, members),
                     reference_runs(data.series, members), reference_runs(data.places, members),
                     plan, data.env, data.notes, data.replications)


def _ensemble_section(effects: pd.DataFrame, baseline: str) -> str:
    robust = robustness(effects)
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences(robust, baseline))
    head = ("<tr><th>outcome</th><th>scenario</th><th>variant</th><th>assumption</th>"
            "<th>n</th><th>difference</th><th>95% CI</th></tr>")
    rows = []
    for _, r in effects[effects["diff"].notna()].iterrows():
        rows.append(f"<tr><td>{_outcome_cell(r['outcome'])}</td>"
                    f"<td>{html.escape(r['scenario'])}</td><td>{html.escape(r['variant'])}</td>"
                    f"<td>{html.escape(r['assumption'])}</td><td>{r['n']}</td>"
                    f"<td>{_fmt(r['diff'])}</td>"
                    f"<td>[{_fmt(r['diff_ci_low'])}, {_fmt(r['diff_ci_high'])}]</td></tr>")
    table = f'<table class="comparison">{head}{"".join(rows)}</table>'
    strip = _figure(plots.ensemble_strip(effects, baseline), "Effects under each variant")
    return _section(
        "What holds across the ensemble", [f"<ul>{items}</ul>", strip, table],
        f"Each scenario against {html.escape(baseline)} within each variant of the batch "
        "(other assumptions, paired by seed). An effect holds when its sign is the same "
        "under every variant; otherwise the variants that turn it, and their assumptions, "
        "are named. The sections below show the first (reference) variant.")


def _map_figures(data: BatchData, order: list[str]) -> list[str]:
    figures = []
    for scenario in order:
        entry = data.plan.get("scenarios", {}).get(scenario, {})
        corridor = entry.get("resolved", {}).get("corridor")
        if not corridor:
            continue
        columns = ["place", "passed", "recruited", "identified"]
        if "place" in data.places.columns:
            per_place = data.places[data.places["scenario"] == scenario]
            means = per_place.groupby("place")[columns[1:]].mean().reset_index()
        else:  # a batch stored before places were recorded: draw the corridor only
            means = pd.DataFrame(columns=columns)
        fig = plots.corridor_map(corridor["places"], corridor["links"], means, scenario)
        figures.append(_figure(fig, f"Corridor map, {scenario}"))
    return figures or ["<p>No corridor recorded in this batch's plan.</p>"]


def _figure(fig: plt.Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


def _section(title: str, parts: list[str], intro: str = "") -> str:
    lead = f"<p>{intro}</p>" if intro else ""
    return f"<section><h2>{html.escape(title)}</h2>{lead}{''.join(parts)}</section>"


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:,.{digits}g}"
    return html.escape(str(value))


def _outcome_cell(outcome: str) -> str:
    """The outcome's label from the catalogue, its meaning as a tooltip."""
    entry = OUTCOME_BY_NAME.get(outcome)
    meaning = f' title="{html.escape(entry.meaning)}"' if entry else ""
    return f"<span{meaning}>{html.escape(label(outcome))}</span>"


def _comparison_html(table: pd.DataFrame) -> str:
    head = ("<tr><th>outcome</th><th>scenario</th><th>n</th><th>mean</th><th>95% CI</th>"
            "<th>difference</th><th>95% CI</th><th>d_z</th><th>A12</th><th>p (Holm)</th></tr>")
    rows = []
    for _, r in table.iterrows():
        rows.append(
            f"<tr><td>{_outcome_cell(r['outcome'])}</td><td>{html.escape(r['scenario'])}</td>"
            f"<td>{r['n']}</td><td>{_fmt(r['mean'])}</td>"
            f"<td>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</td><td>{_fmt(r['diff'])}</td>"
            f"<td>[{_fmt(r['diff_ci_low'])}, {_fmt(r['diff_ci_high'])}]</td>"
            f"<td>{_fmt(r['d_z'])}</td><td>{_fmt(r['a12'], 2)}</td><td>{_fmt(r['p_holm'], 2)}</td></tr>")
    return f'<table class="comparison">{head}{"".join(rows)}</table>'


def _patterns_html(table: pd.DataFrame) -> str:
    head = ("<tr><th>pattern</th><th>role</th><th>scenario</th><th>measure</th><th>band</th>"
            "<th>model (95% CI)</th><th>verdict</th><th>source</th></tr>")
    rows = []
    for _, r in table.iterrows():
        value = f"{_fmt(r['mean'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        css = {"reproduced": "yes", "not reproduced": "no"}.get(r["verdict"], "maybe")
        rows.append(f"<tr><td>{html.escape(r['pattern'])}</td><td>{html.escape(r['role'])}</td>"
                    f"<td>{html.escape(r['scenario'])}</td><td>{html.escape(r['measure'])}"
                    f"</td><td>{html.escape(r['target'])}</td><td>{value}</td>"
                    f"<td class=\"{css}\">{html.escape(r['verdict'])} {html.escape(r['note'])}</td>"
                    f"<td>{html.escape(r['source'])}</td></tr>")
    return f'<table class="patterns">{head}{"".join(rows)}</table>'


def _page(data: BatchData, baseline: str, sections: list[str]) -> str:
    plan, env = data.plan, data.env
    git = env.get("git", {})
    reps = plan.get("reps", data.summaries.groupby("scenario").size().max())
    files = {name: entry.get("file", "?") for name, entry in plan.get("scenarios", {}).items()}
    footer = (
        f"<p>Batch <code>{html.escape(data.name)}</code>; git commit "
        f"<code>{html.escape(str(git.get('commit', 'unknown')))}</code>"
        f"{' (uncommitted changes)' if git.get('dirty') else ''}; {html.escape(str(reps))} "
        f"replications per scenario; seed entropy <code>{html.escape(str(plan.get('seed_entropy', '?')))}"
        f"</code>; days {html.escape(str(plan.get('days', '?')))}.</p>"
        f"<p>Scenario files: {html.escape(', '.join(f'{k}: {v}' for k, v in files.items()) or ', '.join(data.scenarios))}"
        f".</p><p>Report written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>")
    title = f"Corridor trafficking-risk report: {data.name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
td:first-child, td:nth-child(2), th {{ text-align: left; }}
td.yes {{ color: #0072B2; font-weight: bold; }} td.no {{ color: #D55E00; font-weight: bold; }}
td.maybe {{ color: #555; font-style: italic; }}
figure img {{ max-width: 100%; }} .caveat {{ background: #fff6e0; padding: 0.8em; }}
.note {{ background: #fde8e0; padding: 0.5em 0.8em; font-weight: bold; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{''.join(f'<p class="note">{html.escape(note)}</p>' for note in data.notes)}
<p>Scenarios: {html.escape(', '.join(data.scenarios))}; baseline: {html.escape(baseline)}.</p>
<p class="caveat"><strong>Caveat.</strong> {html.escape(CAVEAT)}</p>
{''.join(sections)}
<footer><h2>Provenance</h2>{footer}</footer>
</body></html>
"""


def write_report(html_text: str, out: Path) -> Path:
    from analysis.files import atomic_write

    out.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(out, lambda f: f.write(html_text.encode()))
