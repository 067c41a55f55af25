"""Experiment settings: typed dataclasses with the defaults, TOML presets, and the one precedence rule.

Precedence, written down once in :func:`resolve`: a command-line flag beats a value from ``--config FILE``,
which beats the built-in default. Unknown or mistyped keys and wrong types are rejected by name.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nnlab.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODEL_NAMES = ("linear", "full", "conv")
DATASET_NAMES = ("mnist", "fashion-mnist", "kmnist", "mnist-5k")
OPTIMIZER_NAMES = ("adam", "adamw", "sgd")
SCHEDULE_NAMES = ("onecycle", "constant")
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
PRECISION_NAMES = ("auto", "fp32", "bf16")


def _require(ok: bool, option: str, allowed: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"--{option.replace('_', '-')} {value!r}: must be {allowed}")


def _require_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    _require(value in choices, option, "one of " + ", ".join(choices), value)


def _require_positive_finite(option: str, value: float) -> None:
    _require(math.isfinite(value) and value > 0, option, "a finite number > 0", value)


@dataclass
class MoonsConfig:
    """Settings of ``nnlab moons``."""

    iters: int = 32
    # The hinge-like error E = mean max(0, -y t) has gradients of size ~1/N per sample; 1.0 moves the boundary
    # visibly each iteration yet stays stable, reaching a low error in the lab's 32 iterations.
    lr: float = 1.0
    hidden: int = 50
    samples: int = 100
    noise: float = 0.0
    seed: int = 0
    # None: iteration 0, the powers of two below ``iters``, and ``iters`` itself (0,1,2,4,8,16,32 for 32).
    snapshots: tuple[int, ...] | None = None
    animate: bool = False
    out: str = "outputs"

    def validate(self) -> None:
        _require(self.iters >= 0, "iters", "an integer >= 0", self.iters)
        _require(self.hidden >= 1, "hidden", "an integer >= 1", self.hidden)
        _require(self.samples >= 2, "samples", "an integer >= 2", self.samples)
        _require_positive_finite("lr", self.lr)
        _require(math.isfinite(self.noise) and self.noise >= 0, "noise", "a finite number >= 0", self.noise)
        for snapshot in self.snapshots or ():
            _require(
                0 <= snapshot <= self.iters,
                "snapshots",
                f"iterations between 0 and --iters ({self.iters})",
                snapshot,
            )

    def snapshot_iterations(self) -> tuple[int, ...]:
        """The iterations to draw, sorted and without repeats."""
        if self.snapshots is not None:
            return tuple(sorted(set(self.snapshots)))
        chosen = {0, self.iters}
        power = 1
        while power < self.iters:
            chosen.add(power)
            power *= 2
        return tuple(sorted(chosen))


@dataclass
class DataOptions:
    """Where MNIST-format data comes from (shared by ``mnist`` and ``confidence``)."""

    dataset: str = "mnist"
    data_dir: str | None = None
    # Without a local copy and without network, "mnist" falls back to the bundled 5000-digit subset.
    fallback: bool = True

    def validate(self) -> None:
        _require_choice("dataset", self.dataset, DATASET_NAMES)


@dataclass
class MnistConfig(DataOptions):
    """Settings of ``nnlab mnist`` (the improved defaults; configs/sheet.toml holds the original recipe)."""

    epochs: int = 5
    models: tuple[str, ...] = MODEL_NAMES
    # None: a power of two between 32 and 512 giving about 100 steps per epoch (512 for 60000 images).
    batch_size: int | None = None
    optimizer: str = "adam"
    # None: the tuned peak learning rate of each model (classifier.DEFAULT_LR); one value applies to all models.
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    shuffle: bool = True
    # auto: bfloat16 autocast for conv and full where the hardware has bf16 units (AMX CPU, recent GPU).
    precision: str = "auto"
    # Fraction of training after which the first layer is frozen; None: 0.5 for conv, never for the others.
    freeze_first: float | None = None
    seed: int = 0
    device: str = "auto"
    train_size: int | None = None
    eval_size: int = 2500
    out: str = "outputs"
    quiet: bool = False

    def classifier_params(self) -> dict[str, Any]:
        """The NNClassifier arguments these settings imply (all but the model name)."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "schedule": self.schedule,
            "shuffle": self.shuffle,
            "precision": self.precision,
            "device": self.device,
            "seed": self.seed,
        }

    def validate(self) -> None:
        super().validate()
        _require(self.epochs >= 1, "epochs", "an integer >= 1", self.epochs)
        _require(len(self.models) >= 1, "models", "a comma-separated list of " + ", ".join(MODEL_NAMES), "")
        for name in self.models:
            _require_choice("models", name, MODEL_NAMES)
        _require(self.batch_size is None or self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        _require_choice("optimizer", self.optimizer, OPTIMIZER_NAMES)
        if self.lr is not None:
            _require_positive_finite("lr", self.lr)
        _require_choice("precision", self.precision, PRECISION_NAMES)
        if self.freeze_first is not None:
            _require(0.0 <= self.freeze_first <= 1.0, "freeze_first", "a fraction between 0 and 1", self.freeze_first)
        _require(0 <= self.momentum < 1, "momentum", "a number in [0, 1)", self.momentum)
        _require(
            math.isfinite(self.weight_decay) and self.weight_decay >= 0,
            "weight_decay",
            "a number >= 0",
            self.weight_decay,
        )
        _require_choice("schedule", self.schedule, SCHEDULE_NAMES)
        _require_choice("device", self.device, DEVICE_NAMES)
        _require(self.train_size is None or self.train_size >= 1, "train_size", "an integer >= 1", self.train_size)
        _require(self.eval_size >= 1, "eval_size", "an integer >= 1", self.eval_size)


@dataclass
class ConfidenceConfig(DataOptions):
    """Settings of ``nnlab confidence``."""

    top: int = 24
    model: str = "conv"
    # None: <out>/mnist/<model>.pt, trained with the ``nnlab mnist`` defaults when it does not exist yet.
    checkpoint: str | None = None
    device: str = "auto"
    out: str = "outputs"
    quiet: bool = False

    def validate(self) -> None:
        super().validate()
        _require(self.top >= 1, "top", "an integer >= 1", self.top)
        _require_choice("model", self.model, MODEL_NAMES)
        _require_choice("device", self.device, DEVICE_NAMES)

    def checkpoint_path(self) -> Path:
        """The checkpoint to read (and to write when training is needed)."""
        if self.checkpoint is not None:
            return Path(self.checkpoint)
        return Path(self.out) / "mnist" / f"{self.model}.pt"


COMMAND_CONFIGS: dict[str, type] = {
    "moons": MoonsConfig,
    "mnist": MnistConfig,
    "confidence": ConfidenceConfig,
}

ConfigT = TypeVar("ConfigT")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(where: str, key: str, value: Any, hint: Any) -> Any:
    """Check a TOML value against a field's type hint; return it in the field's Python type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(where, key, value, arg)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: key '{key}' must be a list of {_type_name(item_hint)}, not {value!r}")
        return tuple(_coerce(where, key, item, item_hint) for item in value)
    wrong = ConfigError(f"{where}: key '{key}' must be {_type_name(hint)}, not {value!r}")
    if hint is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise wrong
        return value
    raise TypeError(f"unsupported config type {hint!r}")  # a programming error, not a user error


def _unknown_key_message(where: str, kind: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(known)}"
    return f"{where}: unknown {kind} '{key}'{hint}"


def load_config_file(path: Path, command: str) -> dict[str, Any]:
    """Read the ``[command]`` table of a TOML preset.

    A preset holds one table per command (``[moons]``, ``[mnist]``, ``[confidence]``); a table it lacks means
    "no overrides". Every table is checked against its command's settings, so a typo anywhere in the file is
    caught: unknown tables, unknown keys and wrong types raise ConfigError naming them.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file; pass an existing TOML file (see configs/)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc}); pass a UTF-8 TOML file") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: not valid TOML ({exc})") from None
    for section, table in document.items():
        if section not in COMMAND_CONFIGS:
            raise ConfigError(_unknown_key_message(f"--config {path}", "section", section, list(COMMAND_CONFIGS)))
        if not isinstance(table, dict):
            raise ConfigError(f"--config {path}: '{section}' must be a table ([{section}]), not a value")
    checked = {section: _check_table(path, section, table) for section, table in document.items()}
    return checked.get(command, {})


