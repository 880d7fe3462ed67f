"""Ensembles: variants files are the user's (one line, exit 2), every scenario runs under every
variant, and the robustness verdict names the assumption that turns an effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.ensemble import (
    VariantsError,
    ensemble_compare,
    expand,
    load_variants,
    membership,
    robustness,
    sentences,
)
from analysis.store import open_store
from corridor.cli import main
from model.scenario import load_scenario
from tests.conftest import BASELINE, scenarios_folder, small_batch

pytestmark = pytest.mark.xdist_group("test_ensemble")

TWO = ('[[variants]]\nname = "market"\nassumption = "shipped"\nset = {}\n\n'
       '[[variants]]\nname = "fixed"\nassumption = "a fixed number of recruiters"\n'
       'set = {"traffickers.entry_rule" = "fixed"}\n')


def test_every_scenario_runs_under_every_variant(tmp_path):
    file = tmp_path / "v.toml"
    file.write_text(TWO)
    members = expand({"baseline_2018": load_scenario(BASELINE)}, load_variants(file), file)
    assert [m.name for m in members] == ["baseline_2018.market", "baseline_2018.fixed"]
    assert [m.scenario.traffickers.entry_rule for m in members] == ["market", "fixed"]
    assert all(m.base == "baseline_2018" and m.scenario.name == m.name for m in members)


@pytest.mark.parametrize("text,message", [
    ("", "variants: required key is missing"),
    ('[[variants]]\nname = "a.b"\nassumption = "x"\n', "without '.'"),
    ('[[variants]]\nname = "../up"\nassumption = "x"\n', "variants[0].name"),
    ('[[variants]]\nname = "a"\n', "variants[0].assumption: required key is missing"),
    ('[[variants]]\nname = "a"\nassumption = "x"\nset = {days = 3}\n', "may not set 'days'"),
    ('[[variants]]\nname = "a"\nassumption = "x"\nsett = {}\n', "variants[0].sett"),
    (TWO + '[[variants]]\nname = "fixed"\nassumption = "again"\n', "'fixed' is used twice"),
    ("[[variants]\n", "TOML syntax error"),
])
def test_bad_variants_files_are_one_line(tmp_path, text, message):
    file = tmp_path / "v.toml"
    file.write_text(text)
    with pytest.raises(VariantsError) as caught:
        load_variants(file)
    assert "\n" not in str(caught.value) and str(file) in str(caught.value)
    assert message in str(caught.value)


def test_a_change_that_does_not_fit_the_scenario_names_the_variant_and_key(tmp_path):
    file = tmp_path / "v.toml"
    file.write_text('[[variants]]\nname = "typo"\nassumption = "x"\n'
                    'set = {"traffickers.entry_rul" = "fixed"}\n')
    with pytest.raises(VariantsError) as caught:
        expand({"baseline_2018": load_scenario(BASELINE)}, load_variants(file), file)
    text = str(caught.value)
    assert "variants[0] ('typo') for scenario 'baseline_2018'" in text
    assert "traffickers.entry_rul: unknown key; did you mean 'entry_rule'?" in text


def synthetic(effects: dict[str, float], reps: int = 6) -> tuple[pd.DataFrame, dict]:
    """Summaries of base and policy under each variant: the policy adds `effects[variant]`
    (plus seed-paired noise) to the outcome."""
    rng = np.random.default_rng(1)
    rows, members = [], {}
    for variant, effect in effects.items():
        noise = rng.normal(size=reps)
        for base, shift in (("base", 0.0), ("policy", effect)):
            name = f"{base}.{variant}"
            members[name] = (base, variant, f"assumption {variant}")
            for rep in range(reps):
                rows.append({"scenario": name, "rep": rep, "seed": rep, "days": 10,
                             "victims_true": 100 + 5 * noise[rep] + shift
                             + 0.1 * rng.normal()})
    return pd.DataFrame(rows), members


def test_an_effect_that_keeps_its_sign_holds_and_one_that_turns_names_its_assumption():
    summaries, members = synthetic({"a": -10.0, "b": -6.0, "c": +8.0})
    table = ensemble_compare(summaries, members, "base", ["victims_true"])
    assert set(table["variant"]) == {"a", "b", "c"}
    diffs = table.dropna(subset=["diff"]).set_index("variant")["diff"]
    assert diffs["a"] == pytest.approx(-10, abs=0.5) and diffs["c"] == pytest.approx(8, abs=0.5)
    robust = robustness(table).iloc[0]
    assert (robust["variants"], robust["same_sign"], robust["clear"]) == (3, 2, 2)
    assert robust["turned_by"] == "c (assumption c)"
    text = sentences(robustness(table), "base")[0]
    assert "lowers victims true against base in 2 of 3 variants" in text
    assert "depends on an assumption; the sign turns under c (assumption c)" in text

    summaries, members = synthetic({"a": -10.0, "b": -6.0})
    text = sentences(robustness(ensemble_compare(summaries, members, "base",
                                                 ["victims_true"])), "base")[0]
    assert "in all 2 variants" in text and "the sign holds across the ensemble" in text


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_compare_ensemble_through_the_command_line(tmp_path, capsys):
    folder = scenarios_folder(tmp_path)
    small = folder / "small.toml"
    small.write_text('extends = "baseline_2018.toml"\nname = "small"\ndays = 20\n'
                     'warmup_days = 0\n[arrivals]\ndaily_rate = 20\n')
    (folder / "ffp.toml").write_text('extends = "small.toml"\nname = "ffp"\n'
                                     '[io_collaboration]\nenabled = true\n')
    variants = tmp_path / "v.toml"
    variants.write_text(TWO)
    out = small_batch([small, folder / "ffp.toml"], tmp_path / "runs" / "e", 2, "7",
                      "--variants", str(variants))
    store = open_store(out)
    assert set(store.summaries()["scenario"]) == {"small.market", "small.fixed", "ffp.market",
                                                  "ffp.fixed"}
    assert membership(store.batch())["ffp.fixed"] == ("ffp", "fixed",
                                                      "a fixed number of recruiters")
    capsys.readouterr()
    assert main(["compare", str(out), "--ensemble", "--outcomes", "victims_true", "--baseline", "small"]) == 0
    text = capsys.readouterr().out
    assert "Effects against small within each variant" in text
    assert "What holds across the ensemble:" in text and "ffp " in text
    # patterns are held against the reference variant, under the base names
    assert main(["patterns", str(out), "--scenario", "small"]) == 0
    text = capsys.readouterr().out
    assert "reference variant 'market'" in text and "(small)" in text
    # the plain comparison of a batch without variants says how to get an ensemble
    plain = small_batch([small], tmp_path / "runs" / "p", 1, "7")
    assert main(["compare", str(plain), "--ensemble"]) == 2
    assert "--variants FILE" in capsys.readouterr().err
    # the report opens with the ensemble and shows the reference variant under base names
    assert main(["report", str(out), "--baseline", "small"]) == 0
    page = (out / "report.html").read_text()
    assert page.index("What holds across the ensemble") < page.index("Comparison table")
    ensemble_part = page[page.index("What holds across the ensemble"):
                         page.index("Corridor map")]
    assert 'alt="Effects under each variant"' in ensemble_part
    assert "a fixed number of recruiters" in page
    comparison = page[page.index("<h2>Comparison table"):]
    assert "ffp.market" not in comparison and ">ffp<" in comparison
