"""Shared fixtures: the shipped baseline, small variants of it, and a CLI runner."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from model.scenario import Scenario, load_raw, validate_scenario, with_changes

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
BASELINE = SCENARIOS / "baseline_2018.toml"
CORRIDOR_BIN = Path(sys.executable).parent / "corridor"


@pytest.fixture(scope="session")
def baseline_raw() -> dict:
    return load_raw(BASELINE)


def variant(raw: dict, **changes) -> Scenario:
    """The baseline with dotted-key changes, e.g. variant(raw, **{"hub.rest_days": 1})."""
    return with_changes(validate_scenario(copy.deepcopy(raw)), changes)


@pytest.fixture()
def make_variant(baseline_raw):
    return lambda **changes: variant(baseline_raw, **changes)


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(CORRIDOR_BIN), *args], cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=600)
