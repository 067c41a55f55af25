"""Progress display: a rich progress bar per model while training. Silent when disabled (not a terminal, or
``quiet``); the code that trains only calls :meth:`TrainingProgress.update` and never knows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnlab.report import console

if TYPE_CHECKING:
    from nnlab.classifier import Progress as TrainingEvent


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
                TextColumn("{task.description:>8}", markup=False),
                BarColumn(),
                TextColumn("epoch {task.fields[epoch]}", markup=False),
                TextColumn("loss {task.fields[loss]:.4f}", markup=False),
                TextColumn("{task.fields[speed]:>7.0f} img/s", markup=False),
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
        """Show that ``model`` reached ``event``."""
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


class SweepProgress:
    """One rich progress bar over a sweep's trials: done of total, failures, time left; silent when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self.failed = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> SweepProgress:
        if self.enabled and self.total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("trials", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed", markup=False),
                TimeRemainingColumn(),
                console=console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("trials", total=self.total, failed=0)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc_info)

    def update(self, status: str) -> None:
        """One more trial finished with ``status`` (ok, diverged or failed)."""
        self.failed += status == "failed"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self.failed)
