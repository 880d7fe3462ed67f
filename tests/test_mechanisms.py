"""Mechanism tests: each intervention moves the outcome its mechanism says it should.

Paired seeds (common random numbers) and outcomes pooled over several replications, so
the comparisons are stable; the effects asserted are large relative to seed noise.
"""

from __future__ import annotations

import pytest

from model.run import simulate
from tests.conftest import variant

SEEDS = (1, 2, 3, 4)
SHORT = {"days": 150, "arrivals.daily_rate": 100}
# Many identifications, so that what follows identification can be compared.
MANY_IDENTIFIED = {"officials.sensitivity_untrained": 0.6,
                   "detection.inspection_find_per_day": 0.03}


def pooled(baseline_raw, keys, **changes) -> dict:
    params = variant(baseline_raw, **{**SHORT, **changes})
    totals = dict.fromkeys(keys, 0.0)
    for seed in SEEDS:
        summary = simulate(params, seed, keep_events=False).summary
        for key in keys:
            totals[key] += summary[key]
    return totals


def test_no_traffickers_no_victims(baseline_raw):
    params = variant(baseline_raw, **{**SHORT, "traffickers.initial": 0,
                                      "traffickers.market_size": 0})
    result = simulate(params, seed=1, keep_events=False)
    assert result.summary["victims_true"] == 0
    assert result.summary["victims_identified"] == 0
    assert (result.series[["recruited", "exploited", "identified", "protected"]] == 0).all().all()
    with_traffickers = simulate(variant(baseline_raw, **SHORT), seed=1, keep_events=False)
    assert with_traffickers.summary["victims_true"] > 0


@pytest.mark.parametrize("sensitivity,expect_any", [(0.0, False), (0.5, True)])
def test_screening_sensitivity_zero_identifies_no_one(baseline_raw, sensitivity, expect_any):
    keys = ("victims_true", "victims_identified")
    totals = pooled(baseline_raw, keys, **{
        "officials.sensitivity_untrained": sensitivity,
        "officials.trained_sensitivity_gain": 0.0,
        "io_collaboration.enabled": True,  # the hotline screens too
        "detection.inspection_find_per_day": 0.03,
    })
    assert totals["victims_true"] > 100
    assert (totals["victims_identified"] > 0) == expect_any


def test_gender_responsive_screening_raises_identification(baseline_raw):
    keys = ("victims_true", "victims_identified", "victims_true_female",
            "victims_identified_female")
    off = pooled(baseline_raw, keys)
    on = pooled(baseline_raw, keys, **{"gender_responsive_screening.enabled": True})
    rate = lambda t: t["victims_identified"] / t["victims_true"]
    female = lambda t: t["victims_identified_female"] / t["victims_true_female"]
    assert rate(on) > 1.5 * rate(off)
    assert female(on) > 1.5 * female(off)


def test_humanitarian_visas_lower_retrafficking(baseline_raw):
    keys = ("retrafficked_after_identification", "victims_identified", "tvrh_issued")
    without = pooled(baseline_raw, keys, **MANY_IDENTIFIED)
    with_visa = pooled(baseline_raw, keys, **MANY_IDENTIFIED, **{"humanitarian_visa.enabled": True})
    assert with_visa["tvrh_issued"] > 0 and without["tvrh_issued"] == 0
    per_identified = lambda t: t["retrafficked_after_identification"] / t["victims_identified"]
    assert per_identified(without) > 0.02
    assert per_identified(with_visa) < 0.5 * per_identified(without)


def test_border_tightening_raises_bypass_share_and_debt(baseline_raw):
    keys = ("bypass_share", "mean_smuggler_debt_usd", "smuggled")
    open_border = pooled(baseline_raw, keys)
    tight = pooled(baseline_raw, keys, **{"border_tightening.enabled": True})
    assert tight["bypass_share"] > open_border["bypass_share"] + 0.05 * len(SEEDS)
    assert tight["mean_smuggler_debt_usd"] > 1.3 * open_border["mean_smuggler_debt_usd"]
    assert tight["smuggled"] > open_border["smuggled"]


def test_more_shelter_beds_fewer_identified_victims_deported(baseline_raw):
    keys = ("identified_deported", "victims_identified", "victims_protected")
    places = baseline_raw["corridor"]["places"]
    def beds(n):
        return [dict(p, shelter_beds=n) if p["kind"] == "hub" else p for p in places]
    few = pooled(baseline_raw, keys, **MANY_IDENTIFIED, **{"corridor.places": beds(0)})
    many = pooled(baseline_raw, keys, **MANY_IDENTIFIED, **{"corridor.places": beds(3000)})
    assert few["victims_identified"] > 50
    assert few["victims_protected"] == 0 and many["victims_protected"] > 0
    assert many["identified_deported"] < 0.5 * few["identified_deported"]
