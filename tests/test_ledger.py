"""The ledger: the outcome catalogue, a person's journey, and `with_changes`."""

from __future__ import annotations

from itertools import pairwise

import pytest

from model.ledger import OUTCOME_BY_NAME, OUTCOMES, SERIES, label, series_columns
from model.model import CorridorModel
from model.scenario import ScenarioError, load_scenario, with_changes
from model.states import FINAL_STATES, State
from tests.conftest import BASELINE


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


def test_catalogue_entries_are_complete_and_unique():
    names = [o.name for o in OUTCOMES]
    assert len(names) == len(set(names))
    for outcome in OUTCOMES:
        assert outcome.unit and outcome.meaning, outcome.name
        assert outcome.higher_is_better in (True, False, None)
    assert OUTCOME_BY_NAME["incidence_per_1000"].higher_is_better is False
    assert OUTCOME_BY_NAME["victims_identified"].higher_is_better is True
    assert label("mean_wait_days_hub") == "mean wait days hub (days)"


def test_series_catalogue_matches_the_daily_record(baseline):
    model = CorridorModel(with_changes(baseline, {"arrivals.daily_rate": 20}), seed=2)
    for _ in range(5):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    assert list(frame.columns) == series_columns(calendar=False)  # SERIES but the date
    assert set(series_columns(calendar=True)) == {c.name for c in SERIES}
    assert frame["arrivals"].iloc[-1] == model.ledger.tally["arrivals"]


def test_a_journey_is_one_persons_events_in_order(baseline):
    model = CorridorModel(with_changes(baseline, {"arrivals.daily_rate": 50}), seed=4)
    for _ in range(40):
        model.step()
    first = model.ledger.events[0][1]
    journey = model.ledger.journey(first)
    assert journey[0]["from_state"] is None and journey[0]["cause"] == "arrived at the crossing"
    assert [e["day"] for e in journey] == sorted(e["day"] for e in journey)
    for before, after in pairwise(journey):
        if after["from_state"] != after["to_state"]:  # a change of state, not a note
            assert after["from_state"] == before["to_state"]
    assert all(e["to_state"] not in FINAL_STATES for e in journey[:-1])
    assert model.ledger.journey(-1) == []


def test_with_changes_validates_like_a_file(baseline):
    changed = with_changes(baseline, {"hub.rest_days": 2, "border_tightening.enabled": True,
                                      "corridor.places.1.shelter_beds": 7})
    assert changed.hub.rest_days == 2 and changed.border_tightening.enabled
    assert changed.corridor.places[1].shelter_beds == 7
    assert baseline.hub.rest_days != 2  # the original is untouched
    with pytest.raises(ScenarioError, match=r"hub.rest_dayz: unknown key; did you mean "
                                            r"'rest_days'"):
        with_changes(baseline, {"hub.rest_dayz": 2})
    with pytest.raises(ScenarioError, match=r"<changes>: arrivals.share_female: .*less than "
                                            r"or equal to 1"):
        with_changes(baseline, {"arrivals.share_female": 1.5})
    with pytest.raises(ScenarioError, match=r"not an index"):
        with_changes(baseline, {"corridor.places.99.shelter_beds": 1})
    assert State.EXITED in FINAL_STATES
