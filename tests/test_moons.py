import numpy as np
import pytest
from sklearn.datasets import make_moons as sklearn_make_moons

from nnlab.errors import TrainingDiverged
from nnlab.moons import grid_points, make_data, make_moons, run_moons
from nnlab.settings import MoonsSettings


@pytest.mark.parametrize("samples", [2, 3, 100, 1001])
@pytest.mark.parametrize("noise", [0.0, 0.05, 0.3])
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_make_moons_is_sklearns_bit_for_bit(samples, noise, seed):
    X, y = make_moons(samples, noise, seed)
    X_ref, y_ref = sklearn_make_moons(samples, noise=noise or None, random_state=seed)
    assert np.array_equal(X, X_ref) and np.array_equal(y, y_ref)


def test_data_is_mapped_like_the_lab():
    X, T = make_data(100, 0.0, 0)
    X_ref, T_ref = sklearn_make_moons(100, random_state=0)
    np.testing.assert_array_equal(X, X_ref * 2 - 1)
    assert set(np.unique(T)) == {-1.0, 1.0}
    np.testing.assert_array_equal(T, T_ref * 2 - 1)


def test_grid_is_linspace_minus4_4_in_both_axes():
    axis, points = grid_points()
    np.testing.assert_array_equal(axis, np.linspace(-4, 4, 100))
    assert points.shape == (10000, 2)
    assert set(np.unique(points[:, 0])) == set(axis) == set(np.unique(points[:, 1]))


def test_default_training_reaches_low_error():
    result = run_moons(MoonsSettings())
    assert len(result.history) == 33
    assert [row["iteration"] for row in result.history] == list(range(33))
    assert result.history[-1]["error"] < 0.01
    assert result.history[-1]["accuracy"] >= 0.98
    assert result.history[-1]["error"] < result.history[0]["error"]
    assert sorted(result.boundaries) == [0, 1, 2, 4, 8, 16, 32]
    assert result.boundaries[32].shape == (100, 100)


@pytest.mark.parametrize("seed", range(5))
def test_default_settings_train_well_for_other_seeds(seed):
    assert run_moons(MoonsSettings(seed=seed)).history[-1]["accuracy"] >= 0.97


def test_same_seed_same_numbers_and_other_seed_other_numbers():
    a, b, c = (run_moons(MoonsSettings(iters=5, seed=s)) for s in (0, 0, 1))
    assert a.history == b.history
    assert a.history != c.history


def test_animation_keeps_every_iteration():
    result = run_moons(MoonsSettings(iters=6, animate=True))
    assert sorted(result.boundaries) == list(range(7))


def test_boundary_snapshot_is_the_network_output_on_the_grid():
    result = run_moons(MoonsSettings(iters=0))
    from nnlab.scratch import TwoLayerNet

    _, points = grid_points()
    expected = TwoLayerNet(50, seed=0).forward(points).reshape(100, 100)
    np.testing.assert_allclose(result.boundaries[0], expected)


def test_diverging_training_stops_with_advice(monkeypatch):
    with pytest.raises(TrainingDiverged, match=r"the error exploded to .* at iteration 1; try a smaller lr"):
        run_moons(MoonsSettings(lr=1e3, iters=5))
    assert run_moons(MoonsSettings(lr=5.0, iters=64, seed=2)).final["accuracy"] == 1.0  # a high rate is not divergence
    monkeypatch.setattr("nnlab.scratch.TwoLayerNet.all_finite", lambda net: False)
    with pytest.raises(TrainingDiverged, match=r"weights became non-finite after iteration 0; try a smaller lr"):
        run_moons(MoonsSettings(iters=4))


def test_results_for_sweeps():
    result = run_moons(MoonsSettings(), draw=False)
    assert result.boundaries == {} and result.final == result.history[-1]
    assert result.zero_error_iteration == next(row["iteration"] for row in result.history if row["error"] == 0.0)
    assert run_moons(MoonsSettings(iters=1)).zero_error_iteration is None
