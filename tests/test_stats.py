"""The statistics behind `corridor compare`: checked on data whose truth is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.stats import (
    cohens_dz,
    holm,
    is_skewed,
    mean_interval,
    paired_p_value,
    replications_needed,
    vargha_delaney_a12,
)


def test_a_sample_compared_with_itself():
    values = np.random.default_rng(1).normal(10, 2, size=30)
    differences = values - values
    assert cohens_dz(differences) == 0.0
    assert vargha_delaney_a12(values, values) == 0.5
    assert paired_p_value(differences) == 1.0
    interval = mean_interval(differences)
    assert (interval.low, interval.high) == (0.0, 0.0)


def test_effect_sizes_recover_a_known_shift():
    rng = np.random.default_rng(2)
    control = rng.normal(0, 1, size=20000)
    treatment = control + rng.normal(0.5, 1, size=20000)  # paired shift 0.5, sd of diff 1
    assert cohens_dz(treatment - control) == pytest.approx(0.5, abs=0.05)
    # A12 for N(0,1) vs N(0.5, sqrt 2): P(X>Y) = Phi(0.5 / sqrt(3))
    from scipy.stats import norm

    expected = norm.cdf(0.5 / math.sqrt(3))
    assert vargha_delaney_a12(treatment, control) == pytest.approx(expected, abs=0.02)
    assert paired_p_value(treatment - control) < 1e-10


@pytest.mark.parametrize("n", [10, 30])
@pytest.mark.slow  # over a second: `make test` runs it, `make test-fast` not
def test_t_intervals_cover_the_true_mean_about_95_percent(n):
    rng = np.random.default_rng(3)
    methods = {"t": 0, "bootstrap": 0}
    hits = 0
    repetitions = 2000
    for _ in range(repetitions):
        interval = mean_interval(rng.normal(5.0, 2.0, size=n))
        methods[interval.method] += 1
        hits += interval.low <= 5.0 <= interval.high
    assert 0.935 <= hits / repetitions <= 0.965
    assert methods["t"] > 0.9 * repetitions  # normal data rarely look skewed


def test_bootstrap_intervals_for_counts_that_are_often_zero_cover_well():
    rng = np.random.default_rng(4)
    hits, repetitions, true_mean = 0, 400, 0.8
    for _ in range(repetitions):
        sample = rng.poisson(true_mean, size=40)
        assert is_skewed(sample)
        interval = mean_interval(sample)
        assert interval.method == "bootstrap"
        hits += interval.low <= true_mean <= interval.high
    assert 0.90 <= hits / repetitions <= 0.98


def test_holm_adjustment_matches_the_step_down_rule():
    adjusted = holm([0.01, 0.04, 0.03, 0.5, float("nan")])
    np.testing.assert_allclose(adjusted[:4], [0.04, 0.09, 0.09, 0.5])
    assert math.isnan(adjusted[4])
    assert (holm([0.9, 0.8]) <= 1.0).all()


def test_replications_needed_follows_the_precision_rule():
    rng = np.random.default_rng(5)
    pilot = rng.normal(100, 30, size=20)  # CV about 0.3: about 38 runs for a 10% half-width
    needed = replications_needed(pilot)
    assert 25 <= needed <= 60
    assert replications_needed(np.full(10, 4.0)) == 10
