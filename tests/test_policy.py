"""The policy room: each intervention turned into effective values, exactly and cheaply.

These tests run no simulation: they resolve scenarios into a `Policy` and check each
intervention's values, that a block switched off changes nothing, and that no rule outside
`model/policy.py` reads a block's `enabled`.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import fields, replace
from pathlib import Path

import pytest

from model import policy as policy_module
from model.policy import (
    INTERVENTION_RULES,
    Disclosure,
    Screening,
    resolve,
    without_interventions,
)
from model.scenario import INTERVENTIONS, load_scenario, with_changes
from model.states import Status
from tests.conftest import BASELINE

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


def changed_fields(a, b) -> set[str]:
    return {f.name for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)}


def switched_on(baseline, name: str, **values):
    return resolve(with_changes(baseline, {f"{name}.enabled": True,
                                           **{f"{name}.{k}": v for k, v in values.items()}}))


def test_every_intervention_has_one_rule():
    assert tuple(INTERVENTION_RULES) == INTERVENTIONS


def test_the_baseline_has_every_intervention_off(baseline):
    assert not any(baseline.interventions.values())
    assert resolve(baseline) == without_interventions(baseline)


@pytest.mark.parametrize("name", INTERVENTIONS)
def test_a_block_switched_off_changes_nothing(baseline, name):
    """Extreme values in a switched-off block leave the policy as it is."""
    block = getattr(baseline, name)
    extreme = {}
    for key, info in type(block).model_fields.items():
        if key == "enabled":
            continue
        upper = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
        extreme[f"{name}.{key}"] = type(getattr(block, key))(upper if upper is not None else 7)
    assert resolve(with_changes(baseline, extreme)) == resolve(baseline)


def test_humanitarian_visa(baseline):
    on = switched_on(baseline, "humanitarian_visa", processing_days=12)
    assert resolve(baseline).visa_processing_days is None
    assert on.visa_processing_days == 12
    assert on.disclosure.visa_promise and not resolve(baseline).disclosure.visa_promise
    assert changed_fields(on, resolve(baseline)) == {"visa_processing_days", "disclosure"}


def test_gender_responsive_screening(baseline):
    on = switched_on(baseline, "gender_responsive_screening", sensitivity_gain_female=0.25,
                     sensitivity_gain_male=0.05, sensitivity_gain_minor=0.15,
                     specificity_gain=0.01)
    off = resolve(baseline)
    assert changed_fields(on, off) == {"screening", "disclosure"}
    assert on.disclosure.safe_interview and not off.disclosure.safe_interview
    untrained = baseline.officials.sensitivity_untrained
    assert off.screening.sensitivity("female", True, False) == untrained
    assert on.screening.sensitivity("female", False, False) == pytest.approx(untrained + 0.25)
    assert on.screening.sensitivity("male", False, False) == pytest.approx(untrained + 0.05)
    assert on.screening.sensitivity("female", True, False) == pytest.approx(untrained + 0.40)
    assert on.screening.specificity == pytest.approx(baseline.officials.specificity + 0.01)


def test_cross_sector_training(baseline):
    on = switched_on(baseline, "cross_sector_training", coverage=0.6)
    assert on.trained_share == 0.6
    assert changed_fields(on, resolve(baseline)) == {"trained_share"}
    below = switched_on(baseline, "cross_sector_training", coverage=0.01)
    assert below.trained_share == baseline.officials.trained_share  # never fewer trained


def test_io_collaboration(baseline):
    on = switched_on(baseline, "io_collaboration", outreach_coverage=0.5,
                     extra_shelter_beds=300, hotline_contact_per_day=0.005, referral_days=3,
                     hotline_capacity_per_day=4)
    off = resolve(baseline)
    assert (off.outreach_coverage, off.hotline_contact_per_day) == (0.0, 0.0)
    assert on.outreach_coverage == 0.5 and on.hotline_contact_per_day == 0.005
    assert on.shelter_beds == off.shelter_beds + 300
    assert on.referral_days == 3
    assert (off.hotline_capacity_per_day, on.hotline_capacity_per_day) == (0, 4)
    assert changed_fields(on, off) == {"outreach_coverage", "hotline_contact_per_day",
                                       "hotline_capacity_per_day", "shelter_beds",
                                       "referral_days"}


def test_special_prosecutor(baseline):
    on = switched_on(baseline, "special_prosecutor", arrest_multiplier=2.0,
                     complicity_oversight=0.3)
    off = resolve(baseline)
    base_arrest = baseline.protection.prosecution_arrest_probability
    assert off.arrest_chance(cooperating=False, specialised=True) == base_arrest
    assert on.arrest_chance(cooperating=False, specialised=True) == pytest.approx(
        min(1.0, 2 * base_arrest))
    assert on.arrest_chance(cooperating=False, specialised=False) == base_arrest
    assert on.complicity_chance(False) == pytest.approx(0.7 * off.complicity_chance(False))
    assert changed_fields(on, off) == {"specialised_arrest_multiplier", "complicity_oversight"}


def test_border_tightening(baseline):
    on = switched_on(baseline, "border_tightening", check_multiplier=3.0,
                     extra_detention_capacity=500, deport_share=0.9, raid_multiplier=4.0)
    off = resolve(baseline)
    for place, chance in off.check_probability.items():
        assert on.check_probability[place] == min(1.0, 3.0 * chance)
    assert any(chance > 0 for chance in off.check_probability.values())
    assert on.detention_capacity == off.detention_capacity + 500
    assert on.deport_share == 0.9
    assert on.raid_find_per_day == pytest.approx(4.0 * off.raid_find_per_day)
    assert on.disclosure.security_posture and not off.disclosure.security_posture
    assert changed_fields(on, off) == {"check_probability", "detention_capacity",
                                       "deport_share", "raid_find_per_day", "disclosure"}


def test_checks_need_an_inm_officer_posted(baseline):
    posts = [p.model_dump() for p in baseline.officials.posts if p.institution != "INM"]
    policy = resolve(with_changes(baseline, {"officials.posts": posts}))
    assert set(policy.check_probability.values()) == {0.0}


def test_training_acts_through_the_officials_table():
    screening = Screening(untrained=0.1, trained_gain=0.2)
    assert screening.sensitivity("male", False, trained=True) == pytest.approx(0.3)
    assert Screening(untrained=0.9, trained_gain=0.5).sensitivity("male", False, True) == 0.99


class _Person:
    def __init__(self, sex="female", minor=False, status=Status.IRREGULAR):
        self.sex, self.minor, self.status = sex, minor, status


def test_disclosure_is_neutral_at_base_one():
    neutral = Disclosure(base=1.0, weight_irregular=-5, weight_security=-5, security_posture=True)
    assert neutral.chance(_Person(), "raid") == 1.0
    assert Disclosure(base=0.0, weight_support_staff=9).chance(_Person(), "hotline") == 0.0


def test_disclosure_weights_apply_where_they_should():
    d = Disclosure(base=0.5, weight_irregular=-0.5, weight_security=-0.5,
                   weight_detention_context=-1.0, weight_safe_interview=1.0,
                   weight_visa_promise=0.5, weight_support_staff=1.0)
    logistic = lambda z: 1 / (1 + math.exp(-z))
    assert d.chance(_Person(status=Status.REFUGEE), "checkpoint") == pytest.approx(0.5)
    assert d.chance(_Person(), "checkpoint") == pytest.approx(logistic(-0.5))
    assert d.chance(_Person(), "raid") == pytest.approx(logistic(-1.5))
    assert d.chance(_Person(), "hotline") == pytest.approx(logistic(1.0))  # no fear terms
    scared = replace(d, security_posture=True)
    assert scared.chance(_Person(), "checkpoint") == pytest.approx(logistic(-1.0))
    assert scared.chance(_Person(), "hotline") == pytest.approx(logistic(1.0))
    safe = replace(d, safe_interview=True, visa_promise=True)
    assert safe.chance(_Person(), "checkpoint") == pytest.approx(logistic(1.0))
    assert safe.chance(_Person(sex="male"), "checkpoint") == pytest.approx(logistic(0.0))
    assert safe.chance(_Person(sex="male", minor=True), "checkpoint") == pytest.approx(
        logistic(1.0))


def test_no_rule_reads_a_blocks_switch():
    """Only the policy (and the schema that defines the switch) may read `enabled`."""
    readers = [path.name for path in (ROOT / "model").glob("*.py")
               if path.name not in ("policy.py", "scenario.py")
               and re.search(r"\.enabled\b", path.read_text())]
    assert not readers, f"rules read a block's switch: {readers}"


def test_each_intervention_docstring_is_its_odd_paragraph():
    odd = " ".join((ROOT / "docs" / "ODD.md").read_text().split())
    for name in INTERVENTIONS:
        paragraph = " ".join(inspect.getdoc(getattr(policy_module, name)).split())
        assert paragraph in odd, f"docs/ODD.md lacks the paragraph of {name} (policy.py)"
