"""One trial of a sweep, as it runs on a Dask worker: the command's own experiment function on one combination of
settings, returning plain data (status, metrics, seconds, which worker ran it). Nothing here writes a file.

The experiments are the ones the single commands run (``run_moons``, ``run_mnist``, ``run_confidence``), so a
trial computes exactly what the command would. Each worker process keeps the datasets it loaded for its later
trials, and trains with one torch thread (it runs one trial at a time; the cluster has one worker per core).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nnlab.errors import TrainingDiverged
from nnlab.settings import ConfidenceSettings, MnistSettings, MoonsSettings, as_setting_value

if TYPE_CHECKING:
    from nnlab.data import Dataset

DIGITS = range(10)
# Each command's metrics, named as in its metrics file; the main ones get a panel of summary.png.
METRICS: dict[str, list[str]] = {
    "moons": ["error", "accuracy", "zero_error_iteration"],
    "mnist": ["train_accuracy", "test_accuracy", "test_accuracy_all", "fit_seconds"],
    "confidence": ["test_accuracy_all", "ece", *(f"top_{d}" for d in DIGITS), *(f"bottom_{d}" for d in DIGITS)],
}
MAIN_METRICS: dict[str, list[str]] = {
    "moons": ["error", "accuracy"],
    "mnist": ["test_accuracy_all"],
    "confidence": ["test_accuracy_all", "ece"],
}

_DATASETS: dict[tuple[str, str | None, bool], Dataset] = {}  # this worker's loaded datasets, for its later trials


def worker_name() -> str:
    """This worker process, as host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _dataset(settings: MnistSettings | ConfidenceSettings) -> Dataset:
    from nnlab.data import load_dataset

    key = (settings.dataset, settings.data_dir, settings.fallback)
    if key not in _DATASETS:
        _DATASETS[key] = load_dataset(*key[:2], fallback=settings.fallback)
    return _DATASETS[key]


def _one_torch_thread() -> None:
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def warm_up(command: str) -> str:
    """Import what a trial of ``command`` needs (torch takes seconds), so that the cluster's start-up pays it once
    per worker, in parallel, rather than the first trial; returns the worker's name."""
    if command in ("mnist", "confidence"):
        _one_torch_thread()
        import torch

        from nnlab import classifier  # noqa: F401

        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first construction imports torch._dynamo
    else:
        from nnlab import moons  # noqa: F401
    return worker_name()


def _moons(values: dict[str, Any]) -> tuple[dict[str, float | None], str]:
    from nnlab.moons import run_moons

    result = run_moons(MoonsSettings(**values), draw=False)
    metrics = {"error": result.final["error"], "accuracy": result.final["accuracy"],
               "zero_error_iteration": result.zero_error_iteration}  # fmt: skip
    return metrics, "make_moons"


def _mnist(values: dict[str, Any]) -> tuple[dict[str, float | None], str]:
    from nnlab.mnist import run_mnist

    _one_torch_thread()
    settings = MnistSettings(**values)
    dataset = _dataset(settings)
    (model,) = run_mnist(settings, dataset).models.values()
    metrics = {name: float(getattr(model, name)) for name in METRICS["mnist"]}
    return metrics, dataset.source


def _confidence(values: dict[str, Any]) -> tuple[dict[str, float | None], str]:
    from nnlab.confidence import run_confidence

    _one_torch_thread()
    settings = ConfidenceSettings(**values)
    dataset = _dataset(settings)
    analysis = run_confidence(settings, dataset, checkpoint=None).analysis
    metrics: dict[str, float | None] = {"test_accuracy_all": analysis.accuracy, "ece": analysis.ece}
    for kind, indices in (("top", analysis.most), ("bottom", analysis.least)):
        counts = analysis.per_digit_counts(indices)
        metrics |= {f"{kind}_{d}": float(counts[d]) if d < len(counts) else 0.0 for d in DIGITS}
    return metrics, dataset.source


RUNNERS: dict[str, Callable[[dict[str, Any]], tuple[dict[str, float | None], str]]] = {
    "moons": _moons,
    "mnist": _mnist,
    "confidence": _confidence,
}


def run_trial(command: str, values: dict[str, Any]) -> dict[str, Any]:
    """Run one trial of ``command`` with the settings ``values``: ``{"status": "ok" | "diverged" | "failed",
    "reason", "metrics", "seconds", "worker", "source"}``. A diverging or failing trial is recorded, never raised."""
    started = time.perf_counter()
    metrics: dict[str, float | None] = {}
    source, reason = "", ""
    try:
        metrics, source = RUNNERS[command]({name: as_setting_value(value) for name, value in values.items()})
        status = "ok"
    except TrainingDiverged as exc:
        status, reason = "diverged", str(exc)
    except Exception as exc:  # any failure of one trial is that trial's result; the sweep goes on
        status = "failed"
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return {"status": status, "reason": reason, "metrics": metrics, "seconds": time.perf_counter() - started,
            "worker": worker_name(), "source": source}  # fmt: skip


def run_trials(command: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a batch of trials one after another (small trials travel together: one task each would cost more in
    scheduling than in computing)."""
    return [run_trial(command, values) for values in batch]
