"""Children and nationality: who a person is changes what happens to them.

Unaccompanied children are drawn jointly with age; the child protection reform keeps children
out of the immigration station from its day on; a person's language changes screening unless
an interpreter is there; COMAR's grant rate and consular protection depend on nationality.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from statistics import mean, stdev

import numpy as np
import pytest

from model import policy as policy_module
from model.agents import Migrant
from model.model import CorridorModel
from model.policy import LAW_RULES, resolve
from model.run import simulate
from model.scenario import ScenarioError, load_scenario, with_changes
from model.states import State, Status
from tests.conftest import BASELINE, variant

ROOT = Path(__file__).resolve().parents[1]

#: Two nationalities only: one Spanish-speaking, one not; no consulate, one grant rate.
TWO_NATIONS = {
    "arrivals.nationalities": {"honduras": 0.5, "haiti": 0.5},
    "language.spoken": {"honduras": "spanish", "haiti": "haitian_creole"},
    "hub.grant_rate_by_nationality": {},
    "consular.consulates": {},
}


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


# ------------------------------------------------------------------ scenario input


@pytest.mark.parametrize("changes,key,pattern", [
    ({"language.spoken": {**{n: "spanish" for n in ("honduras", "guatemala", "el_salvador",
                                                    "cuba", "venezuela")},
                          "haiti": "haitian_creole", "hati": "french"}},
     "language.spoken.hati", "no arrivals of this nationality; did you mean 'haiti'"),
    ({"language.spoken": {"honduras": "spanish"}}, "language.spoken", "no language given"),
    ({"language.spoken.haiti": "Haitian Creole"}, "language.spoken.haiti", "pattern"),
    ({"hub.grant_rate_by_nationality": {"mexico": 0.5}}, "hub.grant_rate_by_nationality.mexico",
     "no arrivals of this nationality"),
    ({"hub.grant_rate_by_nationality": {"haiti": 1.5}}, "hub.grant_rate_by_nationality.haiti",
     "less than or equal to 1"),
    ({"consular.consulates": {"nicaragua": True}}, "consular.consulates.nicaragua",
     "no arrivals"),
    ({"child_protection_reform.dif_capacity": -1}, "child_protection_reform.dif_capacity",
     "greater than or equal to 0"),
    ({"child_protection_reform.effective_day": 0}, "child_protection_reform.effective_day",
     "greater than or equal to 1"),
    ({"arrivals.share_minor_alone": 1.2}, "arrivals.share_minor_alone", "less than or equal"),
])
def test_bad_people_tables_get_one_line(baseline, changes, key, pattern):
    with pytest.raises(ScenarioError) as caught:
        with_changes(baseline, changes, source="test.toml")
    line = str(caught.value)
    assert "\n" not in line and f"test.toml: {key}: " in line and pattern in line, line


# ------------------------------------------------------------------------ children


def test_unaccompanied_children_are_drawn_jointly(baseline_raw):
    params = variant(baseline_raw, **{"arrivals.daily_rate": 20000, "arrivals.share_minor": 0.3,
                                      "arrivals.share_minor_alone": 0.1,
                                      "arrivals.share_alone": 0.6})
    people = CorridorModel(params, seed=3).draw_arrivals()
    minor = np.array([p["minor"] for p in people])
    alone = np.array([p["alone"] for p in people])
    assert alone[minor].mean() == pytest.approx(0.1, abs=0.02)
    assert alone[~minor].mean() == pytest.approx(0.6, abs=0.02)


def test_the_joint_draw_uses_as_many_numbers_as_before(baseline_raw):
    """With the children's share equal to the adults', the arrivals are those of the
    independent draw of the first versions (same stream, same numbers)."""
    params = variant(baseline_raw, **{"arrivals.daily_rate": 500,
                                      "arrivals.share_minor_alone": 0.5})
    people = CorridorModel(params, seed=4).draw_arrivals()
    rng = np.random.default_rng(np.random.SeedSequence(4).spawn(5)[0])
    n = int(rng.poisson(500))
    rng.random(n), rng.random(n)
    assert [p["alone"] for p in people] == (rng.random(n) < 0.5).tolist()


def test_the_reform_block_switched_off_changes_nothing(baseline):
    extreme = {"child_protection_reform.effective_day": 3650,
               "child_protection_reform.dif_capacity": 100000,
               "child_protection_reform.days_in_care": 3650}
    assert resolve(with_changes(baseline, extreme)) == resolve(baseline)
    on = resolve(with_changes(baseline, {"child_protection_reform.enabled": True,
                                         "child_protection_reform.effective_day": 7}))
    assert (on.children_to_dif_from, on.dif_capacity, on.dif_days) == (7, 150, 30)
    assert resolve(baseline).children_to_dif_from is None


def test_the_reform_docstring_is_its_odd_paragraph():
    odd = " ".join((ROOT / "docs" / "ODD.md").read_text().split())
    for name in LAW_RULES:
        paragraph = " ".join(inspect.getdoc(getattr(policy_module, name)).split())
        assert paragraph in odd, f"docs/ODD.md lacks the paragraph of {name} (policy.py)"


def _children_in_station(model: CorridorModel) -> int:
    return sum(p.minor for p in model.by_state[State.DETAINED])


@pytest.mark.parametrize("dif_capacity", [200, 0])
def test_no_child_is_in_the_station_after_the_reform(baseline_raw, dif_capacity):
    """Before the reform's day children are detained; from its evening on, none is in the
    station, whether the DIF has room or not (then: a shelter bed, or released)."""
    warmup, day = 5, 20
    params = variant(baseline_raw, **{
        "warmup_days": warmup, "days": 40, "arrivals.daily_rate": 40,
        "arrivals.share_minor": 0.5, "corridor.places.2.check_probability": 0.9,
        "child_protection_reform.enabled": True, "child_protection_reform.effective_day": day,
        "child_protection_reform.dif_capacity": dif_capacity,
        "corridor.places.1.shelter_beds": 10})
    model = CorridorModel(params, seed=2)
    before, after = [], []
    for _ in range(warmup + 40):
        model.step()
        (before if model.day < warmup + day else after).append(_children_in_station(model))
    assert max(before) > 0
    assert max(after) == 0
    assert sum(p.minor for p in model.by_state[State.DETAINED]) == 0
    if dif_capacity:
        assert model.ledger.tally["children_referred_dif"] > 0
    else:
        assert model.ledger.tally["dif_full"] > 0


def test_children_detained_are_counted_without_the_reform(baseline_raw):
    params = variant(baseline_raw, **{"days": 20, "arrivals.daily_rate": 40,
                                      "arrivals.share_minor": 0.5,
                                      "corridor.places.2.check_probability": 0.9})
    summary = simulate(params, seed=1, keep_events=False).summary
    assert 0 < summary["children_detained"] < summary["detentions"]
    assert summary["children_referred_dif"] == summary["dif_full"] == 0


# ---------------------------------------------------------------------- nationality


def _person(model: CorridorModel, nationality: str) -> Migrant:
    traits = {"sex": "female", "minor": False, "alone": True, "nationality": nationality,
              "money": 100.0, "foot_km_per_day": 30.0, "asylum_propensity": 0.0}
    person = Migrant(model, model.hub, traits)
    person.status = Status.ASYLUM_APPLICANT
    person.set_state(State.WAITING, "claimed asylum")
    return person


def test_grant_rates_by_nationality(baseline_raw):
    params = variant(baseline_raw, **{"arrivals.daily_rate": 0, "hub.grant_rate": 1.0,
                                      "hub.asylum_capacity_per_day": 1000,
                                      "hub.grant_rate_by_nationality": {"haiti": 0.0,
                                                                        "venezuela": 1.0}})
    model = CorridorModel(params, seed=1)
    people = [_person(model, n) for n in ("haiti", "venezuela", "cuba") * 20]
    for person in people:
        model.asylum_office.file_claim(person)
    model.asylum_office.decide_claims()
    status = {n: {p.status for p in people if p.nationality == n} for n in ("haiti",
                                                                           "venezuela", "cuba")}
    assert status == {"haiti": {Status.IRREGULAR}, "venezuela": {Status.REFUGEE},
                      "cuba": {Status.REFUGEE}}  # cuba: not listed, hub.grant_rate


def test_language_barrier_lowers_disclosure_and_recognition(baseline):
    policy = resolve(baseline)

    class Speaker:
        sex, minor, status, speaks_spanish = "female", False, Status.IRREGULAR, True

    class CreoleSpeaker(Speaker):
        speaks_spanish = False

    with_barrier = policy.disclosure.chance(CreoleSpeaker(), "checkpoint", True)
    assert with_barrier < policy.disclosure.chance(CreoleSpeaker(), "checkpoint", False)
    assert policy.screening.sensitivity("female", False, False, True) == pytest.approx(
        0.5 * policy.screening.sensitivity("female", False, False))
    rng = np.random.default_rng(0)
    assert not policy.language_barrier(Speaker(), "checkpoint", rng)
    assert not policy.language_barrier(CreoleSpeaker(), "consulate", rng)
    always = with_changes(baseline, {"language.interpreter_coverage": 1.0})
    never = with_changes(baseline, {"language.interpreter_coverage": 0.0})
    assert not resolve(always).language_barrier(CreoleSpeaker(), "hotline", rng)
    assert resolve(never).language_barrier(CreoleSpeaker(), "hotline", rng)


@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_consulates_assist_victims_instead_of_detention(baseline_raw):
    """No shelter beds: identified victims of a nationality with a consulate are assisted,
    never detained for want of a bed; without a consulate they are detained."""
    one_nation = {"arrivals.nationalities": {"guatemala": 1.0},
                  "language.spoken": {"guatemala": "spanish"},
                  "hub.grant_rate_by_nationality": {},
                  "corridor.places.1.shelter_beds": 0,
                  "officials.sensitivity_untrained": 0.9, "disclosure.base": 1.0,
                  "detection.inspection_find_per_day": 0.05,
                  "days": 90, "arrivals.daily_rate": 60}
    causes = {}
    for open_ in (True, False):
        params = variant(baseline_raw, **{**one_nation,
                                          "consular.consulates": {"guatemala": open_}})
        events = simulate(params, seed=3).events
        causes[open_] = events["cause"].value_counts()
    assert causes[True].get("assisted by the consulate", 0) > 0
    assert causes[True].get("no shelter bed free", 0) == 0
    assert causes[False].get("no shelter bed free", 0) > 0
    assert causes[False].get("assisted by the consulate", 0) == 0


#: Many victims, many identifications, half the arrivals speaking Haitian Creole.
LANGUAGE_TEST = {**TWO_NATIONS, "days": 100, "arrivals.daily_rate": 80,
                 "officials.sensitivity_untrained": 0.6,
                 "detection.inspection_find_per_day": 0.03, "traffickers.initial": 80,
                 "traffickers.market_size": 80}


@pytest.mark.slow
def test_interpreters_change_identification_of_the_language_group_only(baseline_raw):
    """Paired seeds: with interpreters everywhere, more people who do not speak Spanish are
    identified; Spanish speakers' identifications change by no more than noise (95% CI of
    the paired difference contains 0)."""
    rates: dict[float, list[dict]] = {}
    for coverage in (0.0, 1.0):
        params = variant(baseline_raw, **{**LANGUAGE_TEST,
                                          "language.interpreter_coverage": coverage})
        rates[coverage] = [simulate(params, seed, keep_events=False).summary
                           for seed in range(1, 9)]

    def paired(key: str) -> list[float]:
        return [b[key] - a[key] for a, b in zip(rates[0.0], rates[1.0], strict=True)]

    other = paired("victims_identified_other_language")
    spanish = paired("victims_identified_spanish_speaking")
    half_width = 2.365 * stdev(spanish) / math.sqrt(len(spanish))  # t(7), 95%
    assert mean(other) > 0 and min(other) >= 0, other
    assert abs(mean(spanish)) <= half_width, (spanish, half_width)
