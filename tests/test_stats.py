"""stats.py against scipy.stats on random data, and the degenerate cases scipy leaves undefined."""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlab.stats import estimate, paired


@pytest.mark.parametrize("seed", range(20))
def test_mean_interval_is_scipys_t_interval(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(rng.uniform(-5, 5), rng.uniform(0.01, 3), size=rng.integers(2, 40)).tolist()
    result = estimate(values)
    low, high = scipy.stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy.stats.sem(values))
    assert result.n == len(values)
    assert result.mean == pytest.approx(np.mean(values), rel=1e-12)
    assert result.std == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert result.ci95 == pytest.approx((low, high), rel=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_paired_comparison_is_scipys_ttest_rel(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 30))
    b = rng.normal(0.9, 0.05, size=n)
    a = b + rng.normal(rng.uniform(-0.02, 0.02), 0.01, size=n)
    result = paired(a.tolist(), b.tolist())
    reference = scipy.stats.ttest_rel(a, b)
    interval = reference.confidence_interval(0.95)
    assert result.n_pairs == n
    assert result.mean_difference == pytest.approx(np.mean(a - b), rel=1e-12, abs=1e-15)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
    assert result.ci95 == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_one_value_has_no_interval_and_no_crash():
    assert estimate([0.93]).mean == 0.93 and estimate([0.93]).ci95 is None and estimate([0.93]).std is None
    assert estimate([]).n == 0 and estimate([]).mean is None
    one = paired([0.9], [0.8])
    assert one.n_pairs == 1 and one.mean_difference == pytest.approx(0.1) and one.ci95 is None and one.p_value is None
    assert paired([], []).mean_difference is None


def test_values_without_spread():
    assert estimate([0.5, 0.5, 0.5]).ci95 == (0.5, 0.5) and estimate([0.5, 0.5, 0.5]).std == 0.0
    constant = paired([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])  # every difference 0.5: scipy says t = inf, p = 0
    assert constant.p_value == 0.0 and constant.ci95 == (0.5, 0.5)
    with pytest.warns(RuntimeWarning, match="Precision loss"):  # scipy warns that the data are nearly identical
        assert scipy.stats.ttest_rel([1.0, 2.0, 3.0], [0.5, 1.5, 2.5]).pvalue == 0.0
    same = paired([1.0, 2.0], [1.0, 2.0])  # no difference at all: scipy gives NaN; no evidence of one: p = 1
    assert same.p_value == 1.0 and same.mean_difference == 0.0


def test_pairs_need_equal_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        paired([1.0], [1.0, 2.0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=20))
def test_interval_always_holds_the_mean(values):
    result = estimate(values)
    assert result.ci95 is not None and all(math.isfinite(x) for x in result.ci95)
    assert result.ci95[0] <= result.mean + 1e-9 * (1 + abs(result.mean))
    assert result.mean <= result.ci95[1] + 1e-9 * (1 + abs(result.mean))