def _check_table(path: Path, command: str, table: dict[str, Any]) -> dict[str, Any]:
    config_cls = COMMAND_CONFIGS[command]
    hints = typing.get_type_hints(config_cls)
    names = [f.name for f in dataclasses.fields(config_cls)]
    where = f"--config {path} [{command}]"
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in names:
            raise ConfigError(_unknown_key_message(where, "key", raw_key, names))
        values[key] = _coerce(where, raw_key, value, hints[key])
    return values


def resolve(config_cls: type[ConfigT], config_file: Path | None, flags: dict[str, Any]) -> ConfigT:
    """Build a validated config: flag (not None) > value from ``config_file`` > built-in default."""
    command = next(name for name, cls in COMMAND_CONFIGS.items() if cls is config_cls)
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_config_file(config_file, command))
    values.update({key: value for key, value in flags.items() if value is not None})
    config = config_cls(**values)
    config.validate()  # type: ignore[attr-defined]
    return config


def as_dict(config: Any) -> dict[str, Any]:
    """The resolved config as JSON-ready data (tuples become lists)."""
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(config).items()
    }


def default_of(config_cls: type, name: str) -> Any:
    """The built-in default of one setting, for help texts."""
    for item in dataclasses.fields(config_cls):
        if item.name == name:
            value = item.default if item.default is not dataclasses.MISSING else item.default_factory()  # type: ignore[misc]
            if isinstance(value, tuple):
                return ",".join(map(str, value))
            return value
    raise KeyError(name)


__all__ = [
    "ConfidenceConfig",
    "MnistConfig",
    "MoonsConfig",
    "as_dict",
    "default_of",
    "load_config_file",
    "resolve",
]
