"""Every table nnlab shows, defined once from the JSON records: the terminal (report.py) and the output folder's
index.html (index.py) render the same :class:`Table`, so the two always agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nnlab.schema import ConfidenceMetrics, MnistMetrics, MoonsMetrics


@dataclass(frozen=True)
class Column:
    header: str
    align: Literal["left", "right"] = "right"


@dataclass(frozen=True)
class Table:
    """A titled table of text cells; ``note`` is a line shown under it."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def moons_table(metrics: MoonsMetrics) -> Table:
    """Iteration, error and training accuracy at the snapshot iterations."""
    config = metrics.config
    rows = tuple(
        (str(row.iteration), f"{row.error:.4f}", f"{row.accuracy:.3f}")
        for row in metrics.history
        if row.iteration in set(metrics.snapshots)
    )
    return Table(
        title=f"two moons: {config.get('samples')} samples, {config.get('hidden')} hidden units",
        columns=(Column("iteration"), Column("error E"), Column("accuracy")),
        rows=rows,
    )


def mnist_table(metrics: MnistMetrics) -> Table:
    """Model, the lab's train/test accuracy, whole-test-set accuracy, parameters, fit seconds."""
    columns = (
        Column("model", "left"),
        Column(f"train acc (first {metrics.eval.train})"),
        Column(f"test acc (first {metrics.eval.test})"),
        Column(f"test acc (all {metrics.dataset.test_size})"),
        Column("parameters"),
        Column("fit s"),
    )
    rows = tuple(
        (name, f"{m.train_accuracy:.3f}", f"{m.test_accuracy:.3f}", f"{m.test_accuracy_all:.4f}", f"{m.parameters:,}",
         f"{m.fit_seconds:.1f}")
        for name, m in metrics.models.items()
    )  # fmt: skip
    return Table(title=f"{metrics.dataset.name}: {metrics.config.get('epochs')} epochs", columns=columns, rows=rows)


def confidence_table(metrics: ConfidenceMetrics) -> Table:
    """Per class: count, accuracy, mean confidence, and how many are among the most/least confident."""
    columns = (
        Column("class", "left"),
        Column("count"),
        Column("accuracy"),
        Column("mean confidence"),
        Column(f"in top {metrics.top}"),
        Column(f"in bottom {metrics.top}"),
    )
    rows = tuple(
        (row.name, str(row.count), f"{row.accuracy:.3f}", f"{row.mean_confidence:.4f}", str(row.in_most),
         str(row.in_least))
        for row in metrics.per_class
    )  # fmt: skip
    title = f"{metrics.model} on {metrics.dataset.name}: confidence per class (ECE {metrics.ece:.4f})"
    return Table(title=title, columns=columns, rows=rows)


def describe_classes(counts: dict[str, int]) -> str:
    """'all 24 are '1'' or '20 × '1', 3 × '7', 1 × '0''."""
    if len(counts) == 1:
        ((name, n),) = counts.items()
        return f"all {n} are {name!r}"
    return ", ".join(f"{n} × {name!r}" for name, n in counts.items())
