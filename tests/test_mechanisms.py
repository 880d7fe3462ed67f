"""Mechanism tests: each intervention moves the outcome its mechanism says it should.

Paired seeds (common random numbers) and outcomes pooled over several replications, so
the comparisons are stable; the effects asserted are large relative to seed noise.

Runs are shared: `summaries` keeps every (scenario, seed) summary computed in this module,
so the baseline ("off") runs that several tests compare against are run once, not three
times. A run is deterministic in (scenario, seed), so the shared run is the very run each
test would otherwise have repeated. The tests that share the baseline are pinned to one
xdist worker (`xdist_group`, honoured by `--dist loadgroup`); the others share nothing and
may go to any worker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType

import pytest

from model.run import simulate
from tests.conftest import variant

#: Every test here runs the model for 150 days at 100 arrivals a day, pooled over SEEDS.
pytestmark = pytest.mark.slow
#: The tests that compare with the plain baseline runs (SHORT, every intervention off).
SHARES_BASELINE = pytest.mark.xdist_group("mechanisms-baseline")

SEEDS = (1, 2, 3, 4)
SHORT = {"days": 150, "arrivals.daily_rate": 100}
# Many identifications, so that what follows identification can be compared.
MANY_IDENTIFIED = {"officials.sensitivity_untrained": 0.6,
                   "detection.inspection_find_per_day": 0.03}


@pytest.fixture(scope="module")
def summaries(baseline_raw):
    """summaries(seed, **changes): the summary of SHORT + changes run with `seed`, computed
    once per module whatever the number of tests that ask for it."""
    cache: dict[tuple[str, int], Mapping] = {}

    def run_summary(seed: int, **changes) -> Mapping:
        key = (json.dumps(changes, sort_keys=True), seed)
        if key not in cache:
            params = variant(baseline_raw, **{**SHORT, **changes})
            result = simulate(params, seed, keep_events=False)
            cache[key] = MappingProxyType(result.summary)  # shared between tests: read-only
        return cache[key]

    return run_summary


@pytest.fixture(scope="module")
def pooled(summaries):
    """pooled(keys, **changes): the sum of each key over SEEDS."""
    def totals(keys, **changes) -> dict:
        runs = [summaries(seed, **changes) for seed in SEEDS]
        return {key: float(sum(run[key] for run in runs)) for key in keys}

    return totals


@SHARES_BASELINE
def test_no_traffickers_no_victims(baseline_raw, summaries):
    params = variant(baseline_raw, **{**SHORT, "traffickers.initial": 0,
                                      "traffickers.market_size": 0})
    result = simulate(params, seed=1, keep_events=False)
    assert result.summary["victims_true"] == 0
    assert result.summary["victims_identified"] == 0
    assert (result.series[["recruited", "exploited", "identified", "protected"]] == 0).all().all()
    with_traffickers = summaries(1)  # the baseline's seed-1 run, shared with the pooled tests
    assert with_traffickers["victims_true"] > 0


@pytest.mark.parametrize("sensitivity,expect_any", [(0.0, False), (0.5, True)])
def test_screening_sensitivity_zero_identifies_no_one(pooled, sensitivity, expect_any):
    keys = ("victims_true", "victims_identified")
    totals = pooled(keys, **{
        "officials.sensitivity_untrained": sensitivity,
        "officials.trained_sensitivity_gain": 0.0,
        "io_collaboration.enabled": True,  # the hotline screens too
        "detection.inspection_find_per_day": 0.03,
    })
    assert totals["victims_true"] > 100
    assert (totals["victims_identified"] > 0) == expect_any


@SHARES_BASELINE
def test_gender_responsive_screening_raises_identification(pooled):
    keys = ("victims_true", "victims_identified", "victims_true_female",
            "victims_identified_female")
    off = pooled(keys)
    on = pooled(keys, **{"gender_responsive_screening.enabled": True})
    rate = lambda t: t["victims_identified"] / t["victims_true"]
    female = lambda t: t["victims_identified_female"] / t["victims_true_female"]
    assert rate(on) > 1.5 * rate(off)
    assert female(on) > 1.5 * female(off)


def test_humanitarian_visas_lower_retrafficking(pooled):
    keys = ("retrafficked_after_identification", "victims_identified", "tvrh_issued")
    without = pooled(keys, **MANY_IDENTIFIED)
    with_visa = pooled(keys, **MANY_IDENTIFIED, **{"humanitarian_visa.enabled": True})
    assert with_visa["tvrh_issued"] > 0 and without["tvrh_issued"] == 0
    per_identified = lambda t: t["retrafficked_after_identification"] / t["victims_identified"]
    assert per_identified(without) > 0.02
    assert per_identified(with_visa) < 0.5 * per_identified(without)


@SHARES_BASELINE
def test_border_tightening_raises_bypass_share_and_debt(pooled):
    keys = ("bypass_share", "mean_smuggler_debt_usd", "smuggled")
    open_border = pooled(keys)
    tight = pooled(keys, **{"border_tightening.enabled": True})
    assert tight["bypass_share"] > open_border["bypass_share"] + 0.05 * len(SEEDS)
    assert tight["mean_smuggler_debt_usd"] > 1.3 * open_border["mean_smuggler_debt_usd"]
    assert tight["smuggled"] > open_border["smuggled"]


def test_more_shelter_beds_fewer_identified_victims_deported(baseline_raw, pooled):
    keys = ("identified_deported", "victims_identified", "victims_protected")
    places = baseline_raw["corridor"]["places"]
    def beds(n):
        return [dict(p, shelter_beds=n) if p["kind"] == "hub" else p for p in places]
    few = pooled(keys, **MANY_IDENTIFIED, **{"corridor.places": beds(0)})
    many = pooled(keys, **MANY_IDENTIFIED, **{"corridor.places": beds(3000)})
    assert few["victims_identified"] > 50
    assert few["victims_protected"] == 0 and many["victims_protected"] > 0
    assert many["identified_deported"] < 0.5 * few["identified_deported"]
