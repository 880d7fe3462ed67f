"""Patterns files are the user's: their expressions are checked against a whitelist and never
run as code, and a bad file is one line on stderr with exit status 2."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.expressions import ExpressionError, parse_expression
from analysis.patterns import PatternError, evaluate, load_patterns, per_run_values
from analysis.store import open_store
from corridor.cli import main
from tests.conftest import scenarios_folder, small_batch

#: One module fixture serves these tests: `--dist loadgroup` keeps them on one worker.
pytestmark = pytest.mark.xdist_group("test_patterns")

#: A 30-day warm-up instead of the baseline's 120 (half the cost): what is tested is the
#: patterns machinery, and every shipped pattern is still defined in every run (54 of 54 values
#: compared with pandas' eval, as with the full warm-up).
SMALL = ('extends = "baseline_2018.toml"\ndays = 60\nwarmup_days = 30\n\n'
         '[arrivals]\ndaily_rate = 40\n')

@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """A small baseline and a small security-first variant, 3 reps of 60 days (seconds)."""
    root = tmp_path_factory.mktemp("patterns")
    folder = scenarios_folder(root)
    (folder / "small.toml").write_text(SMALL)
    (folder / "security_first.toml").write_text(SMALL + "\n[border_tightening]\nenabled = true\n")
    return small_batch([folder / "small.toml", folder / "security_first.toml"],
                       root / "runs" / "b", 3, "2020")


def write_pattern(path: Path, expression: str, key: str = "expression",
                  pattern_id: str = "probe") -> Path:
    path.write_text(f'[[patterns]]\nid = "{pattern_id}"\nname = "probe"\nsource = "test"\n'
                    f"{key} = '''{expression}'''\nrole = 'mechanism'\nlow = 0\n")
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


# ------------------------------------------------------------ the whitelist


HOSTILE = [
    "@pd.io.common.os.system('touch {canary}')",
    "arrivals.to_pickle('{canary}')",
    "@pd.read_pickle('{canary}')",
    "__import__('os').system('touch {canary}')",
    "().__class__",
    "1e308**2",
    "9**9**9",
    "arrivals[0]",
    "(lambda: 1)()",
    "arrivals > 0",
    "max(arrivals, key=abs)",
    "'text'",
    "open('{canary}', 'w')",
    "arrivals if arrivals else 1",
    "1e309",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_expressions_are_refused_when_the_file_is_read(tmp_path, expression):
    canary = tmp_path / "canary"
    file = write_pattern(tmp_path / "p.toml", expression.format(canary=canary))
    with pytest.raises(PatternError) as caught:
        load_patterns(file)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{file}: pattern 'probe': expression: ")
    assert "allowed: column names, numbers, + - * /" in message
    assert not canary.exists()
    with pytest.raises(ExpressionError):
        parse_expression(expression.format(canary=canary))


def test_the_allowed_arithmetic_is_computed_column_by_column():
    frame = pd.DataFrame({"a": [1, 0, 4, 9], "b": pd.array([2, 0, None, 3], dtype="Int64")},
                         index=[10, 11, 12, 13])
    def check(text, expected):
        got = parse_expression(text).evaluate(frame)
        np.testing.assert_array_equal(got.to_numpy(), np.array(expected, dtype=float), text)

    nan = math.nan
    check("a / b", [0.5, nan, nan, 3.0])  # 0 / 0 and a null both give NaN
    check("-(a - 1) * 2 + 3", [3.0, 5.0, -3.0, -13.0])
    check("min(a, b, 2)", [1.0, 0.0, nan, 2.0])
    check("max(a, 5)", [5.0, 5.0, 5.0, 9.0])
    check("sqrt(a) + abs(-a)", [2.0, 0.0, 6.0, 12.0])
    check("log(a) / 1", [0.0, -math.inf, math.log(4), math.log(9)])
    check("2", [2.0] * 4)  # a constant still gives one value per row
    assert parse_expression("a / b").evaluate(frame).index.tolist() == [10, 11, 12, 13]
    with pytest.raises(ExpressionError, match=r"unknown name 'aa' \(did you mean 'a'\?\)"):
        parse_expression("aa + 1").evaluate(frame)


def test_a_division_by_zero_is_left_out_and_decides_nothing(batch):
    from analysis.patterns import Pattern

    store = open_store(batch)
    pattern = Pattern(id="zero", name="z", source="s", role="validation",
                      expression="arrivals / 0", low=0, high=1)
    values = per_run_values(pattern, store.summaries(), store.series(), "small")
    assert values.isna().all()  # inf is turned into "undefined", as before
    row = evaluate([pattern], store.summaries(), store.series(), "small").iloc[0]
    assert row["verdict"] == "inconclusive" and row["n"] == 0


# ------------------------------------------------------------ verdicts from intervals


def probe(**band):
    from analysis.patterns import Pattern

    return Pattern(id="p", name="p", source="s", role="validation", expression="x", **band)


@pytest.mark.parametrize("ci,verdict", [
    ((0.2, 0.4), "reproduced"),          # the whole interval in the band
    ((0.1, 0.5), "reproduced"),          # the edges belong to the band
    ((0.05, 0.3), "inconclusive"),       # straddles the low edge
    ((0.4, 0.7), "inconclusive"),        # straddles the high edge
    ((0.0, 0.9), "inconclusive"),        # wider than the band: more runs may decide
    ((0.6, 0.9), "not reproduced"),      # wholly above
    ((-0.2, 0.09), "not reproduced"),    # wholly below
    ((math.nan, math.nan), "inconclusive"),  # fewer than two runs
])
def test_the_verdict_comes_from_the_interval_not_the_mean(ci, verdict):
    assert probe(low=0.1, high=0.5).verdict(*ci) == verdict


def test_a_published_figure_with_a_tolerance_is_a_band():
    pattern = probe(value=440, tolerance=0.25)
    assert pattern.band == (330, 550)
    assert pattern.verdict(340, 540) == "reproduced"
    assert pattern.verdict(560, 600) == "not reproduced"
    assert probe(value=-2, tolerance=0.5).band == (-3, -1)  # a negative figure stays ordered


@pytest.mark.parametrize("block,message", [
    ('role = "validation"\nlow = 0', "needs a two-sided band: give 'low' and 'high'"),
    ('role = "calibration"\nhigh = 3', "needs a two-sided band"),
    ('role = "validation"\nlow = 2\nhigh = 1', "the band is empty: low 2 is above high 1"),
    ('role = "validation"\nvalue = 2', "'value' and 'tolerance' go together"),
    ('role = "validation"\nvalue = 2\ntolerance = 0.1\nlow = 1',
     "either as 'low' and 'high' or as 'value' and 'tolerance'"),
    ('role = "validation"', "either as 'low' and 'high' or as 'value' and 'tolerance'"),
    ('role = "fitting"\nlow = 0\nhigh = 1', "role: Input should be 'calibration', 'validation'"),
    ('low = 0\nhigh = 1', "role: Field required"),
    ('role = "validation"\nlow = 0\nhigh = nan', "high: Input should be a finite number"),
])
def test_bands_and_roles_are_checked_when_the_file_is_read(tmp_path, block, message):
    file = tmp_path / "p.toml"
    file.write_text(f'[[patterns]]\nid = "p"\nname = "p"\nsource = "s"\nexpression = "x"\n{block}\n')
    with pytest.raises(PatternError) as caught:
        load_patterns(file)
    assert "\n" not in str(caught.value)
    assert f"{file}: pattern 'p': " in str(caught.value)
    assert message in str(caught.value)


def test_each_pattern_is_held_against_its_own_scenario(batch):
    """A pattern naming a scenario reads that scenario's runs; one naming a scenario the batch
    lacks is not evaluated (and says which scenario it needs)."""
    from analysis.patterns import Pattern, format_patterns

    store = open_store(batch)
    summaries, series = store.summaries(), store.series()
    arrivals = summaries.groupby("scenario")["arrivals"].agg(["min", "max"])
    small, tight = arrivals.loc["small"], arrivals.loc["security_first"]
    patterns = [
        Pattern(id="own", name="own", source="s", role="validation", scenario="small",
                expression="arrivals", low=0, high=5 * small["max"]),
        Pattern(id="far", name="far", source="s", role="validation", scenario="small",
                expression="arrivals", low=10 * small["max"], high=20 * small["max"]),
        Pattern(id="other", name="other", source="s", role="calibration",
                scenario="security_first", expression="arrivals", low=0,
                high=float(tight["min"])),
        Pattern(id="gone", name="gone", source="s", role="validation", scenario="mexico",
                expression="arrivals", low=0, high=1),
        Pattern(id="logic", name="logic", source="s", role="mechanism", expression="arrivals",
                low=0),
    ]
    table = evaluate(patterns, summaries, series, "security_first").set_index("id")
    assert table.loc["own", "scenario"] == "small" and table.loc["logic", "scenario"] == (
        "security_first")
    assert table.loc["own", "verdict"] == "reproduced"
    assert table.loc["far", "verdict"] == "not reproduced"
    assert table.loc["other", "verdict"] == "inconclusive"  # the band's top is the lowest run
    assert table.loc["gone", "verdict"] == "not evaluated"
    assert "needs scenario 'mexico'" in table.loc["gone", "note"]
    text = format_patterns(table.reset_index(), "security_first")
    assert ("Verdicts: calibration: 1 inconclusive; validation: 1 reproduced, "
            "1 not reproduced, 1 not evaluated") in text
    assert text.index("Mechanism checks") > text.index("Validation patterns")
    for verdict in ("REPRODUCED", "NOT REPRODUCED", "INCONCLUSIVE", "NOT EVALUATED"):
        assert verdict in text


# ------------------------------------------------------------ the shipped patterns


def reference_values(pattern, summaries, series, scenario) -> np.ndarray:
    """What the first versions computed, with pandas' own evaluator: fine here, in a test, on
    the shipped (trusted) expressions; never on a user's file."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if pattern.expression is not None:
            runs = summaries[summaries["scenario"] == scenario].set_index("rep")
            values = runs.eval(pattern.expression)
        else:
            days = series[series["scenario"] == scenario]
            daily = days.eval(pattern.series_expression)
            values = daily.replace([np.inf, -np.inf], np.nan).groupby(days["rep"]).mean()
    return values.astype(float).replace([np.inf, -np.inf], np.nan).to_numpy()


