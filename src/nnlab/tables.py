"""Every table nnlab shows, defined once from the JSON records: the terminal (report.py) and the output folder's
index.html (index.py) render the same :class:`Table`, so the two always agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nnlab.schema import ConfidenceMetrics, GroupSummary, MnistMetrics, MoonsMetrics, SweepSummary


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


# ------------------------------------------------------------------------------------------------------ sweeps


def _value(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _plus_minus(mean: float | None, ci95: list[float] | None, n: int) -> str:
    """'0.9148 ± 0.00712' (the interval is symmetric: mean ± t·s/√n), or why there is no interval."""
    if mean is None:
        return "–"
    if ci95 is None:
        return f"{mean:.4g} (n = {n}: no interval)"
    return f"{mean:.4g} ± {(ci95[1] - ci95[0]) / 2:.3g}"


def _left_out(group: GroupSummary) -> str:
    parts = [f"{count} {what}" for count, what in ((group.diverged, "diverged"), (group.failed, "failed")) if count]
    missing = group.trials - group.n - group.diverged - group.failed
    if missing:
        parts.append(f"{missing} not run")
    return f"{', '.join(parts)}: left out of the statistics" if parts else ""


def sweep_group_table(summary: SweepSummary, group: GroupSummary) -> Table:
    """One group of a sweep: each metric's mean, 95% t interval, standard deviation and n (a confidence sweep's
    per-digit counts have their own table, :func:`sweep_digits_table`)."""
    from nnlab.sweep import group_label, varied_keys

    names = [m for m in summary.metrics if not (summary.command == "confidence" and m[:4] in ("top_", "bott"))]
    rows = tuple(
        (name, _plus_minus(stat.mean, stat.ci95, stat.n), _value(stat.std), str(stat.n))
        for name, stat in ((name, group.metrics[name]) for name in names)
    )
    return Table(
        title=f"{group_label(group.settings, varied_keys(summary))}: {group.n} of {group.trials} trials",
        columns=(Column("metric", "left"), Column("mean ± 95% CI"), Column("std"), Column("n")),
        rows=rows,
        note=_left_out(group),
    )


def sweep_digits_table(summary: SweepSummary, group: GroupSummary) -> Table:
    """A confidence sweep's answer to the lab's question for one group: how many of the most and least confident
    test images are each digit, as a mean over seeds with its 95% interval."""
    from nnlab.sweep import group_label, varied_keys

    rows = []
    for digit in range(10):
        top, bottom = group.metrics[f"top_{digit}"], group.metrics[f"bottom_{digit}"]
        rows.append((str(digit), _plus_minus(top.mean, top.ci95, top.n),
                     _plus_minus(bottom.mean, bottom.ci95, bottom.n)))  # fmt: skip
    label = group_label(group.settings, varied_keys(summary))
    return Table(
        title=f"{label}: digits among the most and least confident test images (mean over seeds)",
        columns=(Column("digit", "left"), Column("among the most confident"), Column("among the least confident")),
        rows=tuple(rows),
    )  # fmt: skip


def sweep_comparisons_table(summary: SweepSummary) -> Table:
    """Groups that differ in one key, paired by seed: the mean difference a − b of each main metric, its 95% t
    interval and the paired t-test's p-value."""
    from nnlab.sweep import varied_keys

    varied = varied_keys(summary)
    shown = [c for c in summary.comparisons if c.metric in summary.main_metrics]
    with_others = any(key in varied for c in shown for key in c.settings)
    rows = tuple(
        (c.key, str(c.a), str(c.b), *([" ".join(f"{k}={v}" for k, v in c.settings.items() if k in varied) or "–"]
         if with_others else []), c.metric, str(c.n_pairs), _plus_minus(c.mean_difference, c.ci95, c.n_pairs),
         "–" if c.p_value is None else f"{c.p_value:.2g}")
        for c in shown
    )  # fmt: skip
    columns = (Column("key", "left"), Column("a", "left"), Column("b", "left"),
               *([Column("where", "left")] if with_others else []), Column("metric", "left"), Column("pairs"),
               Column("a − b ± 95% CI"), Column("p"))  # fmt: skip
    return Table(
        title="paired comparisons: mean difference a − b over the seeds both ran, paired t-test",
        columns=columns,
        rows=rows,
        note="" if rows else "no comparisons: sweep a key over two or more values",
    )
