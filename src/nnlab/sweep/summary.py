"""A sweep's statistics: each group (the trials that differ only in their seed) with the mean and 95% interval of
every metric its experiment declares, and the paired comparisons of every two groups that differ in one key,
with Holm's correction over each metric's family of comparisons. Only trials that finished ok enter the numbers;
diverged and failed ones are counted in every group.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nnlab.experiment import Metric
from nnlab.schema import (
    ComparisonSummary,
    GroupSummary,
    Interval,
    MetricDeclaration,
    MetricSummary,
    PrecisionSummary,
    RaceSummary,
    SweepSummary,
    TrialRecord,
)
from nnlab.stats import BOOTSTRAP_MIN_N, bootstrap_difference, bootstrap_mean, estimate, holm, paired
from nnlab.sweep.grid import Grid, Trial

ADVICE = "use --interval bootstrap"


@dataclass
class Group:
    """The trials of one setting of the group keys, and the records of those that finished."""

    values: tuple[Any, ...]
    trials: list[Trial]
    records: list[TrialRecord]

    @property
    def ok(self) -> dict[Any, TrialRecord]:
        """The trials that finished ok, by seed."""
        return {rec.swept["seed"]: rec for rec in self.records if rec.status == "ok"}

    def values_of(self, metric: str) -> list[float]:
        return [v for rec in self.ok.values() if (v := rec.metrics.get(metric)) is not None]


def groups_of(grid: Grid, all_trials: list[Trial], records: dict[str, TrialRecord]) -> list[Group]:
    """The grid's groups in its order, each with its trials and the records there are."""
    found: dict[tuple[Any, ...], Group] = {}
    for trial in all_trials:
        values = tuple(trial.swept[key] for key in grid.group_keys)
        group = found.setdefault(values, Group(values, [], []))
        group.trials.append(trial)
        if trial.id in records:
            group.records.append(records[trial.id])
    return list(found.values())


def interval_of(values: list[float], interval: Interval) -> tuple[tuple[float, float] | None, str]:
    """The 95% interval of the mean of ``values`` by ``interval``, or None with the reason."""
    if interval == "bootstrap":
        if len(values) < BOOTSTRAP_MIN_N:
            return None, f"n = {len(values)}: no bootstrap interval below {BOOTSTRAP_MIN_N}" if values else ""
        return bootstrap_mean(values), ""
    found = estimate(values).ci95
    return found, "" if found is not None or not values else f"n = {len(values)}: no interval"


def metric_summary(
    values: list[float], metric: Metric, trial_settings: dict[str, Any], interval: Interval
) -> MetricSummary:
    """Mean, spread and interval of one metric of one group; an interval past the metric's range is marked (never
    clipped), with the advice to bootstrap."""
    result = estimate(values)
    ci, note = interval_of(values, interval)
    high = metric.upper(trial_settings)
    outside = ci is not None and (
        (metric.low is not None and ci[0] < metric.low) or (high is not None and ci[1] > high)
    )
    if outside:
        bounds = f"[{metric.low if metric.low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        # the tables name the metric: "the interval of error passes the range [0.0, inf]; ..."
        note = f"passes the range {bounds}" + (f"; {ADVICE}" if interval == "t" else "")
    return MetricSummary(
        n=result.n, mean=result.mean, std=result.std, ci95=list(ci) if ci else None, note=note, outside_range=outside
    )


def _group_summary(grid: Grid, group: Group, metrics: Sequence[Metric], interval: Interval) -> GroupSummary:
    settings = group.trials[0].settings
    statuses = [rec.status for rec in group.records]
    return GroupSummary(
        settings=dict(zip(grid.group_keys, group.values)),
        n=statuses.count("ok"),
        trials=len(group.trials),
        diverged=statuses.count("diverged"),
        failed=statuses.count("failed"),
        metrics={
            metric.name: metric_summary(group.values_of(metric.name), metric, settings, interval) for metric in metrics
        },
    )


