"""Sweeps that choose their next trials from the results so far: a race (``--race``: race.py decides which groups
go on) and adaptive precision (``--until-ci W``: each group gets seeds until its interval is narrow enough).

Both are schedules: given the records there are, the trials that should have run or be running now. The cluster
(cluster.py) submits what is wanted and not yet submitted, cancels what is no longer wanted, and asks again as
each trial finishes, so a group's next seed starts as soon as the evidence allows. Both decide from the trials'
values at each seed alone, in the seeds' order, so a rerun with the same records reaches the same decisions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nnlab.errors import ConfigError
from nnlab.experiment import Metric
from nnlab.schema import Interval, PrecisionGroup, PrecisionSummary, RaceGroup, RaceSummary, TrialRecord
from nnlab.settings import StatisticsSettings
from nnlab.sweep.grid import Grid, Trial
from nnlab.sweep.race import Observation, RaceState, Rules, decide
from nnlab.sweep.summary import interval_of


class Schedule:
    """Which trials to run as results arrive, and what it adds to the summary and to the sweep's first line."""

    def wanted(self, records: dict[str, TrialRecord]) -> list[Trial]:
        """The trials that should have run, or be running now, given the records there are."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def race_summary(self, records: dict[str, TrialRecord]) -> RaceSummary | None:
        return None

    def precision_summary(self, records: dict[str, TrialRecord]) -> PrecisionSummary | None:
        return None


def check_statistics(grid: Grid, settings: StatisticsSettings) -> None:
    """Refuse, before anything starts, a race or --until-ci the grid cannot hold (ConfigError, exit 2)."""
    if settings.race_metric is not None:
        raced_metric(grid, settings.race_metric)
    if not settings.race and settings.until_ci is None:
        return
    seeds = len(grid.axes["seed"])
    which = "--race" if settings.race else "--until-ci"
    if settings.race and grid.size // seeds < 2:
        raise ConfigError("--race needs at least two groups to race; give a key two or more values (e.g. lr=0.01,0.02)")
    if settings.min_seeds > seeds:
        raise ConfigError(
            f"--min-seeds {settings.min_seeds} is more than the {seeds} seeds of the grid; {which} needs "
            f"seed= with at least {settings.min_seeds} seeds (e.g. seed=0-{max(9, settings.min_seeds - 1)})"
        )


def schedule_of(grid: Grid, trials: Sequence[Trial], settings: StatisticsSettings, workers: int) -> Schedule | None:
    """The schedule the settings ask for: a race, adaptive precision, or None (every trial of the grid)."""
    if settings.race:
        return Race(
            Board.of(grid, trials),
            raced_metric(grid, settings.race_metric),
            settings.min_seeds,
            settings.alpha,
            workers,
        )
    if settings.until_ci is not None:
        return Precision(
            Board.of(grid, trials),
            raced_metric(grid, settings.race_metric),
            settings.until_ci,
            settings.min_seeds,
            settings.interval,
        )
    return None


def raced_metric(grid: Grid, name: str | None) -> Metric:
    """The metric a race or --until-ci decides on: ``name``, else the experiment's first main metric; it must be
    declared with a direction (ConfigError with a did-you-mean otherwise)."""
    from nnlab.declarations import unknown_message

    experiment = grid.experiment
    directed = [metric for metric in experiment.metrics if metric.direction is not None]
    if name is None:
        main = [metric for metric in directed if metric.main]
        return (main or directed)[0]
    found = next((metric for metric in directed if metric.name == name), None)
    if found is None:
        names = [metric.name for metric in directed]
        raise ConfigError(unknown_message(f"--race-metric: {grid.command} has no metric {name!r}", name, names))
    return found


@dataclass(frozen=True)
class Board:
    """The grid's trials as a table: a row per group (grid order), a column per seed (the seeds' order)."""

    grid: Grid
    rows: list[list[Trial]]

    @classmethod
    def of(cls, grid: Grid, trials: Sequence[Trial]) -> Board:
        rows: dict[tuple[Any, ...], list[Trial]] = {}
        for trial in trials:
            rows.setdefault(tuple(trial.swept[key] for key in grid.group_keys), []).append(trial)
        return cls(grid, list(rows.values()))

    @property
    def seeds(self) -> int:
        return len(self.grid.axes["seed"])

    def settings(self, row: int) -> dict[str, Any]:
        return {key: self.rows[row][0].swept[key] for key in self.grid.group_keys}

    def observations(self, records: dict[str, TrialRecord], metric: str) -> list[list[Observation | None]]:
        """Each trial's outcome for the decision logic: None where it has not finished."""
        table = []
        for row in self.rows:
            found: list[Observation | None] = []
            for trial in row:
                record = records.get(trial.id)
                if record is None:
                    found.append(None)
                elif record.status == "ok":
                    value = record.metrics.get(metric)
                    found.append(Observation("ok", value) if value is not None else Observation("failed"))
                else:
                    found.append(Observation(record.status))
            table.append(found)
        return table

    def run(self, records: dict[str, TrialRecord], row: int) -> int:
        return sum(trial.id in records for trial in self.rows[row])


