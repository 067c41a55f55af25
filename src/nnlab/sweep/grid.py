"""The grid of a sweep and its trials: ``KEY=VALUES`` parsed and checked by the experiment's own declarations, every
combination a trial with an id derived from all its settings, and the plan: which trials an earlier run finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnlab import registry
from nnlab.declarations import Declaration, as_dict, as_setting_value, check, declaration, declarations, unknown_message
from nnlab.errors import ConfigError, SettingError, short_repr
from nnlab.experiment import Experiment
from nnlab.presets import load_preset
from nnlab.schema import TrialRecord, read_record

MAX_TRIALS = 10_000
DEFAULT_SEEDS = tuple(range(5))
# Settings of every command that change nothing a trial reports (beside each experiment's own not_swept).
NOT_SWEPT = {
    "out": "it only says where files go; pass --out to nnlab sweep",
    "quiet": "trials show no progress",
    "tensorboard": "the sweep logs every trial as an HParams session; pass --tensorboard to nnlab sweep",
}
_RANGE = re.compile(r"^(\d+)-(\d+)$")
_FLOAT_RANGE = re.compile(r"^[0-9.]+-[0-9.]+$")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def experiment_of(command: str) -> Experiment:
    """The experiment ``command`` sweeps; ConfigError naming the known ones otherwise."""
    found = registry.find(command)
    if found is None:
        raise ConfigError(f"unknown command {command!r} to sweep; choose one of {', '.join(registry.names())}")
    return found


def not_swept(experiment: Experiment) -> dict[str, str]:
    """The settings that are neither keys of a sweep of ``experiment`` nor part of a trial's id, with the reason."""
    return NOT_SWEPT | experiment.sweep.not_swept


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

    @property
    def experiment(self) -> Experiment:
        return experiment_of(self.command)


def sweep_keys(experiment: Experiment) -> dict[str, Declaration]:
    """The keys a sweep of ``experiment`` takes, each with the declaration that types and checks its values."""
    skipped = not_swept(experiment)
    keys = {decl.name: decl for decl in declarations(experiment.settings) if decl.name not in skipped}
    for alias, target in experiment.sweep.aliases.items():
        keys.pop(target)
        one = declaration(experiment.settings, target)
        keys[alias] = dataclasses.replace(
            one, name=alias, is_list=False, length={}, default=one.default[0], help="One per trial.", default_text=None
        )
    return keys


def _setting_values(experiment: Experiment, key: str, value: Any) -> dict[str, Any]:
    """A key's value as the experiment's settings: ``model=conv`` of mnist is ``models=("conv",)``."""
    target = experiment.sweep.aliases.get(key)
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
    """The values of one ``KEY=VALUES``: comma-separated, integer ranges expanded (their sizes counted first, so a
    hostile list of huge ranges is refused before anything is expanded)."""
    if not text.strip():
        raise ConfigError(f"{key}=: give at least one value, e.g. {key}={_example(decl)}")
    parts = [part.strip() for part in text.split(",")]
    if "" in parts:
        raise ConfigError(f"{key}={text}: an empty value between commas")
    count = 0
    for part in parts:
        found = _RANGE.match(part)
        if found and decl.scalar is int:
            low, high = int(found[1]), int(found[2])
            if low > high:
                raise ConfigError(f"{key}={text}: the range {part} is reversed; write {high}-{low}")
            count += high - low + 1
        else:
            count += 1
        if count > MAX_TRIALS:
            raise ConfigError(
                f"{key}={text}: has more than {MAX_TRIALS} values; a sweep runs at most {MAX_TRIALS} trials"
            )
    values: list[Any] = []
    for part in parts:
        found = _RANGE.match(part)
        if found and decl.scalar is int:
            values.extend(range(int(found[1]), int(found[2]) + 1))
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


def _check_key(experiment: Experiment, keys: dict[str, Declaration], key: str, text: str) -> None:
    """Refuse a key that cannot be swept, saying what to write instead."""
    command = experiment.name
    if key in experiment.sweep.aliases.values():
        alias = next(a for a, t in experiment.sweep.aliases.items() if t == key)
        raise ConfigError(f"{key}= cannot be swept: each {command} trial trains one {alias}; use {alias}={text}")
    skipped = not_swept(experiment)
    if key in skipped and key in experiment.settings.model_fields:
        raise ConfigError(f"{key}= cannot be swept: {skipped[key]}")
    if key not in keys:
        raise ConfigError(unknown_message(f"unknown key '{key}' for a sweep of {command}", key, list(keys)))


def parse_grid(command: str, assignments: Sequence[str], preset: Path | None = None) -> Grid:
    """The grid of ``nnlab sweep COMMAND KEY=VALUES...``; ConfigError (exit 2) for anything that is not a valid grid:
    an unknown key, a value of the wrong type or out of range, an empty list, a reversed or non-integer range, a
    grid of more than MAX_TRIALS trials. With no ``seed=``, the seeds are 0-4. An alias key not given (``model=``
    of mnist) takes the values of the list it stands for: the preset's, else the default (one trial per model)."""
    experiment = experiment_of(command)
    fixed, origins = load_preset(preset, command) if preset is not None else ({}, {})
    for name in not_swept(experiment):
        fixed.pop(name, None)
    keys = sweep_keys(experiment)
    axes: dict[str, tuple[Any, ...]] = {}
    for assignment in assignments:
        key, equals, text = assignment.partition("=")
        key = key.strip().replace("-", "_")
        if not equals:
            raise ConfigError(f"{assignment!r} is not KEY=VALUES (e.g. seed=0-9 or lr=0.01,0.02)")
        _check_key(experiment, keys, key, text)
        if key in axes:
            raise ConfigError(f"{key}= is given twice; give each key once with all its values")
        values = _parse_values(keys[key], key, text)
        for value in values:
            try:
                check(experiment.settings, {**fixed, **_setting_values(experiment, key, value)}, origins, across=False)
            except SettingError as exc:
                if exc.preset is not None:
                    raise
                raise ConfigError(
                    f"{key}={text}: {short_repr(exc.value)} is not allowed; {key} must be ", *exc.requirement
                ) from None
        axes[key] = values
    for alias, target in experiment.sweep.aliases.items():
        listed = tuple(fixed.pop(target, declaration(experiment.settings, target).default))
        if alias not in axes:
            axes[alias] = listed
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


