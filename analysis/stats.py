"""Statistics for scenario comparisons: CIs, paired differences, effect sizes, Holm.

Runs of different scenarios with the same replicate seed share their arrivals
(common random numbers), so differences are taken pair by pair. No p-value is
reported without an effect size and a confidence interval. Counts that are
often zero, or strongly skewed, get a bootstrap interval instead of a t interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 4999
BOOTSTRAP_SEED = 20200109  # fixed: the same data always give the same interval (FFP announced 9 Jan 2020)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str  # "t", "bootstrap" or "exact" (no spread)


def is_skewed(values: np.ndarray) -> bool:
    """Often zero (a fifth or more) or strongly skewed: a t interval would mislead."""
    values = np.asarray(values, dtype=float)
    if len(values) < 3 or np.ptp(values) == 0:
        return False
    zeros = np.mean(values == 0)
    # |skewness| beyond twice its standard error under normality (about sqrt(6/n)), and > 1
    threshold = max(1.0, 2.0 * math.sqrt(6.0 / len(values)))
    return bool(zeros >= 0.2 or abs(stats.skew(values)) > threshold)


def mean_interval(values, confidence: float = CONFIDENCE) -> Interval:
    """A confidence interval for the mean: t for well-behaved data, bootstrap otherwise."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, "none")
    mean = float(values.mean())
    if n == 1 or np.ptp(values) == 0:
        return Interval(mean, mean, "exact") if n > 1 else Interval(math.nan, math.nan, "none")
    if is_skewed(values):
        result = stats.bootstrap(
            (values,), np.mean, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED),
        )
        return Interval(float(result.confidence_interval.low),
                        float(result.confidence_interval.high), "bootstrap")
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return Interval(mean - half, mean + half, "t")


def cohens_dz(differences) -> float:
    """Paired Cohen's d: mean difference over the standard deviation of differences."""
    differences = np.asarray(differences, dtype=float)
    if len(differences) < 2:
        return math.nan
    spread = differences.std(ddof=1)
    mean = differences.mean()
    if spread == 0:
        return 0.0 if mean == 0 else math.copysign(math.inf, mean)
    return float(mean / spread)


def vargha_delaney_a12(treatment, control) -> float:
    """Probability that a treatment run exceeds a control run (ties count half)."""
    treatment = np.asarray(treatment, dtype=float)
    control = np.asarray(control, dtype=float)
    if len(treatment) == 0 or len(control) == 0:
        return math.nan
    m, n = len(treatment), len(control)
    ranks = stats.rankdata(np.concatenate([treatment, control]))  # ties get average ranks
    return float((ranks[:m].sum() / m - (m + 1) / 2) / n)


def paired_p_value(differences) -> float:
    """Two-sided paired t test on the differences; 1.0 when they are all zero."""
    differences = np.asarray(differences, dtype=float)
    if len(differences) < 2:
        return math.nan
    if np.ptp(differences) == 0:
        return 1.0 if differences[0] == 0 else 0.0
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment: controls the family-wise error over all contrasts."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    if len(valid) == 0:
        return adjusted
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def replications_needed(values, relative_half_width: float = 0.10,
                        confidence: float = CONFIDENCE) -> float:
    """Replications for a CI half-width of `relative_half_width` x |mean| (precision rule).

    The smallest n with t(n-1) * s / sqrt(n) <= gamma * |mean|, from the pilot's s and mean
    (Law, Simulation Modeling and Analysis; see docs/notes on replications).
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return math.nan
    mean, spread = abs(values.mean()), values.std(ddof=1)
    if spread == 0:
        return float(len(values))
    if mean == 0:
        return math.inf
    # The normal-quantile answer is a lower bound (t > z); step up from it with t.
    z = stats.norm.ppf(0.5 + confidence / 2)
    n = max(2, math.ceil((z * spread / (relative_half_width * mean)) ** 2))
    if n > 1_000_000:
        return math.inf
    while stats.t.ppf(0.5 + confidence / 2, n - 1) * spread / math.sqrt(n) > (
            relative_half_width * mean):
        n += 1
    return float(n)


def relative_half_width(values, confidence: float = CONFIDENCE) -> float:
    """Half the CI's width over |mean|: how precise the estimate is now."""
    interval = mean_interval(values, confidence)
    mean = float(np.nanmean(values)) if len(values) else math.nan
    if not mean or math.isnan(interval.low):
        return math.nan
    return (interval.high - interval.low) / 2 / abs(mean)


@dataclass(frozen=True)
class Precision:
    """Where one mean stands against the precision rule (`precision`)."""

    n: int
    mean: float
    rel_half_width: float
    needed: float  # replications the rule would need (an estimate from these runs)
    status: str    # "met", "not met" or "not assessable"
    reason: str = ""  # why not assessable


def precision(values, gamma: float = 0.10, confidence: float = CONFIDENCE) -> Precision:
    """The precision rule for one mean: is the CI's half-width at most gamma x |mean|?

    The half-width is the one `corridor compare` shows (t, or bootstrap for skewed counts).
    A mean of 0 (an outcome that never happened in these runs) has no relative half-width,
    and more runs would not give it one, so it is "not assessable" rather than "needs
    infinitely many". When a bootstrap interval is wider than the t formula of
    `replications_needed` assumes, the runs needed are also scaled from the interval itself
    (a half-width shrinks as 1/sqrt(n)), and the larger estimate is kept.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n < 2:
        return Precision(n, float(values.mean()) if n else math.nan, math.nan, math.nan,
                         "not assessable", "fewer than 2 runs with a value")
    mean = float(values.mean())
    if abs(mean) <= 1e-12 * float(np.abs(values).max()):  # all zero, or zero up to rounding
        return Precision(n, mean, math.nan, math.nan, "not assessable", "mean 0")
    width = relative_half_width(values, confidence)
    needed = replications_needed(values, gamma, confidence)
    if width <= gamma:
        return Precision(n, mean, width, min(needed, n), "met")
    scaled = math.ceil(n * (width / gamma) ** 2)
    return Precision(n, mean, width, float(max(needed, scaled, n + 1)), "not met")
