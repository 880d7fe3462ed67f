"""The model description (docs/ODD.md) stays true to the scenario schema and the outputs.

Adding a parameter, an intervention or an outcome without describing it fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from model.ledger import OUTCOME_NAMES, RUN_KEYS
from model.run import simulate
from model.scenario import INTERVENTIONS, flatten, load_scenario
from tests.conftest import BASELINE, variant

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"

#: The ODD protocol's sections (Grimm et al. 2020), in order.
ODD_HEADINGS = (
    "1 Purpose and patterns",
    "2 Entities, state variables and scales",
    "3 Process overview and scheduling",
    "4 Design concepts",
    "5 Initialization",
    "6 Input data",
    "7 Submodels",
)
#: The design concepts of section 4, in order.
DESIGN_CONCEPTS = (
    "Basic principles", "Emergence", "Adaptation", "Objectives", "Learning", "Prediction",
    "Sensing", "Interaction", "Stochasticity", "Collectives", "Observation",
)


@pytest.fixture(scope="module")
def odd_text() -> str:
    return ODD.read_text(encoding="utf-8")


def _headings(text: str) -> list[str]:
    return [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]


def test_every_baseline_parameter_is_described(odd_text):
    keys = [key for key in flatten(load_scenario(BASELINE)) if "." in key]
    assert keys, "the baseline has no dotted parameters: flatten() changed?"
    missing = [key for key in keys if f"`{key}`" not in odd_text]
    assert not missing, "parameters missing from docs/ODD.md (add a row in 7.17): " + ", ".join(
        missing)


def test_interventions_and_odd_headings_are_present(odd_text):
    assert set(INTERVENTIONS) == {
        "humanitarian_visa", "gender_responsive_screening", "cross_sector_training",
        "io_collaboration", "special_prosecutor", "border_tightening"}
    for name in INTERVENTIONS:
        assert re.search(rf"\*\*`{name}`\*\*", odd_text), f"no paragraph for intervention {name}"
    headings = _headings(odd_text)
    positions = []
    for heading in ODD_HEADINGS:
        assert heading in headings, f"ODD heading missing: {heading}"
        positions.append(headings.index(heading))
    assert positions == sorted(positions), "ODD headings out of order"
    concepts = [next((i for i, h in enumerate(headings) if h.endswith(concept)), None)
                for concept in DESIGN_CONCEPTS]
    assert None not in concepts, "a design concept heading is missing from section 4"
    assert concepts == sorted(concepts), "design concepts out of order"


def test_every_summary_outcome_is_described(odd_text):
    missing = [name for name in OUTCOME_NAMES if f"`{name}`" not in odd_text]
    assert not missing, "summary.json outcomes missing from docs/ODD.md (4.11): " + ", ".join(
        missing)


def test_the_catalogue_is_what_a_run_reports(baseline_raw):
    params = variant(baseline_raw, **{"days": 3, "arrivals.daily_rate": 5})
    summary = simulate(params, seed=1, keep_events=False).summary
    assert [k for k in summary if k not in RUN_KEYS] == list(OUTCOME_NAMES)
