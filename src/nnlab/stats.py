"""The statistics of a sweep: a mean with its Student t or BCa bootstrap interval, the paired comparison of two
groups, one-sided paired tests for racing, and Holm's correction of a family of p-values.

Pure: numbers in, numbers out. The t distribution comes from scipy.special (``stdtr``, ``stdtrit``) and the
bootstrap from ``scipy.stats.bootstrap``; the tests check every number against ``scipy.stats`` (``t.interval``,
``ttest_rel``, ``bootstrap``) and statsmodels (``multipletests``).
Degenerate cases are answered, not crashed on: one value has no interval (None); values without spread have a
zero-width interval, and a constant non-zero paired difference has p = 0 (zero: p = 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """The mean of ``n`` values with its spread; ``std`` and ``ci95`` are None below two values."""

    n: int
    mean: float | None
    std: float | None  # sample standard deviation (n - 1 in the denominator)
    ci95: tuple[float, float] | None  # Student t interval of the mean


@dataclass(frozen=True)
class Comparison:
    """The paired difference a - b over ``n_pairs`` pairs: its mean, t interval and two-sided p-value."""

    n_pairs: int
    mean_difference: float | None
    ci95: tuple[float, float] | None
    p_value: float | None


def _mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    variance = math.fsum((value - mean) ** 2 for value in values) / (n - 1)
    return mean, math.sqrt(variance)


def t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """The ``probability`` quantile of Student's t distribution."""
    from scipy.special import stdtrit

    return float(stdtrit(degrees_of_freedom, probability))


def estimate(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean, standard deviation and Student t interval of ``values``."""
    n = len(values)
    if n == 0:
        return Estimate(0, None, None, None)
    if n == 1:
        return Estimate(1, float(values[0]), None, None)
    mean, std = _mean_and_std(values)
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Estimate(n, mean, std, (mean - half, mean + half))


def paired(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Comparison:
    """The paired t comparison of ``a`` and ``b`` (equal lengths, pair by position): mean of a - b, its t interval,
    and the two-sided p-value of the paired t-test (``scipy.stats.ttest_rel``)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, not {len(a)} and {len(b)}")
    differences = [x - y for x, y in zip(a, b)]
    n = len(differences)
    if n < 2:
        return Comparison(n, differences[0] if n else None, None, None)
    from scipy.special import stdtr

    mean, std = _mean_and_std(differences)
    if std == 0.0:
        return Comparison(n, mean, (mean, mean), 1.0 if mean == 0.0 else 0.0)
    error = std / math.sqrt(n)
    half = t_quantile(0.5 + confidence / 2, n - 1) * error
    p_value = float(2.0 * stdtr(n - 1, -abs(mean / error)))
    return Comparison(n, mean, (mean - half, mean + half), min(p_value, 1.0))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values of one family, in the given order: sort ascending, multiply the i-th
    smallest (from 0) by m - i, carry the running maximum forward, cap at 1 (as statsmodels' ``multipletests(...,
    method="holm")``, which the tests compare against)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


BOOTSTRAP_MIN_N = 3  # BCa's acceleration is a jackknife over the values: with two it is undefined
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0  # the same trials give the same summary


def bootstrap_mean(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The BCa bootstrap interval of the mean (``scipy.stats.bootstrap``, fixed random state); None below
    BOOTSTRAP_MIN_N values. Values without spread have the zero-width interval at their value."""
    return _bootstrap((list(values),), confidence, paired_samples=False)


def bootstrap_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The BCa bootstrap interval of the mean paired difference a - b (pairs resampled together: ``paired=True``)."""
    return _bootstrap((list(a), list(b)), confidence, paired_samples=True)


def _bootstrap(samples: tuple[list[float], ...], confidence: float, paired_samples: bool) -> tuple[float, float] | None:
    import numpy as np
    from scipy import stats

    n = len(samples[0])
    if n < BOOTSTRAP_MIN_N:
        return None
    arrays = [np.asarray(sample, dtype=np.float64) for sample in samples]
    if paired_samples:

        def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.mean(x - y, axis=axis)

        spread = arrays[0] - arrays[1]
    else:

        def statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:  # type: ignore[misc]
            return np.mean(x, axis=axis)

        spread = arrays[0]
    if np.ptp(spread) == 0.0:
        value = float(spread[0])
        return value, value
    result = stats.bootstrap(
        tuple(arrays),
        statistic,
        paired=paired_samples,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="BCa",
        random_state=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return low, high


def one_sided_p(a: Sequence[float], b: Sequence[float]) -> float:
    """The one-sided paired t-test's p-value for "a is greater than b" (``scipy.stats.ttest_rel(a, b,
    alternative="greater")``); differences without spread give 0 when all positive, else 1."""
    differences = [x - y for x, y in zip(a, b)]
    n = len(differences)
    if n < 2:
        return 1.0
    mean, std = _mean_and_std(differences)
    if std == 0.0:
        return 0.0 if mean > 0 else 1.0
    from scipy.special import stdtr

    return float(stdtr(n - 1, -(mean / (std / math.sqrt(n)))))
