"""``nnlab sweep``: many trials of a command over seeds and settings, run on Dask, summarised with honest statistics.

- :func:`parse_grid` turns ``KEY=VALUES`` into a grid; a key is any setting of the command, its values are typed and
  checked by the command's own declarations (settings.py), before anything starts.
- :func:`plan` finds the trials an earlier run finished (a trial's id is derived from all its settings), so a sweep
  resumes, and grows when extended (``seed=0-9`` after ``seed=0-4`` runs only the new seeds).
- :func:`connect` gives a Dask client: a LocalCluster of worker processes on loopback by default, or any running
  scheduler by address (the way out to many machines). :func:`results` runs the pending trials there
  (trials.py, the commands' own experiment functions) and yields each result as it arrives; a worker that dies has
  its trials rerun on another worker by Dask.
- :func:`summarise` groups the trials by everything but the seed (mean, standard deviation, Student t interval of
  each metric) and compares every two groups that differ in one key, paired by seed (stats.py).
Only the client writes files (outputs.py); workers compute and return plain data.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlab.errors import ClusterError, ConfigError, SettingError, short_repr
from nnlab.schema import ComparisonSummary, GroupSummary, MetricSummary, SweepSummary, TrialRecord, read_record
from nnlab.settings import (
    ConfidenceSettings,
    Declaration,
    MnistSettings,
    MoonsSettings,
    Settings,
    as_dict,
    check,
    declaration,
    declarations,
    load_preset,
)
from nnlab.stats import estimate, paired
from nnlab.trials import MAIN_METRICS, METRICS

if TYPE_CHECKING:
    from distributed import Client

SWEPT_COMMANDS: dict[str, type[Settings]] = {
    "moons": MoonsSettings,
    "mnist": MnistSettings,
    "confidence": ConfidenceSettings,
}
MAX_TRIALS = 10_000
DEFAULT_SEEDS = tuple(range(5))
# Settings that change nothing a trial reports; they are neither keys of a sweep nor part of a trial's id.
NOT_REPORTED = {
    "out": "it only says where files go; pass --out to nnlab sweep",
    "quiet": "trials show no progress",
    "animate": "trials draw no pictures",
    "snapshots": "trials draw no pictures",
    "checkpoint": "each trial trains its own model",
}
# mnist trials train one model each: the key `model` sets the list setting `models` to that one model.
ALIASES = {"mnist": {"model": "models"}}
MODEL_COST = {"linear": 1.0, "full": 3.0, "conv": 6.0}  # rough training time per image, for scheduling
_RANGE = re.compile(r"^(\d+)-(\d+)$")
_FLOAT_RANGE = re.compile(r"^[0-9.]+-[0-9.]+$")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
CONNECT_SECONDS = 10


# ------------------------------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Grid:
    """The axes of a sweep: each swept key with its values (in the order given, the seed last), and the fixed
    settings that a preset gives every trial."""

    command: str
    axes: dict[str, tuple[Any, ...]]
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return math.prod(len(values) for values in self.axes.values())

    @property
    def group_keys(self) -> list[str]:
        """The swept keys that define a group: all but the seed."""
        return [key for key in self.axes if key != "seed"]


def sweep_keys(command: str) -> dict[str, Declaration]:
    """The keys a sweep of ``command`` takes, each with the declaration that types and checks its values."""
    keys = {decl.name: decl for decl in declarations(SWEPT_COMMANDS[command]) if decl.name not in NOT_REPORTED}
    for alias, target in ALIASES.get(command, {}).items():
        keys.pop(target)
        decl = declaration(SWEPT_COMMANDS[command], target)
        keys[alias] = Declaration(alias, decl.scalar, False, False, decl.choices, decl.bounds, {}, decl.default[0],
                                  "One model per trial.", None, decl.panel)  # fmt: skip
    return keys


def _setting_values(command: str, key: str, value: Any) -> dict[str, Any]:
    """A key's value as the command's settings: ``model=conv`` of mnist is ``models=("conv",)``."""
    target = ALIASES.get(command, {}).get(key)
    return {target: (value,)} if target else {key: value}


def _scalar(decl: Declaration, key: str, text: str, whole: str) -> Any:
    if decl.optional and text == "default":
        return None
    if decl.scalar is bool:
        if text.lower() not in _BOOLEANS:
            raise ConfigError(f"{key}={whole}: {text!r} is not true or false")
        return _BOOLEANS[text.lower()]
    if decl.scalar in (int, float):
        try:
            return decl.scalar(text)
        except ValueError:
            kind = "integers or ranges like 0-9" if decl.scalar is int else "numbers"
            raise ConfigError(f"{key}={whole}: {text!r} is not a number; {key} takes {kind}") from None
    return text


def _parse_values(decl: Declaration, key: str, text: str) -> tuple[Any, ...]:
    if not text.strip():
        raise ConfigError(f"{key}=: give at least one value, e.g. {key}={_example(decl)}")
    values: list[Any] = []
    for part in (part.strip() for part in text.split(",")):
        if not part:
            raise ConfigError(f"{key}={text}: an empty value between commas")
        found = _RANGE.match(part)
        if found and decl.scalar is int:
            low, high = int(found[1]), int(found[2])
            if low > high:
                raise ConfigError(f"{key}={text}: the range {part} is reversed; write {high}-{low}")
            if high - low >= MAX_TRIALS:
                raise ConfigError(f"{key}={text}: the range {part} has more than {MAX_TRIALS} values")
            values.extend(range(low, high + 1))
        elif _FLOAT_RANGE.match(part) and decl.scalar is not str:
            raise ConfigError(f"{key}={text}: {part!r} is not a value of {key}; only integer keys take ranges like 0-9")
        else:
            values.append(_scalar(decl, key, part, text))
    if len(set(values)) != len(values):
        raise ConfigError(f"{key}={text}: a value repeats")
    return tuple(values)


def _example(decl: Declaration) -> str:
    if decl.choices:
        return ",".join(decl.choices[:2])
    return "0-4" if decl.scalar is int else "0.01,0.02" if decl.scalar is float else "true,false"


def parse_grid(command: str, assignments: Sequence[str], preset: Path | None = None) -> Grid:
    """The grid of ``nnlab sweep COMMAND KEY=VALUES...``; ConfigError (exit 2) for anything that is not a valid grid:
    an unknown key, a value of the wrong type or out of range, an empty list, a reversed or non-integer range, a
    grid of more than MAX_TRIALS trials. With no ``seed=``, the seeds are 0-4."""
    if command not in SWEPT_COMMANDS:
        raise ConfigError(f"unknown command {command!r} to sweep; choose one of {', '.join(SWEPT_COMMANDS)}")
    settings_cls = SWEPT_COMMANDS[command]
    fixed, origins = load_preset(preset, command) if preset is not None else ({}, {})
    for name in NOT_REPORTED:
        fixed.pop(name, None)
    keys = sweep_keys(command)
    axes: dict[str, tuple[Any, ...]] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not equals:
            raise ConfigError(f"{assignment!r} is not KEY=VALUES (e.g. seed=0-9 or lr=0.01,0.02)")
        if key in ALIASES.get(command, {}).values():
            alias = next(a for a, t in ALIASES[command].items() if t == key)
            raise ConfigError(f"{key}= cannot be swept: each {command} trial trains one model; use {alias}={text}")
        if key in NOT_REPORTED and key in settings_cls.model_fields:
            raise ConfigError(f"{key}= cannot be swept: {NOT_REPORTED[key]}")
        if key not in keys:
            import difflib

            close = difflib.get_close_matches(key, list(keys), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"keys: {', '.join(keys)}"
            raise ConfigError(f"unknown key '{key}' for a sweep of {command}; {hint}")
        if key in axes:
            raise ConfigError(f"{key}= is given twice; give each key once with all its values")
        values = _parse_values(keys[key], key, text)
        for value in values:
            try:
                check(settings_cls, {**fixed, **_setting_values(command, key, value)}, origins, across=False)
            except SettingError as exc:
                if exc.preset is not None:
                    raise
                raise ConfigError(f"{key}={text}: {short_repr(exc.value)} is not allowed; {key} must be ",
                                  *exc.requirement) from None  # fmt: skip
        axes[key] = values
    axes.setdefault("seed", DEFAULT_SEEDS)
    axes["seed"] = axes.pop("seed")  # the seed last: a group is everything before it
    grid = Grid(command, axes, fixed)
    if grid.size > MAX_TRIALS:
        raise ConfigError(f"the grid has {grid.size} trials; a sweep runs at most {MAX_TRIALS}")
    return grid


# ----------------------------------------------------------------------------------------------- the trials


@dataclass(frozen=True)
class Trial:
    """One combination of the grid: its id, the swept values, and every setting the command resolves for it."""

    id: str
    swept: dict[str, Any]
    settings: dict[str, Any]  # JSON-ready, without the settings that change nothing it reports
    cost: float  # rough relative training time, to start the longest first


def trial_id(command: str, settings: dict[str, Any]) -> str:
    """A trial's id: a hash of the command and all its settings, so the same trial has the same id in every run."""
    text = json.dumps({"command": command, "settings": settings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _cost(command: str, settings: dict[str, Any]) -> float:
    if command == "moons":
        return float(settings["iters"] + 1) * settings["samples"] * settings["hidden"]
    model = settings["models"][0] if command == "mnist" else settings["model"]
    return MODEL_COST[model] * settings["epochs"]


def trials(grid: Grid) -> list[Trial]:
    """Every trial of the grid, in the grid's order (the seed varying fastest)."""
    settings_cls = SWEPT_COMMANDS[grid.command]
    found = []
    for combination in itertools.product(*grid.axes.values()):
        swept = dict(zip(grid.axes, combination))
        values = dict(grid.fixed)
        for key, value in swept.items():
            values |= _setting_values(grid.command, key, value)
        try:
            resolved = check(settings_cls, values)
        except SettingError as exc:
            described = " ".join(f"{key}={value}" for key, value in swept.items())
            raise ConfigError(f"the trial {described}: ", exc.render()) from None
        assert resolved is not None
        settings = {key: value for key, value in as_dict(resolved).items() if key not in NOT_REPORTED}
        found.append(Trial(trial_id(grid.command, settings), swept, settings, _cost(grid.command, settings)))
    return found


MAX_TRIAL_FILE_BYTES = 1 << 20


def read_trial(path: Path) -> TrialRecord | None:
    """The trial record at ``path``; None if there is none or it cannot be used (then the trial runs again)."""
    return read_record(path, TrialRecord, MAX_TRIAL_FILE_BYTES)[0]


@dataclass
class Plan:
    """A sweep's trials, and the records of those an earlier run finished (ok or diverged: both would repeat)."""

    grid: Grid
    trials: list[Trial]
    finished: dict[str, TrialRecord]

    @property
    def pending(self) -> list[Trial]:
        return [trial for trial in self.trials if trial.id not in self.finished]


def plan(grid: Grid, trials_folder: Path, fresh: bool = False) -> Plan:
    """The trials of ``grid``, with those already finished in ``trials_folder`` (none with ``fresh``). A failed
    trial runs again; a record whose settings differ from the trial's is not trusted."""
    all_trials = trials(grid)
    finished = {}
    if not fresh:
        for trial in all_trials:
            record = read_trial(trials_folder / f"{trial.id}.json")
            if record is not None and record.status != "failed" and record.settings == trial.settings:
                finished[trial.id] = record
    return Plan(grid, all_trials, finished)


def record(grid: Grid, trial: Trial, outcome: dict[str, Any]) -> TrialRecord:
    """The record of a trial from what its worker returned."""
    return TrialRecord(trial=trial.id, command=grid.command, settings=trial.settings, swept=trial.swept, **outcome)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- running them


@contextlib.contextmanager
def connect(scheduler: str | None, workers: int, command: str) -> Iterator[Client]:
    """A Dask client for the sweep: connected to ``scheduler``, or to a LocalCluster of ``workers`` processes (one
    thread each) listening on 127.0.0.1 only, with no dashboard and its scratch space in a temporary folder that is
    removed, with the processes, however the sweep ends. The workers import what the trials need before it starts.
    """
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")  # workers inherit it: no log lines in the output
    import dask
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)  # in case distributed was imported before

    scratch = Path(tempfile.mkdtemp(prefix="nnlab-sweep-"))
    cluster = None
    client = None
    try:
        if scheduler is None:
            try:
                with dask.config.set({"distributed.worker.multiprocessing-method": _start_method(),
                                      "temporary-directory": str(scratch)}):  # fmt: skip
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, local_directory=str(scratch),
                                           silence_logs=logging.ERROR)  # fmt: skip
            except Exception as exc:
                raise ClusterError(f"cannot start a local Dask cluster ({type(exc).__name__}: {exc})") from None
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout=CONNECT_SECONDS)
            except (OSError, ValueError, TypeError) as exc:
                reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                raise ClusterError(f"{scheduler}: cannot reach the Dask scheduler ({reason}); start one with "
                                   "'dask scheduler', or drop --scheduler to run here") from None  # fmt: skip
        client.run(_warm_up, command)
        yield client
    finally:
        with contextlib.suppress(Exception):
            if client is not None:
                client.close(timeout=10)
        with contextlib.suppress(Exception):
            if cluster is not None:
                cluster.close(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


def _start_method() -> str:
    """How the local cluster starts its worker processes: forked from this one on Linux, where two workers are up
    in 0.17 s instead of 0.6 s from fresh interpreters (nothing here has started threads of its own, nor imported
    torch, which only the workers do); a fresh interpreter (spawn) elsewhere, or once torch is loaded here."""
    return "fork" if sys.platform == "linux" and "torch" not in sys.modules else "spawn"


def _warm_up(command: str) -> str:
    from nnlab.trials import warm_up

    return warm_up(command)


def worker_count(client: Client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def batches(command: str, pending: list[Trial], workers: int) -> list[list[Trial]]:
    """The pending trials in tasks, longest first: one trial each where a trial takes seconds (torch), a few each
    where trials take milliseconds (moons), about eight tasks per worker so that work still balances."""
    ordered = sorted(pending, key=lambda trial: -trial.cost)
    if command != "moons" or not ordered:
        return [[trial] for trial in ordered]
    size = max(1, math.ceil(len(ordered) / (8 * workers)))
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


def results(client: Client, grid: Grid, pending: list[Trial], meanwhile: Callable[[], object] | None = None
            ) -> Iterator[tuple[Trial, TrialRecord]]:  # fmt: skip
    """Run ``pending`` on the cluster and yield each trial with its record as it finishes; ``meanwhile`` runs here
    while the workers compute. A trial whose workers kept dying is recorded as failed. Leaving early (Ctrl-C)
    cancels what has not run."""
    from distributed import as_completed

    from nnlab.trials import run_trials

    tasks = batches(grid.command, pending, worker_count(client))
    futures = {}
    for rank, batch in enumerate(tasks):
        future = client.submit(run_trials, grid.command, [trial.settings for trial in batch], pure=False,
                               priority=len(tasks) - rank, key=f"nnlab-trials-{batch[0].id}")  # fmt: skip
        futures[future] = batch
    try:
        if meanwhile is not None:
            meanwhile()
        for future, outcome in as_completed(futures, with_results=True, raise_errors=False):
            batch = futures[future]
            if isinstance(outcome, BaseException):
                reason = f"{type(outcome).__name__}: {str(outcome).splitlines()[0][:160] if str(outcome) else ''}"
                outcome = [{"status": "failed", "reason": reason, "seconds": 0.0} for _ in batch]
            for trial, result in zip(batch, outcome):
                yield trial, record(grid, trial, result)
    finally:
        unfinished = [future for future in futures if not future.done()]
        if unfinished:
            with contextlib.suppress(Exception):
                client.cancel(unfinished)


def run(plan: Plan, scheduler: str | None, workers: int, on_record: Callable[[TrialRecord], None],
        meanwhile: Callable[[], object] | None = None) -> dict[str, TrialRecord]:  # fmt: skip
    """Run the plan's pending trials on the cluster, calling ``on_record`` as each finishes (and ``meanwhile`` once
    they are submitted); returns the records of every trial of the plan, those finished earlier included."""
    records = dict(plan.finished)
    if plan.pending:
        with connect(scheduler, workers, plan.grid.command) as client:
            for trial, result in results(client, plan.grid, plan.pending, meanwhile):
                records[trial.id] = result
                on_record(result)
    return records


# ---------------------------------------------------------------------------------------------- statistics


def group_label(settings: dict[str, Any], varied: Sequence[str] | None = None) -> str:
    """A group as text: 'model=conv lr=0.01' (only the ``varied`` keys, if given), or 'all trials'."""
    shown = [(key, value) for key, value in settings.items() if varied is None or key in varied]
    return " ".join(f"{key}={value}" for key, value in shown) or "all trials"


def varied_keys(summary: SweepSummary) -> list[str]:
    """The swept keys that take more than one value (those that tell groups apart), the seed aside."""
    return [
        key for key in summary.keys if key != "seed" and len({str(g.settings.get(key)) for g in summary.groups}) > 1
    ]


def _metric(values: list[float]) -> MetricSummary:
    result = estimate(values)
    return MetricSummary(n=result.n, mean=result.mean, std=result.std, ci95=list(result.ci95) if result.ci95 else None)


def summarise(grid: Grid, all_trials: list[Trial], records: dict[str, TrialRecord], seconds: float = 0.0
              ) -> SweepSummary:  # fmt: skip
    """Each group's statistics, and the paired comparisons of groups that differ in one key. Only trials that
    finished ok enter the statistics; diverged and failed ones are counted."""
    names = METRICS[grid.command]
    members: dict[tuple[Any, ...], list[Trial]] = {}
    for trial in all_trials:
        members.setdefault(tuple(trial.swept[key] for key in grid.group_keys), []).append(trial)
    groups = []
    by_seed: dict[tuple[Any, ...], dict[Any, TrialRecord]] = {}
    for values, group in members.items():
        done = [records[trial.id] for trial in group if trial.id in records]
        ok = [rec for rec in done if rec.status == "ok"]
        by_seed[values] = {rec.swept["seed"]: rec for rec in ok}
        metrics = {name: _metric([rec.metrics[name] for rec in ok if rec.metrics.get(name) is not None])
                   for name in names}  # fmt: skip
        groups.append(GroupSummary(settings=dict(zip(grid.group_keys, values)), n=len(ok), trials=len(group),
                                   diverged=sum(rec.status == "diverged" for rec in done),
                                   failed=sum(rec.status == "failed" for rec in done), metrics=metrics))  # fmt: skip
    comparisons = []
    for position, key in enumerate(grid.group_keys):
        for a, b in itertools.combinations(grid.axes[key], 2):
            for values in members:
                if values[position] != a:
                    continue
                other = (*values[:position], b, *values[position + 1 :])
                seeds = [seed for seed in by_seed[values] if seed in by_seed[other]]
                rest = {k: v for k, v in zip(grid.group_keys, values) if k != key}
                for name in names:
                    pairs = [(by_seed[values][s].metrics.get(name), by_seed[other][s].metrics.get(name)) for s in seeds]
                    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
                    if not pairs:
                        continue
                    result = paired([x for x, _ in pairs], [y for _, y in pairs])
                    comparisons.append(ComparisonSummary(
                        key=key, a=a, b=b, settings=rest, metric=name, n_pairs=result.n_pairs,
                        mean_difference=result.mean_difference, ci95=list(result.ci95) if result.ci95 else None,
                        p_value=result.p_value,
                    ))  # fmt: skip
    return SweepSummary(command=grid.command, keys=list(grid.axes), metrics=names,
                        main_metrics=MAIN_METRICS[grid.command], trials=[trial.id for trial in all_trials],
                        groups=groups, comparisons=comparisons, seconds=round(seconds, 3))  # fmt: skip


def default_workers() -> int:
    """One worker per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


__all__ = ["Grid", "Plan", "Trial", "connect", "parse_grid", "plan", "results", "summarise"]