def test_per_year_outcomes_are_named_with_underscores_in_expressions(tmp_path):
    """A batch stores per-year outcomes as `per_year.<year>.<outcome>` columns; expressions
    name them `per_year_<year>_<outcome>` (a dotted name is an attribute, refused)."""
    from analysis.patterns import Pattern

    summaries = pd.DataFrame({"scenario": ["six"] * 3, "rep": [0, 1, 2],
                              "per_year.2018.victims_identified": [10, 20, 30],
                              "per_year.2020.victims_identified": [20, 20, 60]})
    pattern = Pattern(id="ratio", name="r", source="s", role="validation", scenario="six",
                      expression="per_year_2020_victims_identified / "
                                 "per_year_2018_victims_identified", low=0.5, high=3)
    values = per_run_values(pattern, summaries, pd.DataFrame(), "six")
    assert values.tolist() == [2.0, 1.0, 2.0]
    with pytest.raises(PatternError):
        load_patterns(write_pattern(tmp_path / "dotted.toml", "per_year.2018.victims_identified"))


def test_shipped_patterns_are_two_sided_tied_to_a_scenario_and_have_roles():
    patterns = load_patterns()
    judged = [p for p in patterns if p.role != "mechanism"]
    assert {p.role for p in patterns} == {"calibration", "validation", "mechanism"}
    for pattern in judged:
        low, high = pattern.band
        assert math.isfinite(low) and math.isfinite(high) and low < high, pattern.id
        assert pattern.scenario and pattern.era, pattern.id


