"""Tables, defined once from the JSON records: the terminal (report.py) and the output folder's index.html
(index.py, pages.py) render the same :class:`Table`, so the two always agree. Each experiment defines its own
tables in its module; the sweep's tables, common to every experiment, are here."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from nnlab.schema import GroupSummary, MetricSummary, SweepSummary

SIGNIFICANCE = 0.05


def counted(count: int, noun: str) -> str:
    """'1 group', '3 groups' (nouns whose plural adds an s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


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


# ------------------------------------------------------------------------------------------------------ sweeps


def group_label(settings: dict[str, Any], varied: Sequence[str] | None = None) -> str:
    """A group as text: 'model=conv lr=0.01' (only the ``varied`` keys, if given), or 'all trials'."""
    shown = [(key, value) for key, value in settings.items() if varied is None or key in varied]
    return " ".join(f"{key}={value}" for key, value in shown) or "all trials"


def varied_keys(summary: SweepSummary) -> list[str]:
    """The swept keys that take more than one value (those that tell groups apart), the seed aside."""
    return [
        key for key in summary.keys if key != "seed" and len({str(g.settings.get(key)) for g in summary.groups}) > 1
    ]


def _value(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def plus_minus(stat: MetricSummary) -> str:
    """'0.9148 ± 0.00712' for a symmetric (t) interval, '0.9148 [0.901, 0.922]' for a bootstrap one, or why
    there is none; an interval past the metric's range is marked '(!)'."""
    if stat.mean is None:
        return "–"
    if stat.ci95 is None:
        return f"{stat.mean:.4g} ({stat.note or f'n = {stat.n}: no interval'})"
    return _interval_text(stat.mean, stat.ci95) + (" (!)" if stat.outside_range else "")


def _interval_text(mean: float, ci95: list[float]) -> str:
    low, high = ci95
    if abs((mean - low) - (high - mean)) <= 1e-9 * max(1.0, abs(mean)):
        return f"{mean:.4g} ± {(high - low) / 2:.3g}"
    return f"{mean:.4g} [{low:.4g}, {high:.4g}]"


def _left_out(group: GroupSummary) -> str:
    parts = [f"{count} {what}" for count, what in ((group.diverged, "diverged"), (group.failed, "failed")) if count]
    missing = group.trials - group.n - group.diverged - group.failed
    if missing:
        parts.append(f"{missing} not run")
    return f"{', '.join(parts)}: left out of the statistics" if parts else ""


def _interval_name(summary: SweepSummary) -> str:
    return "95% BCa bootstrap CI" if summary.interval == "bootstrap" else "95% CI"


def sweep_group_table(summary: SweepSummary, group: GroupSummary) -> Table:
    """One group of a sweep: each metric's mean, 95% interval, standard deviation and n; the note says how many
    of its trials diverged or failed, and which intervals pass their metric's range."""
    hidden = {item.name for item in summary.declared if not item.in_group_table}
    names = [name for name in summary.metrics if name not in hidden]
    stats = [(name, group.metrics[name]) for name in names if name in group.metrics]
    rows = tuple((name, plus_minus(stat), _value(stat.std), str(stat.n)) for name, stat in stats)
    past = (f"(!) the interval of {name} {stat.note}" for name, stat in stats if stat.outside_range)
    notes = [_left_out(group), *past]
    return Table(
        title=f"{group_label(group.settings, varied_keys(summary))}: {group.n} of {group.trials} trials",
        columns=(Column("metric", "left"), Column(f"mean ± {_interval_name(summary)}"), Column("std"), Column("n")),
        rows=rows,
        note="; ".join(note for note in notes if note),
    )


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}"


def sweep_comparisons_table(summary: SweepSummary) -> Table:
    """Groups that differ in one key, paired by seed: the mean difference a − b of each main metric, its 95%
    interval, the paired t-test's p-value and its Holm-adjusted value over the metric's family; '*' marks an
    adjusted p below 0.05."""
    varied = varied_keys(summary)
    shown = [c for c in summary.comparisons if c.metric in summary.main_metrics]
    with_others = any(key in varied for c in shown for key in c.settings)
    rows = tuple(
        (
            c.key,
            str(c.a),
            str(c.b),
            *([" ".join(f"{k}={v}" for k, v in c.settings.items() if k in varied) or "–"] if with_others else []),
            c.metric,
            str(c.n_pairs),
            "–"
            if c.mean_difference is None
            else (
                _interval_text(c.mean_difference, c.ci95)
                if c.ci95
                else f"{c.mean_difference:.4g} ({c.note or 'no interval'})"
            ),
            _p(c.p_value),
            _p(c.p_holm) + (" *" if c.p_holm is not None and c.p_holm < SIGNIFICANCE else ""),
        )
        for c in shown
    )
    columns = (
        Column("key", "left"),
        Column("a", "left"),
        Column("b", "left"),
        *([Column("where", "left")] if with_others else []),
        Column("metric", "left"),
        Column("pairs"),
        Column(f"a − b ± {_interval_name(summary)}"),
        Column("p"),
        Column("p Holm"),
    )
    families = {c.metric: c.family for c in shown}
    family_text = ", ".join(f"{metric}: {count}" for metric, count in families.items())
    return Table(
        title="paired comparisons: mean difference a − b over the seeds both ran, paired t-test",
        columns=columns,
        rows=rows,
        note=(f"Holm-adjusted over each metric's family of comparisons ({family_text}); * adjusted p < {SIGNIFICANCE}")
        if rows
        else _no_comparisons(summary),
    )


def _no_comparisons(summary: SweepSummary) -> str:
    if summary.groups and all(group.n == 0 for group in summary.groups):
        return "no comparisons: no trial finished ok"
    if len(summary.groups) < 2:
        return "no comparisons: sweep a key over two or more values"
    return "no comparisons: no two groups share a seed that finished ok in both"


def _by_group(summary: SweepSummary, entries: Sequence[Any], metric: str) -> Iterator[tuple[Any, str, Any, str]]:
    """Each race or precision entry with its group's label, its group summary and the metric's mean ± interval."""
    varied = varied_keys(summary)
    by_label = {group_label(g.settings, varied): g for g in summary.groups}
    for entry in entries:
        label = group_label(entry.settings, varied)
        group = by_label.get(label)
        stat = group.metrics.get(metric) if group else None
        yield entry, label, group, plus_minus(stat) if stat else "–"


def _spent(trials_run: int, grid_trials: int) -> str:
    share = trials_run / grid_trials if grid_trials else 0.0
    return f"ran {trials_run} of {grid_trials} trials, {share:.0%} of the grid"


def race_table(summary: SweepSummary) -> Table:
    """A race's outcome: each group's seeds, mean ± interval of the raced metric, and its status."""
    race = summary.race
    assert race is not None
    rows = []
    for entry, label, group, mean in _by_group(summary, race.groups, race.metric):
        if entry.status == "eliminated":
            why = entry.reason if "diverged" in entry.reason else f"p Holm {_p(entry.p_holm)}"
            status = f"eliminated after {entry.eliminated_after} seeds ({why})"
        else:
            status = entry.status + ("" if entry.p_holm is None else f" (p Holm {_p(entry.p_holm)})")
        diverged = f", {group.diverged} diverged" if group and group.diverged else ""
        rows.append((label, f"{entry.seeds}{diverged}", mean, status))
    return Table(
        title=f"race on {race.metric} (alpha {race.alpha:g} over the whole race, {race.looks} looks): "
        + _spent(race.trials_run, race.grid_trials),
        columns=(
            Column("group", "left"),
            Column("seeds"),
            Column(f"{race.metric} ± {_interval_name(summary)}"),
            Column("status", "left"),
        ),
        rows=tuple(rows),
    )


def precision_table(summary: SweepSummary) -> Table:
    """``--until-ci``: each group's seeds, mean ± interval of the metric, and whether it reached the half-width."""
    precision = summary.precision
    assert precision is not None
    rows = []
    for entry, label, _, mean in _by_group(summary, precision.groups, precision.metric):
        width = "–" if entry.half_width is None else f"{entry.half_width:.4g}"
        rows.append((label, str(entry.seeds), mean, width, "reached" if entry.reached else "seeds ran out"))
    return Table(
        title=f"seeds until the {precision.metric} 95% half-width is at most {precision.half_width:g}: "
        + _spent(precision.trials_run, precision.grid_trials),
        columns=(
            Column("group", "left"),
            Column("seeds"),
            Column(f"{precision.metric} ± {_interval_name(summary)}"),
            Column("half-width"),
            Column("", "left"),
        ),
        rows=tuple(rows),
    )
