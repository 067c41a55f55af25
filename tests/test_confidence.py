import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nnlab.confidence import analyse, calibration, log_confidence, probability_text, rank


def test_matches_log_softmax_max_where_that_is_accurate():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(200, 10))
    expected = torch.log_softmax(torch.tensor(logits), dim=1).max(dim=1).values.numpy()
    np.testing.assert_allclose(log_confidence(logits), expected, rtol=1e-12, atol=1e-15)


def test_stays_exact_where_naive_softmax_rounds_to_one():
    logits = np.array([[50.0, 0.0], [60.0, 0.0], [0.0, 0.0]])
    naive = np.log(np.exp(logits).max(1) / np.exp(logits).sum(1))
    assert naive[0] == naive[1] == 0.0  # the naive computation cannot tell them apart
    result = log_confidence(logits)
    np.testing.assert_allclose(result[:2], [-np.exp(-50.0), -np.exp(-60.0)], rtol=1e-14)
    assert result[0] < result[1] < 0.0
    assert result[2] == pytest.approx(np.log(0.5))


def test_the_original_notes_formula_is_wrong():
    logits = np.array([[2.0, 1.0, 0.0]])
    from scipy.special import logsumexp

    notes = (logits / logsumexp(logits)).max()  # the notes' arr / logsumexp(arr)
    right = log_confidence(logits)[0]
    assert np.exp(right) == pytest.approx(np.exp(2) / np.exp(logits).sum())
    assert abs(notes - right) > 0.5


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(1, 6), st.integers(2, 10)), elements=st.floats(-1e308, 1e308, allow_nan=False)
    )
)
def test_finite_and_non_positive_for_any_finite_logits(logits):
    result = log_confidence(logits)
    assert result.shape == (logits.shape[0],) and result.dtype == np.float64
    assert np.all(np.isfinite(result)) and np.all(result <= 0.0)
    assert np.all(result >= -np.log(logits.shape[1]) - 1e-12)  # p_max >= 1 / C


@settings(max_examples=100, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.just(10)),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_finite_for_float32_logits(logits):
    assert np.all(np.isfinite(log_confidence(logits)))


def test_ranking_is_deterministic_with_ties_by_index():
    log_conf = np.array([-0.1, -0.5, -0.1, 0.0, -0.5])
    assert rank(log_conf, most=True).tolist() == [3, 0, 2, 1, 4]
    assert rank(log_conf, most=False).tolist() == [1, 4, 0, 2, 3]


def test_probability_text():
    assert probability_text(np.log(0.5)) == "0.500"
    assert probability_text(-1e-12) == "1−1.0e-12"
    assert probability_text(0.0) == "1−0"


def test_calibration_of_a_perfect_and_a_wrong_model():
    confidence = np.array([0.95, 0.95, 0.65, 0.65])
    ece, bins = calibration(confidence, np.array([True, True, True, False]))
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert ece == pytest.approx(0.5 * 0.05 + 0.5 * 0.15)
    assert calibration(np.ones(3), np.zeros(3, bool))[0] == pytest.approx(1.0)


def test_analyse_summarises_per_class():
    logits = np.array([[5.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 0.5], [2.0, 0.0]])
    labels = np.array([0, 1, 1, 1, 0])
    result = analyse(logits, labels, ("a", "b"), top=2, model="m", dataset="d")
    assert result.most.tolist() == [0, 2] and result.least.tolist() == [3, 1]
    a, b = result.per_class
    assert (a["count"], a["accuracy"], a["in_most"], a["in_least"]) == (2, 1.0, 1, 0)
    assert (b["count"], b["accuracy"], b["in_most"], b["in_least"]) == (3, 2 / 3, 1, 2)
    assert result.rows(result.most)[0] == {
        "index": 0,
        "label": 0,
        "prediction": 0,
        "log_confidence": result.log_conf[0],
        "probability": np.exp(result.log_conf[0]),
    }
    assert result.class_counts(result.least) == [("b", 2)]
