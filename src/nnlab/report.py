"""Terminal output (rich tables, warnings, errors) and the JSON results. Nothing here computes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from nnlab.classifier import Progress as TrainingEvent
    from nnlab.confidence import ConfidenceResult
    from nnlab.data import Dataset
    from nnlab.mnist import MnistResult
    from nnlab.moons import MoonsResult

console = Console(highlight=False, soft_wrap=True)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    """One line on stderr: ``error: <message>``."""
    error_console.print(f"[bold red]error:[/] {message}", markup=True, emoji=False)


def print_warning(message: str) -> None:
    """A prominent warning on stderr."""
    error_console.print(f"[bold yellow]warning:[/] {message}", markup=True, emoji=False)


def moons_table(result: MoonsResult) -> Table:
    """Iteration, error and training accuracy at the snapshot iterations."""
    table = Table(title=f"two moons: {result.config.samples} samples, {result.config.hidden} hidden units")
    table.add_column("iteration", justify="right")
    table.add_column("error E", justify="right")
    table.add_column("accuracy", justify="right")
    for iteration in result.snapshots:
        row = result.history[iteration]
        table.add_row(str(iteration), f"{row['error']:.4f}", f"{row['accuracy']:.3f}")
    return table


def moons_metrics(result: MoonsResult, config: dict[str, Any]) -> dict[str, Any]:
    """The content of ``moons/metrics.json``."""
    return {
        "command": "moons",
        "config": config,
        "history": result.history,
        "files": result.files,
        "seconds": round(result.seconds, 4),
    }


def print_files(files: list[str], heading: str = "wrote") -> None:
    """List the files a command wrote."""
    console.print(f"{heading}:")
    for name in files:
        console.print(f"  {name}", markup=False)


def mnist_table(result: MnistResult) -> Table:
    """Model, the lab's train/test accuracy, whole-test-set accuracy, parameters, fit seconds."""
    eval_size = min(result.config.eval_size, len(result.dataset.test_labels))
    table = Table(title=f"{result.dataset.name}: {result.config.epochs} epochs")
    table.add_column("model")
    table.add_column(f"train acc (first {eval_size})", justify="right")
    table.add_column(f"test acc (first {eval_size})", justify="right")
    table.add_column(f"test acc (all {len(result.dataset.test_labels)})", justify="right")
    table.add_column("parameters", justify="right")
    table.add_column("fit s", justify="right")
    for model in result.models.values():
        table.add_row(
            model.name,
            f"{model.train_accuracy:.3f}",
            f"{model.test_accuracy:.3f}",
            f"{model.test_accuracy_all:.4f}",
            f"{model.parameters:,}",
            f"{model.fit_seconds:.1f}",
        )
    return table


def mnist_metrics(result: MnistResult, config: dict[str, Any]) -> dict[str, Any]:
    """The content of ``mnist/metrics.json``."""
    return {
        "command": "mnist",
        "dataset": dataset_record(result.dataset, result.config.train_size),
        "config": config,
        "models": {
            name: {
                "train_accuracy": model.train_accuracy,
                "test_accuracy": model.test_accuracy,
                "test_accuracy_all": model.test_accuracy_all,
                "fit_seconds": round(model.fit_seconds, 3),
                "parameters": model.parameters,
                "checkpoint": model.checkpoint,
                "batch_size": model.classifier.batch_size_,
                "lr": model.classifier.lr_,
                "bf16": model.classifier.bf16_,
                "freeze_first": model.classifier.freeze_first_,
                "history": model.classifier.history_,
            }
            for name, model in result.models.items()
        },
        "seconds": round(result.seconds, 3),
    }


def dataset_record(dataset: Dataset, train_size: int | None = None) -> dict[str, Any]:
    """Name, source and the sizes actually used."""
    used = len(dataset.train_labels) if train_size is None else min(train_size, len(dataset.train_labels))
    return {
        "name": dataset.name,
        "source": dataset.source,
        "train_size": used,
        "test_size": len(dataset.test_labels),
    }


class TrainingProgress:
    """A rich progress bar per model (epoch, loss, images/s, time left); silent when ``enabled`` is False."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> TrainingProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description:>8}"),
                BarColumn(),
                TextColumn("epoch {task.fields[epoch]}"),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[speed]:>7.0f} img/s"),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)

    def update(self, model: str, event: TrainingEvent) -> None:
        if self._bar is None:
            return
        total = event.epochs * event.total
        if model not in self._tasks:
            self._tasks[model] = self._bar.add_task(model, total=total, epoch="1", loss=float("nan"), speed=0.0)
        task = self._tasks[model]
        done = (event.epoch - 1) * event.total + event.seen
        elapsed = self._bar.tasks[task].elapsed or 0.0
        self._bar.update(
            task,
            completed=done,
            epoch=f"{event.epoch}/{event.epochs}",
            loss=event.loss,
            speed=done / elapsed if elapsed > 0 else 0.0,
        )


def confidence_table(result: ConfidenceResult) -> Table:
    """Per class: count, accuracy, mean confidence, and how many are among the most/least confident."""
    table = Table(title=f"{result.model} on {result.dataset}: confidence per class (ECE {result.ece:.4f})")
    for name, justify in [("class", "left"), ("count", "right"), ("accuracy", "right"),
                          ("mean confidence", "right"), (f"in top {result.top}", "right"),
                          (f"in bottom {result.top}", "right")]:  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in result.per_class:
        table.add_row(
            row["name"], str(row["count"]), f"{row['accuracy']:.3f}", f"{row['mean_confidence']:.4f}",
            str(row["in_most"]), str(row["in_least"]),
        )  # fmt: skip
    return table


def describe_classes(counts: list[tuple[str, int]]) -> str:
    """'all 24 are 1' or '20 × 1, 3 × 7, 1 × 0'."""
    if len(counts) == 1:
        name, n = counts[0]
        return f"all {n} are {name!r}"
    return ", ".join(f"{n} × {name!r}" for name, n in counts)


def confidence_metrics(result: ConfidenceResult, checkpoint: str, dataset: Dataset) -> dict[str, Any]:
    """The content of ``confidence/confidence.json``."""
    return {
        "command": "confidence",
        "model": result.model,
        "checkpoint": checkpoint,
        "dataset": dataset_record(dataset),
        "top": result.top,
        "most": result.rows(result.most),
        "least": result.rows(result.least),
        "most_classes": dict(result.class_counts(result.most)),
        "least_classes": dict(result.class_counts(result.least)),
        "per_class": result.per_class,
        "ece": result.ece,
        "calibration_bins": result.bins,
        "accuracy": float((result.predictions == result.labels).mean()),
    }