def trials(grid: Grid) -> list[Trial]:
    """Every trial of the grid, in the grid's order (the seed varying fastest)."""
    experiment = grid.experiment
    skipped = not_swept(experiment)
    found = []
    for combination in itertools.product(*grid.axes.values()):
        swept = dict(zip(grid.axes, combination))
        values = dict(grid.fixed)
        for key, value in swept.items():
            values |= _setting_values(experiment, key, value)
        try:
            resolved = check(experiment.settings, values)
        except SettingError as exc:
            described = " ".join(f"{key}={value}" for key, value in swept.items())
            raise ConfigError(f"the trial {described}: ", exc.render()) from None
        assert resolved is not None
        settings = {key: value for key, value in as_dict(resolved).items() if key not in skipped}
        found.append(Trial(trial_id(grid.command, settings), swept, settings, experiment.sweep.cost(settings)))
    return found


MAX_TRIAL_FILE_BYTES = 1 << 20


def read_trial(path: Path) -> tuple[TrialRecord | None, str | None]:
    """The trial record at ``path`` (None if there is none), or what is wrong with the file."""
    return read_record(path, TrialRecord, MAX_TRIAL_FILE_BYTES)


@dataclass(frozen=True)
class DataUsed:
    """The data some of a sweep's trials compute from, as this process finds it: what it is, its identity by
    content, and what loading it warned about (a fallback)."""

    summary: str
    identity: str
    warnings: list[str]


@dataclass
class Plan:
    """A sweep's trials, the records of those an earlier run finished (ok or diverged: both would repeat), the data
    the trials use, and why records found were not reused."""

    grid: Grid
    trials: list[Trial]
    finished: dict[str, TrialRecord]
    data: list[DataUsed] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[Trial]:
        return [trial for trial in self.trials if trial.id not in self.finished]


def plan(grid: Grid, trials_folder: Path, fresh: bool = False) -> Plan:
    """The trials of ``grid``, with those already finished in ``trials_folder`` (none with ``fresh``). A failed
    trial runs again, and so does one whose record does not fit it (a warning names the file): other settings,
    metrics missing or outside their range, or computed from other data than the trial would use now."""
    all_trials = trials(grid)
    identities = _data_identities(grid, all_trials)
    found = Plan(grid, all_trials, {}, data=list({used.identity: used for used in identities.values()}.values()))
    if fresh:
        return found
    for trial in all_trials:
        path = trials_folder / f"{trial.id}.json"
        record, problem = read_trial(path)
        used = identities.get(trial.id)
        problem = problem or (record and _misfit(grid, trial, record, used.identity if used else None))
        if problem:
            found.warnings.append(f"{problem}; running the trial again")
        elif record is not None and record.status != "failed":
            found.finished[trial.id] = record.model_copy(update={"swept": trial.swept})
    return found


def _data_identities(grid: Grid, all_trials: list[Trial]) -> dict[str, DataUsed]:
    """The data each trial computes from, loaded here once per distinct dataset; none where the experiment uses no
    data or this process cannot load it (a scheduler's workers may have data this machine lacks)."""
    from nnlab.errors import NnlabError

    load = grid.experiment.sweep.data
    if load is None:
        return {}
    used: dict[str, DataUsed] = {}
    by_data: dict[tuple[Any, ...], DataUsed | None] = {}
    for trial in all_trials:
        key = tuple(trial.settings.get(name) for name in ("dataset", "data_dir", "fallback"))
        if key not in by_data:
            try:
                dataset = load(grid.experiment.settings(**{k: as_setting_value(v) for k, v in trial.settings.items()}))
            except NnlabError:
                by_data[key] = None
            else:
                warnings = [warning.render() for warning in dataset.warnings]
                by_data[key] = DataUsed(dataset.summary(), dataset.fingerprint(), warnings)
        if (found := by_data[key]) is not None:
            used[trial.id] = found
    return used


def _misfit(grid: Grid, trial: Trial, record: TrialRecord, identity: str | None) -> str | None:
    """Why a finished record cannot stand for ``trial``, or None."""
    name = f"trials/{trial.id}.json"
    if record.trial != trial.id or record.settings != trial.settings:
        return f"{name}: its settings are not the trial's"
    if record.status == "failed":
        return None
    if identity is not None and record.data_identity and record.data_identity != identity:
        return f"{name}: computed from other data ({record.data_identity}) than is here now ({identity})"
    if record.status != "ok":
        return None
    for metric in grid.experiment.metrics:
        value = record.metrics.get(metric.name)
        if value is None:
            if metric.main:
                return f"{name}: status ok but no {metric.name}"
            continue
        high = metric.upper(trial.settings)
        if (
            not math.isfinite(value)
            or (metric.low is not None and value < metric.low)
            or (high is not None and value > high)
        ):
            return f"{name}: {metric.name} {value!r} is outside what it can be"
    return None


def record(grid: Grid, trial: Trial, outcome: dict[str, Any]) -> TrialRecord:
    """The record of a trial from what its worker returned."""
    return TrialRecord(trial=trial.id, command=grid.command, settings=trial.settings, swept=trial.swept, **outcome)
