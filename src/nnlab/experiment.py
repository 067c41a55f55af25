"""What an experiment of the lab declares, so that the command line, sweeps, trials, the index and the output code
can loop over all of them (registry.py) without knowing any by name.

An experiment is one module in ``nnlab/experiments/`` (or any module named in ``$NNLAB_EXPERIMENTS``) that defines
``EXPERIMENT = Experiment(...)``: its settings, its command (the body that runs it and renders what it returns), its
metrics with their direction and range, the trial a sweep runs, what it writes where, and its part of index.html.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from nnlab.datasets import Dataset
    from nnlab.declarations import Settings
    from nnlab.schema import GroupSummary, Record, SweepSummary
    from nnlab.tables import Table

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Metric:
    """One number a trial of the experiment reports, named as in its metrics file."""

    name: str
    direction: Direction | None  # which way is better; None for a count that only describes
    low: float | None = None  # the smallest value it can take (None: unbounded)
    high: float | str | None = None  # the largest; the name of a setting where that bounds it (top)
    main: bool = False  # shown in summary.png and the comparisons table; the first main one is raced on
    in_group_table: bool = True  # in each group's table of a sweep (False: in the experiment's own tables)
    help: str = ""

    def upper(self, settings: dict[str, Any]) -> float | None:
        """The largest value the metric can take in a trial with ``settings``."""
        if isinstance(self.high, str):
            value = settings.get(self.high)
            return float(value) if isinstance(value, (int, float)) else None
        return self.high

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is better than ``b`` (strictly)."""
        return a > b if self.direction == "higher" else a < b


@dataclass(frozen=True)
class Outcome:
    """What one trial computed: its metrics, and what it computed them from beyond its settings (the data's
    identity: name, source, sizes and checksums), so that a sweep never reuses a trial made from other data."""

    metrics: dict[str, float | None]
    source: str = ""  # where its data came from, in words
    data: str = ""  # the data's identity (data.Dataset.fingerprint)


@dataclass(frozen=True)
class Section:
    """A part of index.html: the record file it is drawn from (relative to OUT), the record type that file holds,
    and ``render(record, files) -> html``."""

    record_file: str
    record: Callable[[], type[Record]]  # called when the page is drawn: the schema is imported only then
    render: Callable[[Any, list[str]], str]


@dataclass(frozen=True)
class SweepPlan:
    """How ``nnlab sweep`` treats the experiment."""

    cost: Callable[[dict[str, Any]], float]  # rough relative training time of a trial: the longest start first
    # A sweep key that stands for a list setting holding one value (model for mnist's models): each trial runs one.
    aliases: dict[str, str] = field(default_factory=dict)
    # Settings that change nothing a trial reports, with the reason: neither keys of a sweep nor part of a trial's id.
    not_swept: dict[str, str] = field(default_factory=dict)
    batched: bool = False  # trials take milliseconds: several travel in one task
    worker_memory: int = 1 << 30  # about the most memory a worker process takes (bytes): bounds the local workers
    warm_up: Callable[[], None] | None = None  # imports a trial needs, run once per worker as the cluster starts
    # Extra tables per group (the terminal and index.html), and an extra row of summary.png.
    group_tables: Callable[[SweepSummary, GroupSummary], Sequence[Table]] | None = None
    figure_panel: Callable[[Any, SweepSummary, list[str]], None] | None = None
    # The data a trial with these settings computes from (loaded once per process): the sweep says which data its
    # trials use before they run, and reuses a finished trial only if it was computed from the same data.
    data: Callable[[Any], Dataset] | None = None


@dataclass(frozen=True)
class Experiment:
    """One experiment of the lab, as everything else in nnlab sees it."""

    name: str  # its command: nnlab NAME
    order: int  # where it comes in --help, presets and index.html
    settings: type[Settings]
    # The command's body: ``command(settings)``, or ``command(settings, checked)`` with what ``check`` returned. It
    # runs the experiment, writes its outputs and renders them; its docstring is the command's --help.
    command: Callable[..., None]
    metrics: tuple[Metric, ...]
    trial: Callable[[Any], Outcome]  # one trial of a sweep, on a worker, from the experiment's settings
    sweep: SweepPlan
    folders: tuple[str, ...]  # the folders under OUT it writes (the index lists their files)
    describe: Callable[[str], str | None]  # what one of its files (a path relative to OUT) is; None: not one of its
    sections: tuple[Section, ...] = ()
    # Runs before the output folder is locked, with the settings and {"config": preset path}: a bad input fails there.
    check: Callable[[Any, dict[str, Any]], object] | None = None

    def metric(self, name: str) -> Metric:
        """The declaration of the metric ``name``."""
        return next(metric for metric in self.metrics if metric.name == name)

    @property
    def main_metrics(self) -> list[str]:
        return [metric.name for metric in self.metrics if metric.main]
