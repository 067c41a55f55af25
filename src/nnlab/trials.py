"""One trial of a sweep, as it runs on a Dask worker: the experiment's own trial function on one combination of
settings, returning plain data (status, metrics, seconds, which worker ran it, what data it used). Nothing here
writes a file.

Each experiment's trial (experiments/) computes exactly what its command would. Each worker process keeps the
datasets it loaded for its later trials, and trains with one torch thread (it runs one trial at a time; the cluster
has one worker per core).
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

from nnlab import registry
from nnlab.declarations import as_setting_value
from nnlab.errors import TrainingDiverged, first_line

if TYPE_CHECKING:
    from nnlab.datasets import Dataset

_DATASETS: dict[tuple[str, str | None, bool], Dataset] = {}  # this worker's loaded datasets, for its later trials
REASON_CHARACTERS = 200


def worker_name() -> str:
    """This worker process, as host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_dataset(settings: Any) -> Dataset:
    """The dataset ``settings`` name (dataset, data_dir, fallback), loaded once per worker process."""
    from nnlab.data import load_dataset

    key = (settings.dataset, settings.data_dir, settings.fallback)
    if key not in _DATASETS:
        _DATASETS[key] = load_dataset(*key[:2], fallback=settings.fallback)
    return _DATASETS[key]


def one_torch_thread() -> None:
    """Train with one torch thread: a worker runs one trial at a time, and there is a worker per core."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def warm_up(command: str) -> str:
    """Import what a trial of ``command`` needs (torch takes seconds), so that the cluster's start-up pays it once
    per worker, in parallel, rather than the first trial; returns the worker's name."""
    experiment = registry.find(command)
    if experiment is not None and experiment.sweep.warm_up is not None:
        experiment.sweep.warm_up()
    return worker_name()


def run_trial(command: str, values: dict[str, Any]) -> dict[str, Any]:
    """Run one trial of ``command`` with the settings ``values``: ``{"status": "ok" | "diverged" | "failed",
    "reason", "metrics", "seconds", "worker", "source", "data_identity"}``. A diverging or failing trial is recorded,
    never raised."""
    started = time.perf_counter()
    metrics: dict[str, float | None] = {}
    source, data, reason = "", "", ""
    try:
        experiment = registry.find(command)
        if experiment is None:
            raise LookupError(f"this worker has no experiment {command!r} (set {registry.ENVIRONMENT} on the workers)")
        settings = experiment.settings(**{name: as_setting_value(value) for name, value in values.items()})
        outcome = experiment.trial(settings)
        metrics, source, data, status = outcome.metrics, outcome.source, outcome.data, "ok"
    except TrainingDiverged as exc:
        status, reason = "diverged", str(exc)
    except Exception as exc:  # any failure of one trial is that trial's result; the sweep goes on
        status = "failed"
        text = first_line(exc, REASON_CHARACTERS) if str(exc).strip() else ""
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return {
        "status": status,
        "reason": reason,
        "metrics": metrics,
        "seconds": time.perf_counter() - started,
        "worker": worker_name(),
        "source": source,
        "data_identity": data,
    }


def run_trials(command: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a batch of trials one after another (small trials travel together: one task each would cost more in
    scheduling than in computing)."""
    return [run_trial(command, values) for values in batch]