def neighbours(grid: Grid, groups: list[Group]) -> Iterator[tuple[str, Any, Any, Group, Group]]:
    """Every two groups that differ in exactly one key: (key, a, b, group with a, group with b)."""
    by_values = {group.values: group for group in groups}
    for position, key in enumerate(grid.group_keys):
        for a, b in itertools.combinations(grid.axes[key], 2):
            for values, group in by_values.items():
                if values[position] == a:
                    other = (*values[:position], b, *values[position + 1 :])
                    yield key, a, b, group, by_values[other]


def _compare(
    grid: Grid, key: str, a: Any, b: Any, first: Group, second: Group, metric: str, interval: Interval
) -> ComparisonSummary | None:
    left, right = first.ok, second.ok
    pairs = []
    for seed in left.keys() & right.keys():
        x, y = left[seed].metrics.get(metric), right[seed].metrics.get(metric)
        if x is not None and y is not None:
            pairs.append((seed, x, y))
    pairs = [(x, y) for _, x, y in sorted(pairs, key=lambda item: str(item[0]))]
    if not pairs:
        return None
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    result = paired(xs, ys)
    ci, note = result.ci95, ""
    if interval == "bootstrap":
        ci = bootstrap_difference(xs, ys)
        note = "" if ci is not None else f"n = {len(pairs)}: no bootstrap interval below {BOOTSTRAP_MIN_N}"
    rest = {k: v for k, v in zip(grid.group_keys, first.values) if k != key}
    return ComparisonSummary(
        key=key,
        a=a,
        b=b,
        settings=rest,
        metric=metric,
        n_pairs=result.n_pairs,
        mean_difference=result.mean_difference,
        ci95=list(ci) if ci else None,
        p_value=result.p_value,
        note=note,
    )


def comparisons(
    grid: Grid, groups: list[Group], metrics: Sequence[Metric], interval: Interval
) -> list[ComparisonSummary]:
    """The paired comparisons of neighbouring groups for every metric, each with its Holm-adjusted p-value over
    the metric's family (all its comparisons in the sweep that have a p-value)."""
    found = []
    for key, a, b, first, second in neighbours(grid, groups):
        for metric in metrics:
            comparison = _compare(grid, key, a, b, first, second, metric.name, interval)
            if comparison is not None:
                found.append(comparison)
    adjusted: list[ComparisonSummary] = []
    for metric in metrics:
        family = [c for c in found if c.metric == metric.name]
        tested = [c for c in family if c.p_value is not None]
        corrected = dict(zip(map(id, tested), holm([c.p_value for c in tested])))  # type: ignore[misc]
        adjusted += [c.model_copy(update={"p_holm": corrected.get(id(c)), "family": len(tested)}) for c in family]
    return adjusted


def declared(metrics: Sequence[Metric]) -> list[MetricDeclaration]:
    """The metrics' declarations as the summary keeps them."""
    return [
        MetricDeclaration(
            name=m.name,
            direction=m.direction,
            low=m.low,
            high=m.high if not isinstance(m.high, str) else None,
            main=m.main,
            in_group_table=m.in_group_table,
        )
        for m in metrics
    ]


def summarise(
    grid: Grid,
    all_trials: list[Trial],
    records: dict[str, TrialRecord],
    seconds: float = 0.0,
    interval: Interval = "t",
    race: RaceSummary | None = None,
    precision: PrecisionSummary | None = None,
) -> SweepSummary:
    """Each group's statistics, and the paired comparisons of groups that differ in one key, by ``interval``."""
    experiment = grid.experiment
    metrics = experiment.metrics
    groups = groups_of(grid, all_trials, records)
    return SweepSummary(
        command=grid.command,
        keys=list(grid.axes),
        metrics=[m.name for m in metrics],
        main_metrics=experiment.main_metrics,
        declared=declared(metrics),
        interval=interval,
        trials=[trial.id for trial in all_trials],
        groups=[_group_summary(grid, group, metrics, interval) for group in groups],
        comparisons=comparisons(grid, groups, metrics, interval),
        race=race,
        precision=precision,
        seconds=round(seconds, 3),
    )
