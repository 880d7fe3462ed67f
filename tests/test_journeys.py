"""Victims' journeys to exploitation sites, forms from the market, detection by form.

Most tests use a four-place corridor built from the baseline: crossing 0 - hub 1 (where
recruiters work) - checkpoint 2 - exit 3 (where the sites are, unless a test moves them), so
every victim recruited at the hub is driven through the checkpoint to reach a site.
"""

from __future__ import annotations

import copy

import pytest

from model.model import CorridorModel
from model.run import simulate
from model.scenario import ScenarioError, validate_scenario, with_changes
from model.states import State
from tests.conftest import variant

PLACE = {"lon": -92.2, "lat": 14.9}


def _corridor(sites_at: int = 3, sexual: int = 200, labour: int = 200) -> dict:
    places = [
        {"id": 0, "name": "Crossing", "kind": "crossing", **PLACE},
        {"id": 1, "name": "Hub", "kind": "hub", "asylum_office": True, **PLACE,
         "detention_capacity": 100000, "shelter_beds": 100000, "trafficker_presence": 1},
        {"id": 2, "name": "Checkpoint", "kind": "checkpoint", "check_probability": 1.0, **PLACE},
        {"id": 3, "name": "Exit", "kind": "exit", **PLACE},
    ]
    places[sites_at]["sexual_site_capacity"] = sexual
    places[sites_at]["labour_site_capacity"] = labour
    links = [{"a": 0, "b": 1, "km": 10}, {"a": 1, "b": 2, "km": 10}, {"a": 2, "b": 3, "km": 10}]
    return {"places": places, "links": links}


def _posts(*posts: tuple[str, int]) -> list[dict]:
    return [{"institution": who, "place": where, "count": 5, "capacity_per_day": 1000}
            for who, where in posts]


def small(baseline_raw, corridor: dict | None = None, posts=(("INM", 2),), **changes):
    """The small corridor: many offers accepted, screening that finds a victim who meets it,
    no channel but those the test opens (no raids, inspections, hotline or consulates, no escape)."""
    return variant(baseline_raw, **{
        "days": 60, "arrivals.daily_rate": 20, "hub.asylum_share": 0.0, "hub.rest_days": 5,
        "corridor": corridor or _corridor(), "officials.posts": _posts(*posts),
        "traffickers.initial": 10, "traffickers.entry_rule": "fixed",
        "traffickers.offer_success": 0.3, "traffickers.escape_per_day": 0.0,
        "officials.sensitivity_untrained": 0.9, "officials.complicity_probability": 0.0,
        "disclosure.base": 1.0, "detection.inspection_find_per_day": 0.0,
        "detection.raid_find_per_day": 0.0, "consular.contact_per_day": 0.0, **changes})


def test_a_victim_can_be_identified_at_a_checkpoint(baseline_raw):
    summary = simulate(small(baseline_raw), seed=1, keep_events=False).summary
    assert summary["victims_moved"] > 0
    assert summary["identifications_checkpoint"] > 0
    assert summary["identifications"] == summary["identifications_checkpoint"]


def test_a_fully_complicit_checkpoint_identifies_no_victim(baseline_raw):
    params = small(baseline_raw, **{"officials.complicity_probability": 1.0,
                                    "officials.trained_complicity_reduction": 0.0})
    summary = simulate(params, seed=1, keep_events=False).summary
    assert summary["victims_moved"] > 0
    assert summary["complicity_events"] > 0
    assert summary["identifications_checkpoint"] == 0
    assert summary["victims_detained_in_transfer"] == 0


def test_no_sexual_room_means_no_sexual_exploitation(baseline_raw):
    params = small(baseline_raw, corridor=_corridor(sexual=0))
    summary = simulate(params, seed=1, keep_events=False).summary
    assert summary["victims_true"] > 0
    assert summary["victims_true_sexual"] == 0
    assert summary["victims_true_labour"] == summary["victims_true"]


def test_site_capacity_is_never_exceeded(baseline_raw):
    params = small(baseline_raw, corridor=_corridor(sexual=3, labour=2))
    model = CorridorModel(params, seed=2)
    for _ in range(params.days):
        model.step()
        held = {}
        for state in (State.RECRUITED, State.EXPLOITED):
            for person in model.by_state[state]:
                held[person.site] = held.get(person.site, 0) + 1
        assert held == {site: n for site, n in model.sites.used.items() if n}
        for site, used in model.sites.used.items():
            assert 0 <= used <= model.sites.capacity[site]
    assert model.ledger.tally["recruitments_prevented_sites_full"] > 0  # the cap did bind


def test_inspections_find_labour_victims_more_than_sexual_ones(baseline_raw):
    """Sites at the hub only (no journeys), equal demand and room for both forms, and
    inspections the only channel: labour victims are identified more often."""
    demand = {f"exploitation.{form}_demand_{group}": 1.0 for form in ("sexual", "labour")
              for group in ("woman", "man", "girl", "boy")}
    params = small(baseline_raw, corridor=_corridor(sites_at=1), posts=(("inspector", 1),),
                   **demand, **{"detection.inspection_find_per_day": 0.01,
                                "detection.inspection_reach_sexual": 0.25})
    totals = dict.fromkeys(("true_sexual", "true_labour", "identified_sexual",
                            "identified_labour"), 0)
    for seed in (1, 2):
        summary = simulate(params, seed=seed, keep_events=False).summary
        assert summary["victims_moved"] == 0  # the sites are where recruitment happens
        assert summary["identifications"] == summary["identifications_inspection"]
        for key in totals:
            totals[key] += summary[f"victims_{key}"]
    labour_rate = totals["identified_labour"] / totals["true_labour"]
    sexual_rate = totals["identified_sexual"] / totals["true_sexual"]
    assert labour_rate > 2 * sexual_rate


def test_victims_beyond_the_exits_leave_the_corridor_when_they_escape(baseline_raw):
    params = small(baseline_raw, posts=(), **{"traffickers.escape_per_day": 0.2})
    model = CorridorModel(params, seed=3)
    for _ in range(params.days):
        model.step()
    assert model.ledger.tally["victims_exploited_beyond_exits"] > 0
    escaped = [e for e in model.ledger.events if e[5].startswith("left exploitation")]
    assert escaped and all(e[3] is State.EXITED for e in escaped)


@pytest.mark.parametrize(("change", "message"), [
    ({"corridor.places.0.sexual_site_capacity": 5}, "crossing cannot hold exploitation sites"),
    ({"exploitation.sexual_demand_man": 0.0, "exploitation.labour_demand_man": 0.0},
     "both 0"),
])
def test_bad_sites_and_demand_are_one_line_errors(baseline_raw, change, message):
    with pytest.raises(ScenarioError, match=message) as caught:
        with_changes(validate_scenario(copy.deepcopy(baseline_raw)), change, "test.toml")
    assert "\n" not in str(caught.value)


def test_a_site_cut_off_behind_the_crossing_is_refused(baseline_raw):
    corridor = _corridor()
    corridor["places"].append({"id": 4, "name": "South", "kind": "exit", **PLACE,
                               "labour_site_capacity": 5})
    corridor["links"].append({"a": 0, "b": 4, "km": 5})
    with pytest.raises(ScenarioError, match=r"places\[4\].labour_site_capacity.*cannot be "
                                            "reached from the hub"):
        small(baseline_raw, corridor=corridor)
