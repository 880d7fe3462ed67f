"""The corridor model's laws: determinism, conservation, capacities, travel times."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.agents import Migrant
from model.model import CorridorModel
from model.run import simulate
from model.states import FINAL_STATES, SEXES, State
from tests.conftest import variant

STATE_COLUMNS = [s.value for s in State]


def test_same_seed_same_results(make_variant):
    params = make_variant(days=40)
    first, second = simulate(params, seed=11), simulate(params, seed=11)
    assert first.summary == second.summary
    pd.testing.assert_frame_equal(first.series, second.series)
    pd.testing.assert_frame_equal(first.events, second.events)


def test_different_seeds_differ(make_variant):
    params = make_variant(days=20)
    assert simulate(params, seed=1).summary["arrivals"] != simulate(params, seed=2).summary[
        "arrivals"]


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_every_arrival_is_in_exactly_one_state_every_day(make_variant):
    result = simulate(make_variant(days=90), seed=5)
    series = result.series
    assert (series[STATE_COLUMNS].sum(axis=1) == series["arrivals"]).all()
    for state in STATE_COLUMNS:
        assert (series[[f"{state}_{s}" for s in SEXES]].sum(axis=1) == series[state]).all()
    assert (series[STATE_COLUMNS] >= 0).all().all()


def test_counts_match_the_people_in_the_model(make_variant):
    model = CorridorModel(make_variant(), seed=3)
    for _ in range(60):
        model.step()
        live = pd.Series([a.state for a in model.agents_by_type[Migrant]]).value_counts()
        for state in State:
            expected = 0 if state in FINAL_STATES else int(live.get(state, 0))
            if state not in FINAL_STATES:
                assert model.ledger.count(state) == expected, (model.day, state)
        # deported people who will come back stay agents, counted as deported, not present
        returning = [a for a in model.agents_by_type[Migrant] if a.state in FINAL_STATES]
        assert all(a.state is State.DEPORTED and a.returning for a in returning)
        assert len(returning) <= model.ledger.count(State.DEPORTED)
        assert model.ledger.present == len(model.agents_by_type[Migrant]) - len(returning)


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_asylum_office_never_exceeds_its_capacity(make_variant):
    capacity = 7
    result = simulate(make_variant(**{"days": 80, "hub.asylum_capacity_per_day": capacity}),
                      seed=2)
    events = result.events
    decided = events[events["cause"].isin(["asylum granted", "asylum refused"])]
    per_day = decided.groupby("day").size()
    assert per_day.max() == capacity  # the queue is long enough to fill the office
    assert result.summary["asylum_decisions"] == len(decided)


@pytest.mark.slow  # three 120-day runs at the full arrival rate
def test_hub_wait_grows_when_capacity_falls(make_variant):
    waits = [
        simulate(make_variant(**{"days": 120, "hub.asylum_capacity_per_day": c}), seed=4)
        .summary["mean_wait_days_hub"]
        for c in (80, 40, 20)
    ]
    assert waits[0] < waits[1] < waits[2]


def test_scenarios_with_the_same_seed_share_their_arrivals(make_variant):
    # no warm-up: the first arrivals are counted, and no trafficker has entered yet (agents'
    # ids would differ between the two scenarios once the market reacts to them)
    a = simulate(make_variant(**{"days": 30, "warmup_days": 0,
                                 "hub.asylum_capacity_per_day": 10}), seed=8)
    b = simulate(make_variant(**{"days": 30, "warmup_days": 0,
                                 "movement.detection_aversion": 5.0}), seed=8)
    arrived = lambda r: r.events[r.events["from_state"].isna()][["day", "person"]]
    pd.testing.assert_frame_equal(arrived(a).reset_index(drop=True),
                                  arrived(b).reset_index(drop=True))


def _line_corridor(raw: dict, km_to_hub: float, km_to_exit: float, speed: float) -> dict:
    """Crossing - hub - exit on a line: fixed walking speed, no officials, no traffickers."""
    places = [
        {"id": 0, "name": "Crossing", "kind": "crossing", "lon": 0.0, "lat": 0.0},
        {"id": 1, "name": "Hub", "kind": "hub", "lon": 0.1, "lat": 0.0, "asylum_office": True},
        {"id": 2, "name": "Exit", "kind": "exit", "lon": 0.2, "lat": 0.0},
    ]
    links = [{"a": 0, "b": 1, "km": km_to_hub}, {"a": 1, "b": 2, "km": km_to_exit}]
    data = dict(raw)
    data["corridor"] = {"places": places, "links": links}
    data["movement"] = dict(raw["movement"], foot_km_min=speed, foot_km_max=speed)
    data["hub"] = dict(raw["hub"], asylum_share=0.0, rest_days=0)
    data["officials"] = dict(raw["officials"], posts=[])
    data["traffickers"] = dict(raw["traffickers"], initial=0)
    data["days"] = 30
    data["warmup_days"] = 0
    return data


@pytest.mark.parametrize("km_to_hub,km_to_exit,speed", [(37, 120, 30), (60, 60, 25), (10, 5, 40)])
def test_travel_time_follows_distance_and_speed(baseline_raw, km_to_hub, km_to_exit, speed):
    from model.scenario import validate_scenario

    params = validate_scenario(_line_corridor(baseline_raw, km_to_hub, km_to_exit, speed))
    events = simulate(params, seed=1).events
    by_person = events.pivot_table(index="person", columns="cause", values="day", aggfunc="first")
    done = by_person.dropna(subset=["reached Exit"])
    assert len(done) > 100
    # A person walks on the day they arrive: a trip of k days ends on day arrival + k - 1.
    to_hub = math.ceil(km_to_hub / speed) - 1
    assert ((done["resting at the hub"] - done["arrived at the crossing"]) == to_hub).all()
    # Resting 0 days: they set out the next morning with a full day's walk.
    to_exit = 1 + math.ceil(km_to_exit / speed) - 1
    assert ((done["reached Exit"] - done["resting at the hub"]) == to_exit).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rate=st.floats(0, 60),
    share_female=st.floats(0, 1),
    asylum_share=st.floats(0, 1),
    capacity=st.integers(0, 50),
    give_up=st.floats(0, 1),
    check=st.floats(0, 1),
    detention=st.integers(0, 300),
    spend=st.floats(0.5, 50),
    seed=st.integers(0, 2**32 - 1),
)
@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_conservation_holds_for_any_valid_parameters(
    baseline_raw, rate, share_female, asylum_share, capacity, give_up, check, detention, spend, seed
):
    params = variant(baseline_raw, **{
        "days": 25, "arrivals.daily_rate": rate, "arrivals.share_female": share_female,
        "hub.asylum_share": asylum_share, "hub.asylum_capacity_per_day": capacity,
        "hub.give_up_per_day": give_up, "hub.daily_spend_usd": spend,
        "corridor.places": [dict(p, check_probability=check) if p["kind"] == "checkpoint" else
                            (dict(p, detention_capacity=detention) if p["kind"] == "hub" else p)
                            for p in baseline_raw["corridor"]["places"]],
    })
    series = simulate(params, seed=seed).series
    assert (series[STATE_COLUMNS].sum(axis=1) == series["arrivals"]).all()
    assert (series[STATE_COLUMNS] >= 0).all().all()
    assert (series["detained"] <= max(detention, 0)).all()


def test_each_place_keeps_the_people_traffickers_can_approach_in_id_order(make_variant):
    """The places' index (`PlaceCell.recruitable`, kept up to date as people come, go and
    change state) lists exactly what a scan of the place finds, sorted by unique id."""
    model = CorridorModel(make_variant(days=60), seed=3)
    indexed = 0
    for _ in range(60):
        model.step()
        for cell in model.space.all_cells:
            if cell.recruitable is None:
                continue
            indexed += 1
            scan = sorted((a for a in cell._agents if isinstance(a, Migrant) and a.recruitable),
                          key=lambda a: a.unique_id)
            assert cell.recruitable.people == scan
            assert cell.recruitable.ids == [a.unique_id for a in scan]
    assert indexed > 0