class Race(Schedule):
    """``--race``: the seeds are rounds; groups shown worse than the leader get no further seeds."""

    def __init__(self, board: Board, metric: Metric, min_seeds: int, alpha: float, workers: int) -> None:
        self.board = board
        self.metric = metric
        self.rules = Rules(board.seeds, min_seeds, alpha, higher_is_better=metric.direction == "higher")
        self.workers = workers

    def state(self, records: dict[str, TrialRecord]) -> RaceState:
        return decide(self.board.observations(records, self.metric.name), self.rules)

    def wanted(self, records: dict[str, TrialRecord]) -> list[Trial]:
        state = self.state(records)
        # Enough seeds ahead of the next look that every worker has a trial while the look waits for stragglers.
        ahead = max(1, math.ceil(self.workers / max(1, len(state.alive))) - 1)
        return [
            trial
            for row, trials in enumerate(self.board.rows)
            for trial in trials[: state.wanted(row, self.rules, ahead)]
        ]

    def describe(self) -> str:
        return (
            f"racing on {self.metric.name} from {self.rules.min_seeds} seeds, alpha {self.rules.alpha:g} over the "
            "whole race"
        )

    def race_summary(self, records: dict[str, TrialRecord]) -> RaceSummary:
        state = self.state(records)
        return RaceSummary(
            metric=self.metric.name,
            alpha=self.rules.alpha,
            min_seeds=self.rules.min_seeds,
            looks=self.rules.looks,
            trials_run=sum(self.board.run(records, row) for row in range(len(self.board.rows))),
            grid_trials=self.board.grid.size,
            groups=[
                RaceGroup(
                    settings=self.board.settings(row),
                    status=state.status(row),
                    seeds=self.board.run(records, row),
                    p_holm=group.p_holm,
                    eliminated_after=group.eliminated_after,
                    mean=group.mean,
                    reason=group.reason,
                )
                for row, group in enumerate(state.groups)
            ],
        )


@functools.lru_cache(maxsize=4096)
def half_width(values: tuple[float, ...], interval: Interval) -> float | None:
    """Half the width of the 95% interval of the mean of ``values`` (None where there is no interval). Cached:
    --until-ci asks again for every group's seeds as each trial finishes, and a bootstrap takes milliseconds."""
    found, _ = interval_of(list(values), interval)
    return None if found is None else (found[1] - found[0]) / 2


class Precision(Schedule):
    """``--until-ci W``: each group gets seeds from the list, in order, until the metric's 95% half-width over them
    is at most W (first checked at ``min_seeds``) or the list runs out."""

    def __init__(self, board: Board, metric: Metric, width: float, min_seeds: int, interval: Interval) -> None:
        self.board = board
        self.metric = metric
        self.width = width
        self.min_seeds = min_seeds
        self.interval = interval

    def needed(self, observations: list[Observation | None]) -> tuple[int, bool, float | None]:
        """How many of a group's seeds it needs, whether those reach the width, and the half-width there."""
        reached: float | None = None
        for count in range(self.min_seeds, self.board.seeds + 1):
            if any(obs is None for obs in observations[:count]):
                return count, False, reached
            values = tuple(obs.value for obs in observations[:count] if obs.usable)
            reached = half_width(values, self.interval)  # type: ignore[arg-type]
            if reached is not None and reached <= self.width:
                return count, True, reached
        return self.board.seeds, False, reached

    def wanted(self, records: dict[str, TrialRecord]) -> list[Trial]:
        table = self.board.observations(records, self.metric.name)
        return [trial for row, trials in zip(table, self.board.rows) for trial in trials[: self.needed(row)[0]]]

    def describe(self) -> str:
        return f"seeds until the {self.metric.name} 95% half-width is at most {self.width:g}"

    def precision_summary(self, records: dict[str, TrialRecord]) -> PrecisionSummary:
        groups = []
        for row, observations in enumerate(self.board.observations(records, self.metric.name)):
            _, reached, width = self.needed(observations)
            groups.append(
                PrecisionGroup(
                    settings=self.board.settings(row),
                    seeds=self.board.run(records, row),
                    half_width=width,
                    reached=reached,
                )
            )
        return PrecisionSummary(
            metric=self.metric.name,
            half_width=self.width,
            interval=self.interval,
            min_seeds=self.min_seeds,
            trials_run=sum(group.seeds for group in groups),
            grid_trials=self.board.grid.size,
            groups=groups,
        )
