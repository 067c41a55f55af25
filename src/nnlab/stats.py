"""The statistics of a sweep: a mean with its Student t interval, and the paired t comparison of two groups.

Pure: numbers in, numbers out. The t distribution comes from scipy.special (``stdtr``, ``stdtrit``); everything
else is computed here, and the tests check the results against ``scipy.stats`` (``t.interval``, ``ttest_rel``).
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
