"""The calendar, arrivals by month, the timeline and per-year outcomes.

Short runs of a small corridor flow (tens of arrivals a day) with a short warm-up, so each
test takes a second or two.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from model.ledger import PER_YEAR, flat_summary, series_columns
from model.model import CorridorModel
from model.run import simulate
from model.scenario import load_scenario, timeline_states, with_changes
from model.states import State
from tests.conftest import SCENARIOS, variant

SMALL = {"arrivals.daily_rate": 40, "warmup_days": 10}
CHANGE_DAY = 20
#: A change that touches every cached thing: routes (checks), detention, shelters, training,
#: complicity, outreach, the offer odds and the market.
BIG_CHANGE = {"border_tightening.enabled": True, "cross_sector_training.enabled": True,
              "cross_sector_training.coverage": 0.9, "io_collaboration.enabled": True,
              "special_prosecutor.enabled": True, "traffickers.offer_success": 0.01,
              "traffickers.exit_per_month": 0.2, "exploitation.labour_demand_man": 2.0,
              "consular.contact_per_day": 0.01, "child_protection_reform.enabled": True,
              "child_protection_reform.dif_capacity": 7}


@pytest.fixture()
def small(baseline_raw):
    return variant(baseline_raw, **SMALL)


def test_a_change_on_day_d_leaves_the_days_before_d_bit_identical(small):
    with_timeline = with_changes(small, {"timeline": [{"day": CHANGE_DAY, "set": BIG_CHANGE}]})
    plain, changed = simulate(small, seed=3, days=40), simulate(with_timeline, seed=3, days=40)
    before = plain.series["day"] - small.warmup_days < CHANGE_DAY
    pd.testing.assert_frame_equal(plain.series[before], changed.series[before],
                                  check_exact=True)
    change_step = small.warmup_days + CHANGE_DAY  # the model's day number of counted day d
    events_before = [e[e["day"] < change_step].astype("string").reset_index(drop=True)
                     for e in (plain.events, changed.events)]
    assert len(events_before[0]) > 100
    pd.testing.assert_frame_equal(*events_before, check_exact=True)
    assert not plain.series[~before].equals(changed.series[~before]), "the change did nothing"


def test_apply_scenario_follows_every_cached_value(small):
    model = CorridorModel(small, seed=5)
    for _ in range(15):
        model.step()
    officials = [o for staff in model.roster.staff.values() for o in staff]
    trained_before = {o for o in officials if o.trained}
    hub_routes = model.routes.to_exit(model.hub.coordinate)
    give_up, log_odds = model.give_up_per_day, model.offer_base_log_odds
    model.apply_scenario(with_changes(small, BIG_CHANGE))
    assert model.policy.detention_capacity == model.station.capacity > 960
    assert model.shelter.beds == model.policy.shelter_beds == 600 + 300
    new_routes = model.routes.to_exit(model.hub.coordinate)
    assert max(r.chance_checked for r in new_routes) > max(r.chance_checked for r in hub_routes)
    assert model.route_choice_probabilities(new_routes) is not None
    assert model.give_up_per_day < give_up  # containment: the road north is watched more
    assert model.offer_base_log_odds > log_odds
    assert model.market.spec.exit_per_month == 0.2
    assert model.sites.spec.labour_demand_man == 2.0
    assert model.consulates.contact_per_day == 0.01
    assert model.child_protection.in_force and model.child_protection.capacity == 7
    assert trained_before <= {o for o in officials if o.trained}  # trained stay trained
    assert sum(o.trained for o in officials) > len(trained_before)
    for official in officials:
        assert official.complicit == (official.complicity_draw
                                      < model.policy.complicity_chance(official.trained))


def test_a_reform_switched_on_by_the_timeline_empties_the_station_of_children(small):
    """The child protection reform set on day d through the timeline (its own effective day
    already past): from that evening no child is in the immigration station."""
    params = with_changes(small, {"timeline": [
        {"day": CHANGE_DAY, "set": {"child_protection_reform.enabled": True}}]})
    model = CorridorModel(params, seed=3)
    held_before = 0
    for day in range(1, params.warmup_days + 40 + 1):
        model.step()
        children = sum(p.minor for p in model.by_state[State.DETAINED])
        if day < params.warmup_days + CHANGE_DAY:
            held_before += children
        else:
            assert children == 0, day
    assert held_before > 0  # children were detained before the reform, so the test has power


def test_training_rises_by_the_stated_chance(baseline_raw):
    """Coverage 0.2 -> 0.6: an untrained official is trained with chance (0.6-0.2)/(1-0.2);
    the kept draws make the share trained follow the new coverage, with no draw made."""
    many = [{"institution": "INM", "place": 1, "count": 2000, "capacity_per_day": 1}]
    params = variant(baseline_raw, **{"officials.posts": many, "officials.trained_share": 0.2})
    model = CorridorModel(params, seed=1)
    officials = model.roster.staff[(1, "INM")]
    share_before = sum(o.trained for o in officials) / len(officials)
    model.apply_scenario(with_changes(params, {"cross_sector_training.enabled": True,
                                               "cross_sector_training.coverage": 0.6}))
    share_after = sum(o.trained for o in officials) / len(officials)
    assert share_before == pytest.approx(0.2, abs=0.03)
    assert share_after == pytest.approx(0.6, abs=0.03)
    model.apply_scenario(params)  # coverage falls back: nobody forgets their training
    assert sum(o.trained for o in officials) / len(officials) == share_after


def test_per_year_outcomes_sum_to_the_run_totals(small):
    calendar = with_changes(small, {"start_date": dt.date(2018, 12, 10)})
    result = simulate(calendar, seed=2, days=45)
    years = result.summary[PER_YEAR]
    assert list(years) == ["2018", "2019"]
    for name in years["2018"]:
        assert years["2018"][name] + years["2019"][name] == result.summary[name], name
    assert result.summary["arrivals"] > 0 and years["2018"]["arrivals"] > 0
    assert result.series["date"].iloc[0] == "2018-12-10"
    assert result.series["date"].iloc[-1] == "2019-01-23"
    flat = flat_summary(result.summary)
    assert flat["per_year.2019.victims_true"] == years["2019"]["victims_true"]
    assert PER_YEAR not in flat


def test_a_run_without_a_calendar_is_as_before(small):
    result = simulate(small, seed=2, days=5)
    assert PER_YEAR not in result.summary
    assert list(result.series.columns) == series_columns(calendar=False)
    assert "date" not in result.series.columns


def test_arrivals_follow_the_month(small):
    rates = {"start_date": dt.date(2018, 1, 1),
             "arrivals.monthly_rates": {"2018-01": 5, "2018-02": 80}}
    result = simulate(with_changes(small, rates), seed=1, days=59)
    daily = result.series.set_index("date")["arrivals"].diff().dropna()
    january = daily[daily.index < "2018-02-01"].mean()
    february = daily[daily.index >= "2018-02-01"].mean()
    assert january == pytest.approx(5, rel=0.3)
    assert february == pytest.approx(80, rel=0.15)


def test_a_month_not_listed_and_the_warm_up_use_the_stated_rates(small):
    params = with_changes(small, {"start_date": dt.date(2018, 1, 1),
                                  "arrivals.monthly_rates": {"2018-01": 7}})
    assert params.daily_rate_on(-3) == 7  # warm-up: the first counted month's rate
    assert params.daily_rate_on(31) == 7
    assert params.daily_rate_on(32) == small.arrivals.daily_rate  # February: not listed


def test_timeline_entries_apply_in_day_order_and_build_on_each_other(small):
    timeline = [{"day": 30, "set": {"cross_sector_training.coverage": 0.7}},
                {"day": 5, "set": {"cross_sector_training.enabled": True}, "note": "first"}]
    states = timeline_states(with_changes(small, {"timeline": timeline}))
    assert [day for day, _, _ in states] == [5, 30]
    assert states[0][2].cross_sector_training.enabled
    assert states[1][2].cross_sector_training.enabled  # the earlier change still holds
    assert states[1][2].cross_sector_training.coverage == 0.7
    assert states[1][2].timeline == states[0][2].timeline  # the whole plan stays visible


def test_the_six_year_scenario_loads_with_its_calendar():
    params = load_scenario(SCENARIOS / "mexico_2018_2023.toml")
    assert params.start_date == dt.date(2018, 1, 1)
    assert params.date_of(params.days) == dt.date(2023, 12, 31)
    assert params.daily_rate_on(1) == params.arrivals.daily_rate == 150
    dates = [params.date_of(day) for day, _, _ in timeline_states(params)]
    assert dt.date(2020, 1, 9) in dates and dt.date(2019, 6, 15) in dates


@pytest.mark.slow
def test_a_batch_with_a_calendar_scenario_compares_and_reports_per_year(tmp_path):
    """Per-year columns sit beside plain scenarios' rows: compare and the report still work,
    and the report sets the model's years beside the published record."""
    from analysis.report import build_report, load_batch, per_year_table
    from analysis.store import Store
    from tests.conftest import run_cli, scenarios_folder, small_batch

    folder = scenarios_folder(tmp_path)
    small = 'extends = "baseline_2018.toml"\ndays = 40\nwarmup_days = 5\n'
    (folder / "plain.toml").write_text(small + "[arrivals]\ndaily_rate = 30\n")
    (folder / "dated.toml").write_text(
        small + "start_date = 2018-12-10\n[arrivals]\ndaily_rate = 30\n"
        '[[timeline]]\ndate = 2019-01-01\nset = { "border_tightening.enabled" = true }\n')
    out = small_batch([folder / "plain.toml", folder / "dated.toml"], tmp_path / "b", 2, "7")
    summaries = Store(out).summaries()
    assert summaries.loc[summaries["scenario"] == "plain", "per_year.2019.arrivals"].isna().all()
    table = per_year_table(summaries)
    assert set(table["scenario"]) == {"dated"}
    detentions = table[table["outcome"] == "detentions"].set_index("year")
    assert detentions.loc["2018", "model_index"] == 1.0
    assert detentions.loc["2019", "published"] == 182940
    assert detentions.loc["2019", "record_index"] == pytest.approx(182940 / 131445)
    page = build_report(load_batch(Store(out)), baseline="plain")
    assert "Per calendar year" in page and "182,940" in page
    result = run_cli("compare", str(out), "--baseline", "plain")
    assert result.returncode == 0, result.stderr
