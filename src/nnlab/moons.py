"""The moons experiment: the lab's data, full-batch gradient descent, and snapshots of the boundary."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from nnlab.errors import Name, TrainingDiverged
from nnlab.scratch import TwoLayerNet
from nnlab.settings import MoonsSettings

GRID_LIMIT = 4.0
GRID_POINTS = 100


@dataclass
class MoonsResult:
    """Everything the moons run computed; plots and reports read it, nothing here does I/O."""

    config: MoonsSettings
    X: np.ndarray  # (N, 2) inputs in the lab's scale
    T: np.ndarray  # (N,) labels in {-1, +1}
    grid: np.ndarray  # (P,) the coordinates of both picture axes
    history: list[dict[str, float]]  # one row per iteration 0..iters: iteration, error, accuracy
    boundaries: dict[int, np.ndarray]  # iteration -> network output on the grid, (P, P) [row = y, col = x]
    seconds: float  # the training's own time

    @property
    def snapshots(self) -> tuple[int, ...]:
        return self.config.snapshot_iterations()

    def error_at(self, iteration: int) -> float:
        return self.history[iteration]["error"]

    @property
    def final(self) -> dict[str, float]:
        """The last row of the history: error and accuracy after training."""
        return self.history[-1]

    @property
    def zero_error_iteration(self) -> int | None:
        """The first iteration at which the error is 0, or None if it never is."""
        return next((int(row["iteration"]) for row in self.history if row["error"] == 0.0), None)


def make_moons(samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``sklearn.datasets.make_moons(samples, noise=noise, random_state=seed)``, reproduced bit for bit.

    A NumPy copy of scikit-learn's generator (the test suite checks equality against it) so that
    ``nnlab moons`` does not pay the ~0.7 s import of scikit-learn and SciPy at start-up.
    """
    n_out = samples // 2
    n_in = samples - n_out
    generator = np.random.RandomState(seed)
    outer = np.linspace(0, np.pi, n_out)
    inner = np.linspace(0, np.pi, n_in)
    X = np.vstack([np.append(np.cos(outer), 1 - np.cos(inner)), np.append(np.sin(outer), 1 - np.sin(inner) - 0.5)]).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    order = np.arange(samples)
    generator.shuffle(order)  # sklearn.utils.shuffle with the same generator
    X, y = X[order], y[order]
    if noise:
        X += generator.normal(scale=noise, size=X.shape)
    return X, y


def make_data(samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The lab's two moons: ``make_moons`` with inputs ``X*2-1`` and labels ``T*2-1`` (so t is -1 or +1)."""
    X, T = make_moons(samples, noise, seed)
    return X * 2.0 - 1.0, T.astype(np.float64) * 2.0 - 1.0


def grid_points(limit: float = GRID_LIMIT, points: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The picture grid ``linspace(-limit, limit, points)`` in both axes, and its points as (P*P, 2)."""
    axis = np.linspace(-limit, limit, points)
    xx, yy = np.meshgrid(axis, axis)
    return axis, np.column_stack([xx.ravel(), yy.ravel()])


# An error this many times its starting value (or 1, if that is less) means the weights are running away, even
# while the numbers are still finite: with the default learning rate the error stays within 10 times.
EXPLODED_ERROR_FACTOR = 1000.0


def _check_divergence(net: TwoLayerNet, history: list[dict[str, float]], lr: float) -> None:
    row = history[-1]
    if not (net.all_finite() and np.isfinite(row["error"])):
        what = f"the weights became non-finite after iteration {row['iteration']}"
    elif row["error"] > EXPLODED_ERROR_FACTOR * max(history[0]["error"], 1.0):
        what = f"the error exploded to {row['error']:.3g} at iteration {row['iteration']}"
    else:
        return
    raise TrainingDiverged(f"{what}; try a smaller ", Name("lr"), f" (it was {lr:g})")


def run_moons(config: MoonsSettings, draw: bool = True) -> MoonsResult:
    """Train the lab's network on two moons and keep the boundary at the chosen iterations (at every iteration
    with ``config.animate``; at none without ``draw``, as a sweep needs only the numbers).

    Raises TrainingDiverged when the weights stop being finite or the error explodes.
    """
    started = time.perf_counter()
    X, T = make_data(config.samples, config.noise, config.seed)
    net = TwoLayerNet(hidden=config.hidden, seed=config.seed)
    axis, points = grid_points()
    keep = set(range(config.iters + 1)) if config.animate else set(config.snapshot_iterations())
    if not draw:
        keep = set()
    history: list[dict[str, float]] = []
    boundaries: dict[int, np.ndarray] = {}
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and reported below
        for iteration in range(config.iters + 1):
            if iteration in keep:
                boundaries[iteration] = net.forward(points).reshape(axis.size, axis.size)
            if iteration == config.iters:
                error, accuracy = net.loss(X, T), net.accuracy(X, T)
            else:
                error, accuracy = net.step(X, T, config.lr)
            history.append({"iteration": iteration, "error": error, "accuracy": accuracy})
            _check_divergence(net, history, config.lr)
    return MoonsResult(
        config=config,
        X=X,
        T=T,
        grid=axis,
        history=history,
        boundaries=boundaries,
        seconds=time.perf_counter() - started,
    )
