"""Comparison, report and patterns through the real command line, on a small real batch."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import BASELINE, run_cli

#: A 30-day warm-up instead of the baseline's 120 (a third of the cost): what is tested is the
#: comparison, report and patterns machinery, and with it every outcome still has a mean, the
#: report the same figures, headings and tables, and the tighter border its higher bypass share.
SMALL = 'days = 20\nwarmup_days = 30\n[arrivals]\ndaily_rate = 30\n'

#: Every test here reads the module's batch: with `--dist loadgroup` one xdist worker builds
#: it once for all of them, instead of once per worker.
pytestmark = pytest.mark.xdist_group("report-batch")


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Three replicates of a small baseline, of its exact twin, and of a tighter border."""
    root = tmp_path_factory.mktemp("report")
    folder = root / "scenarios"
    folder.mkdir()
    shutil.copy(BASELINE, folder / "baseline_2018.toml")
    (folder / "small.toml").write_text(f'extends = "baseline_2018.toml"\n{SMALL}')
    (folder / "twin.toml").write_text(f'extends = "baseline_2018.toml"\n{SMALL}')
    (folder / "tight.toml").write_text(
        f'extends = "baseline_2018.toml"\n{SMALL}[border_tightening]\nenabled = true\n')
    out = root / "runs" / "small-batch"
    result = run_cli("batch", str(folder / "small.toml"), str(folder / "twin.toml"),
                     str(folder / "tight.toml"), "--reps", "3", "--workers", "0", "--quiet",
                     "--seed-entropy", "42", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_a_twin_scenario_differs_by_exactly_zero(batch):
    result = run_cli("compare", str(batch), "--baseline", "small", "--json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    twins = [r for r in records if r["scenario"] == "twin"]
    assert twins and all(r["diff"] == 0 and r["a12"] == 0.5 for r in twins
                         if r["mean"] is not None)
    keys = ["outcome", "scenario", "n", "mean", "ci_low", "ci_high", "diff", "diff_ci_low",
            "diff_ci_high", "d_z", "a12", "p_holm"]
    assert all(list(r) == keys for r in records)
    tight = [r for r in records if r["scenario"] == "tight" and r["outcome"] == "bypass_share"]
    assert tight[0]["diff"] > 0


def test_compare_prints_a_table_and_says_whether_replications_suffice(batch):
    result = run_cli("compare", str(batch), "--baseline", "small", "--outcomes",
                     "bypass_share,detentions")
    assert result.returncode == 0, result.stderr
    assert "bypass_share" in result.stdout and "detentions" in result.stdout
    assert re.search(r"runs for 10%: (enough|more needed)", result.stdout)
    csv = run_cli("compare", str(batch), "--baseline", "small", "--csv")
    assert csv.stdout.splitlines()[0] == ("outcome,scenario,n,mean,ci_low,ci_high,diff,"
                                          "diff_ci_low,diff_ci_high,d_z,a12,p_holm")


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headings, self.tables, self._in = [], [], 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append((attrs.get("alt", ""), attrs.get("src", "")))
        if tag in ("h2", "h1"):
            self._in = tag
        if tag == "table":
            self.tables += 1

    def handle_data(self, data):
        if self._in:
            self.headings.append(data)

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None


def test_the_report_holds_every_figure_and_table(batch, tmp_path):
    out = tmp_path / "report.html"
    result = run_cli("report", str(batch), "--baseline", "small", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    page = _Collector()
    page.feed(text)
    alts = " | ".join(alt for alt, _ in page.images)
    for figure in ("Corridor map, small", "Daily series", "Forest plot", "Victim funnel"):
        assert figure in alts
    assert all(src.startswith("data:image/png;base64,") for _, src in page.images)
    for heading in ("Comparison table", "Patterns", "Provenance"):
        assert heading in page.headings
    assert page.tables == 2
    assert "not forecasts" in text
    assert "seed entropy <code>42</code>" in text


def test_names_from_files_are_escaped_in_the_report(batch):
    from analysis.report import build_report, load_batch
    from analysis.store import open_store

    data = load_batch(open_store(batch))
    hostile = "<b>twin</b>&co"
    for frame in (data.summaries, data.series, data.places):
        frame["scenario"] = frame["scenario"].replace("twin", hostile)
    text = build_report(data, baseline="small")
    assert "&lt;b&gt;twin&lt;/b&gt;&amp;co" in text
    assert "<b>twin</b>" not in text


def test_patterns_say_reproduced_or_not(batch):
    result = run_cli("patterns", str(batch), "--scenario", "small")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("source:") >= 5
    assert re.search(r"Tighter checkpoints shift people onto bypasses", result.stdout)
    assert "needs scenario 'security_first'" in result.stdout  # not in this batch


@pytest.mark.parametrize("args,message", [
    (["compare", "{tmp}/nothing"], "no batch"),
    (["compare", "{batch}", "--baseline", "nope"], "baseline 'nope' is not in this batch"),
    (["compare", "{batch}", "--outcomes", "victims_ture"], "unknown outcome 'victims_ture'"),
    (["report", "{tmp}/nothing"], "no batch"),
    (["patterns", "{batch}", "--scenario", "nope"], "scenario 'nope' is not in this batch"),
])
def test_bad_input_gets_one_clear_line(batch, tmp_path, args, message):
    args = [a.format(tmp=tmp_path, batch=batch) for a in args]
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