def test_shipped_patterns_give_the_same_values_as_pandas_eval(batch):
    """The whitelisted evaluator computes the shipped patterns exactly as pandas' eval (the
    first versions' evaluator) does, run by run, whatever the model's outputs are."""
    store = open_store(batch)
    summaries, series = store.summaries(), store.series()
    compared = 0
    for pattern in load_patterns():
        if "per_year_" in (pattern.expression or ""):
            continue  # needs a calendar scenario's per-year columns: tested above
        for scenario in ("small", "security_first"):
            got = per_run_values(pattern, summaries, series, scenario)
            assert got.index.tolist() == [0, 1, 2]
            expected = reference_values(pattern, summaries, series, scenario)
            np.testing.assert_allclose(got.to_numpy(), expected, rtol=0, atol=1e-12,
                                       err_msg=f"{pattern.id} / {scenario}")
            compared += int(np.isfinite(expected).sum())
    assert compared >= 12  # most values are defined, so the comparison has power


# ------------------------------------------------------------ through the command line


def test_bad_patterns_files_get_one_line_and_status_2(batch, tmp_path, capsys):
    canary = tmp_path / "canary"
    hostile = write_pattern(tmp_path / "hostile.toml", f"@pd.io.common.os.system('touch {canary}')")
    typo = write_pattern(tmp_path / "typo.toml", "victims_identifed / arrivals", pattern_id="typo")
    daily = write_pattern(tmp_path / "daily.toml", "wating / present", key="series_expression")
    (tmp_path / "latin1.toml").write_bytes('name = "Cacahoatán"\n'.encode("latin-1"))
    (tmp_path / "syntax.toml").write_text("[[patterns]\nid = 'x'\n")
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "folder.toml").mkdir()
    os.mkfifo(tmp_path / "fifo.toml")  # nobody writes to it: a plain open() would block
    cases = {
        hostile: "hostile.toml: pattern 'probe': expression: not a valid expression",
        typo: "pattern 'typo': expression: unknown name 'victims_identifed' "
              "(did you mean 'victims_identified'?)",
        daily: "pattern 'probe': series_expression: unknown name 'wating' "
               "(did you mean 'waiting'?)",
        tmp_path / "latin1.toml": "latin1.toml: is not UTF-8 text",
        tmp_path / "syntax.toml": "syntax.toml: TOML syntax error",
        tmp_path / "empty.toml": "empty.toml: patterns: Field required",
        tmp_path / "folder.toml": "folder.toml: is a folder, not a file",
        tmp_path / "fifo.toml": "fifo.toml: is not a regular file",
        tmp_path / "missing.toml": "missing.toml: file not found",
    }
    before = sorted(os.listdir(tmp_path))
    for file, message in cases.items():
        status = main(["patterns", str(batch), "--scenario", "small", "--file", str(file)])
        line = one_error_line(capsys)
        assert status == 2, (file, line)
        assert message in line, line
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, no canary
