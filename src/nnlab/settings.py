"""Every setting of nnlab, declared once: name, type, default, allowed values and help.

A command's settings are a pydantic model composed of the groups below; each field is one setting. Everything else
derives from these declarations: the command-line options and their ``--help`` (cli.py), the keys of TOML presets
and their checks (:func:`load_preset`), NNClassifier's parameters and their checks (classifier.py), and the keys of
``nnlab sweep`` (sweep.py). A value that breaks a declaration raises :class:`~nnlab.errors.SettingError` naming the
setting, the value and what it must be.

Precedence, written down once in :func:`resolve`: a value given directly (a command-line flag) beats a value from a
preset file, which beats the built-in default.
"""

from __future__ import annotations

import difflib
import inspect
import sys
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from nnlab.errors import ConfigError, Name, Part, Preset, SettingError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ModelName = Literal["linear", "full", "conv"]
DatasetName = Literal["mnist", "fashion-mnist", "kmnist", "mnist-5k"]
OptimizerName = Literal["adam", "adamw", "sgd"]
ScheduleName = Literal["onecycle", "constant"]
PrecisionName = Literal["auto", "fp32", "bf16"]
DeviceName = Literal["auto", "cpu", "cuda", "mps"]
MODEL_NAMES: tuple[str, ...] = typing.get_args(ModelName)

# Peak learning rates of the one-cycle schedule, tuned per model and optimizer (5 epochs, mnist-5k and
# Fashion-MNIST); used where ``lr`` is None.
DEFAULT_LR = {
    "adam": {"linear": 0.015, "full": 0.005, "conv": 0.016},
    "adamw": {"linear": 0.015, "full": 0.005, "conv": 0.016},
    "sgd": {"linear": 0.2, "full": 0.1, "conv": 0.1},
}
# Fraction of the training steps after which the first layer is frozen (as in FreezeOut, Brock et al. 2017),
# used where ``freeze_first`` is None. Late in the one-cycle schedule the conv net's first layer barely moves,
# and freezing it skips the backward pass through the first convolution and max-pool: about 15% of the conv
# net's training time for no measurable loss of accuracy. For full it costs accuracy; linear has one layer.
DEFAULT_FREEZE_FIRST = {"linear": 1.0, "full": 1.0, "conv": 0.5}

MAX_SEED = 2**32 - 1  # NumPy's RandomState, which the moons data uses, takes seeds below 2**32
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux
MAX_PRESET_BYTES = 1 << 20  # a preset is a few lines; anything larger is not one


def _text_path(value: str) -> str:
    """A path given as text: not empty, no NUL byte, valid UTF-8 (so every later message and JSON file can
    hold it), and not longer than the system allows."""
    if not value:
        raise ValueError("a path, not an empty text")
    if "\x00" in value:
        raise ValueError("a path without NUL characters")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a path that is valid UTF-8 (rename the file or folder)") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise ValueError(f"a path of at most {MAX_PATH_BYTES} bytes")
    return value


PathText = Annotated[str, AfterValidator(_text_path)]


def setting(
    default: Any, help: str, *, default_text: str | None = None, requirement: str | None = None, **constraints: Any
) -> Any:
    """Declare one setting: its default, its help text (a sentence) and its constraints (``ge``, ``le``, ``gt``,
    ``lt``, ``min_length``, ``max_length``). ``default_text`` describes a default that is computed later;
    ``requirement`` says in words what a text setting must be, where "a path" is not it."""
    extra = {key: value for key, value in (("default_text", default_text), ("requirement", requirement)) if value}
    return Field(default, description=help, json_schema_extra=extra or None, **constraints)


class Settings(BaseModel):
    """Base of every group of settings: immutable, strictly typed, unknown names rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True, defer_build=True)
    panel: ClassVar[str] = "Options"  # the --help section this group's options appear in

    def __init__(self, **values: Any) -> None:
        """Settings from keyword values; a value that breaks a declaration raises SettingError naming it."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _first_error(type(self), exc, values) from None


# --------------------------------------------------------------------------------------------- groups


class OutputSettings(Settings):
    panel: ClassVar[str] = "Output"
    out: PathText = setting("outputs", "Output folder.")


class ProgressSettings(Settings):
    panel: ClassVar[str] = "Output"
    quiet: bool = setting(False, "No progress bars.")


class DataSettings(Settings):
    panel: ClassVar[str] = "Data"
    dataset: DatasetName = setting("mnist", "The data set; mnist-5k is the 5000 digits bundled offline.")
    data_dir: PathText | None = setting(
        None,
        "A folder with the four IDX files (raw or .gz), or where downloads go.",
        default_text="$NNLAB_DATA_DIR, else ~/.cache/nnlab",
    )
    # Without a local copy and without network, "mnist" falls back to the bundled 5000-digit subset.
    fallback: bool = setting(True, "Use the bundled mnist-5k subset when MNIST can be neither found nor downloaded.")


class DeviceSettings(Settings):
    panel: ClassVar[str] = "Training"
    device: DeviceName = setting("auto", "Where torch computes; auto picks cuda, then mps, then cpu.")


class TrainingSettings(DeviceSettings):
    """How a network is trained: NNClassifier's parameters apart from the model."""

    epochs: int = setting(5, "Training epochs per model.", ge=1, le=1000)
    # None: a power of two between 32 and 512 giving about 100 steps per epoch (512 for 60000 images).
    batch_size: int | None = setting(
        None, "Minibatch size.", default_text="32..512 by data size; 32 for 4000 images, 512 for 60000", ge=1, le=65536
    )
    optimizer: OptimizerName = setting("adam", "The optimizer.")
    lr: float | None = setting(
        None,
        "Peak learning rate for every model.",
        default_text="tuned per model: " + ", ".join(f"{m} {lr}" for m, lr in DEFAULT_LR["adam"].items()),
        gt=0,
        le=1e9,
    )
    momentum: float = setting(0.9, "SGD momentum.", ge=0, lt=1)
    weight_decay: float = setting(0.0, "Weight decay.", ge=0, le=1)
    label_smoothing: float = setting(0.0, "Cross-entropy label smoothing (0: none).", ge=0, lt=1)
    schedule: ScheduleName = setting("onecycle", "Learning-rate schedule.")
    shuffle: bool = setting(True, "Reshuffle the training data every epoch.")
    # auto: bfloat16 autocast for conv and full where the hardware has bf16 units (AMX or AVX-512 BF16, recent GPU).
    precision: PrecisionName = setting(
        "auto", "Training precision; auto is bf16 for conv and full on CPUs with AMX or AVX-512 BF16, and GPUs."
    )
    freeze_first: float | None = setting(
        None,
        "Freeze the first layer after this fraction of training (1: never).",
        default_text="per model: " + ", ".join(f"{m} {f:g}" for m, f in DEFAULT_FREEZE_FIRST.items()),
        ge=0,
        le=1,
    )
    seed: int = setting(0, "Seed of weights and shuffling.", ge=0, le=MAX_SEED)


class ModelSetting(Settings):
    panel: ClassVar[str] = "Model"
    model: ModelName = setting("conv", "The network.")


class ClassifierParams(ModelSetting, TrainingSettings):
    """NNClassifier's parameters."""


# ------------------------------------------------------------------------------------------- commands


def _distinct(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(values)) != len(values):
        raise ValueError("a list without repeats")
    return values


class MoonsSettings(OutputSettings):
    """Settings of ``nnlab moons``."""

    panel: ClassVar[str] = "Moons"
    iters: int = setting(32, "Gradient-descent iterations.", ge=0, le=1_000_000)
    # The hinge-like error E = mean max(0, -y t) has gradients of size ~1/N per sample; 1.0 moves the boundary
    # visibly each iteration yet stays stable, reaching zero error in the lab's 32 iterations.
    lr: float = setting(1.0, "Learning rate.", gt=0, le=1e9)
    hidden: int = setting(50, "Hidden ReLU units.", ge=1, le=100_000)
    samples: int = setting(100, "Points in the data set.", ge=2, le=1_000_000)
    noise: float = setting(0.0, "Standard deviation of noise on the moons.", ge=0, le=10)
    seed: int = setting(0, "Seed of the data and the weights.", ge=0, le=MAX_SEED)
    # None: iteration 0, the powers of two below ``iters``, and ``iters`` itself (0,1,2,4,8,16,32 for 32).
    snapshots: tuple[Annotated[int, Field(ge=0)], ...] | None = setting(
        None, "Iterations to draw.", default_text="0, the powers of two below iters, and iters", min_length=1,
        max_length=32,
    )  # fmt: skip
    animate: bool = setting(False, "Also write training.gif with the boundary at every iteration.")

    MAX_ANIMATED_ITERS: ClassVar[int] = 1000  # every frame is kept in memory until the GIF is written

    @model_validator(mode="after")
    def _snapshots_within_iters(self) -> MoonsSettings:
        for snapshot in self.snapshots or ():
            if snapshot > self.iters:
                raise Unmet("snapshots", snapshot, "iterations between 0 and ", Name("iters"), f" ({self.iters})")
        if self.animate and self.iters > self.MAX_ANIMATED_ITERS:
            raise Unmet("iters", self.iters, f"at most {self.MAX_ANIMATED_ITERS} with ", Name("animate", True))
        return self

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


class MnistSettings(ProgressSettings, OutputSettings, TrainingSettings, DataSettings):
    """Settings of ``nnlab mnist`` (the improved defaults; configs/sheet.toml holds the original recipe)."""

    panel: ClassVar[str] = "Experiment"
    models: Annotated[tuple[ModelName, ...], AfterValidator(_distinct)] = setting(
        MODEL_NAMES, "Models to train.", min_length=1
    )
    train_size: int | None = setting(
        None, "Train on the first N training images.", default_text="all", ge=1, le=10_000_000
    )
    eval_size: int = setting(
        2500, "Accuracy on the first N training and test images (the lab's protocol).", ge=1, le=10_000_000
    )

    def classifier_params(self, model: str) -> dict[str, Any]:
        """The NNClassifier parameters these settings give ``model``."""
        return {name: getattr(self, name) for name in ClassifierParams.model_fields if name != "model"} | {
            "model": model
        }


class ConfidenceSettings(ProgressSettings, OutputSettings, TrainingSettings, DataSettings, ModelSetting):
    """Settings of ``nnlab confidence``; the training settings apply when there is no checkpoint yet."""

    panel: ClassVar[str] = "Confidence"
    top: int = setting(24, "How many most and least confident images.", ge=1, le=500)
    # None: OUT/mnist/MODEL.pt, else OUT/confidence/MODEL.pt, else the model is trained now.
    checkpoint: PathText | None = setting(
        None,
        "A checkpoint written by 'nnlab mnist'.",
        default_text="OUT/mnist/MODEL.pt, else one trained now with the mnist defaults",
    )

    def classifier_params(self) -> dict[str, Any]:
        """The NNClassifier parameters of the model to train when there is no checkpoint."""
        return {name: getattr(self, name) for name in ClassifierParams.model_fields}


MAX_WORKERS = 1024


class SweepSettings(ProgressSettings, OutputSettings):
    """Settings of ``nnlab sweep`` itself (the swept command's settings are its KEY=VALUES)."""

    panel: ClassVar[str] = "Sweep"
    workers: int | None = setting(
        None,
        "Worker processes of the local cluster; each runs one trial at a time with one torch thread.",
        default_text="the CPU cores",
        ge=1,
        le=MAX_WORKERS,
    )
    scheduler: Annotated[str, Field(pattern=r"^([a-z]+://)?[^\s/]+:[0-9]+$", max_length=500)] | None = setting(
        None,
        "Address of a running Dask scheduler (tcp://host:8786) to run the trials on, instead of a local cluster.",
        default_text="a local cluster on this machine",
        requirement="a scheduler address like tcp://host:8786",
    )
    fresh: bool = setting(False, "Run every trial again, ignoring the finished ones.")


COMMANDS: dict[str, type[Settings]] = {
    "moons": MoonsSettings,
    "mnist": MnistSettings,
    "confidence": ConfidenceSettings,
    "sweep": SweepSettings,
}
SettingsT = TypeVar("SettingsT", bound=Settings)


# ------------------------------------------------------------------------------ describing a declaration


class Unmet(ValueError):
    """Raised inside a validator: ``setting`` = ``value`` does not meet ``requirement`` (whose parts may name
    other settings)."""

    def __init__(self, setting: str, value: Any, *requirement: Part) -> None:
        super().__init__(setting)
        self.setting, self.value, self.requirement = setting, value, requirement


@dataclass(frozen=True)
class Declaration:
    """One setting as the command line, presets and sweeps see it."""

    name: str
    scalar: type  # int, float, bool or str: the type of the value, or of each item of a list
    is_list: bool
    optional: bool  # None is allowed (and means "computed": see default_text)
    choices: tuple[str, ...]  # the allowed values of a name-valued setting, else ()
    bounds: dict[str, float]  # of the value, or of each item of a list: ge, gt, le, lt
    length: dict[str, int]  # of a list: min_length, max_length
    default: Any
    help: str
    default_text: str | None
    panel: str
    requirement: str | None = None  # what a text value must be, where that is not "a path"


def _strip(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """The annotation without Annotated metadata and None, whether None was allowed, and the metadata."""
    optional = False
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata += extra
        elif origin in (typing.Union, types.UnionType):
            optional = True
            annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
        else:
            return annotation, optional, metadata


def _limits(metadata: list[Any], keys: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        for constraint in [item, *getattr(item, "metadata", [])]:  # annotated_types objects, or a FieldInfo
            for key in keys:
                if getattr(constraint, key, None) is not None:
                    found[key] = getattr(constraint, key)
    return found


def _declaring_group(settings_cls: type[Settings], name: str) -> type[Settings]:
    for cls in reversed(settings_cls.__mro__):
        if issubclass(cls, Settings) and name in vars(cls).get("__annotations__", {}):
            return cls
    return settings_cls


_BOUNDS = ("ge", "gt", "le", "lt")


def declarations(settings_cls: type[Settings]) -> Iterator[Declaration]:
    """Every setting of ``settings_cls``, in declaration order."""
    for name, field in settings_cls.model_fields.items():
        annotation, optional, metadata = _strip(field.annotation)
        bounds = _limits([*field.metadata, *metadata], _BOUNDS)
        length: dict[str, int] = {}
        is_list = typing.get_origin(annotation) is tuple
        if is_list:
            length = _limits([*field.metadata, *metadata], ("min_length", "max_length"))
            annotation, _, item_metadata = _strip(typing.get_args(annotation)[0])
            bounds = _limits(item_metadata, _BOUNDS)
        choices: tuple[str, ...] = ()
        if typing.get_origin(annotation) is Literal:
            choices, annotation = typing.get_args(annotation), str
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        yield Declaration(
            name=name,
            scalar=annotation,
            is_list=is_list,
            optional=optional,
            choices=choices,
            bounds=bounds,
            length=length,
            default=field.default,
            help=field.description or "",
            default_text=typing.cast("str | None", extra.get("default_text")),
            panel=_declaring_group(settings_cls, name).panel,
            requirement=typing.cast("str | None", extra.get("requirement")),
        )


def declaration(settings_cls: type[Settings], name: str) -> Declaration:
    """The declaration of one setting."""
    return next(item for item in declarations(settings_cls) if item.name == name)


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e7 else f"{value:g}"


def requirement(decl: Declaration, item: bool = False) -> str:
    """What a value of a setting (or one item of a list setting) must be, in words."""
    if decl.choices:
        single = "one of " + ", ".join(decl.choices)
    elif decl.scalar is bool:
        single = "true or false"
    elif decl.scalar is str:
        single = decl.requirement or "a path"
    else:
        single = "an integer" if decl.scalar is int else "a finite number"
        words = [f"{op} {_number(decl.bounds[key])}" for key, op in zip(_BOUNDS, (">=", ">", "<=", "<"))
                 if key in decl.bounds]  # fmt: skip
        single += " " + " and ".join(words) if words else ""
    if not decl.is_list or item:
        return single
    most = f"at most {decl.length['max_length']} " if "max_length" in decl.length else ""
    items = "names, each " + single if decl.choices else single.replace("an integer", "integers")
    return f"a non-empty list of {most}{items}"


def type_name(decl: Declaration) -> str:
    """The TOML type a setting takes: int, float, bool, str, or a list of one of them."""
    scalar = decl.scalar.__name__
    return f"a list of {scalar}" if decl.is_list else scalar


# --------------------------------------------------------------------------------------------- checking


_WRONG_TYPE = ("_type", "_parsing", "int_from_float", "is_instance_of")  # pydantic error types of a wrong type


def _to_setting_error(settings_cls: type[Settings], error: Any, values: Mapping[str, Any]) -> SettingError:
    """One pydantic error as a SettingError in the declaration's words."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Unmet):
        return SettingError(cause.setting, cause.value, cause.requirement, across=True)
    location = error["loc"]
    name = str(location[0])
    value = values.get(name)
    if isinstance(cause, ValueError) and len(location) == 1:  # a message from one of the validators above
        return SettingError(name, value, (str(cause),))
    decl = declaration(settings_cls, name)
    if error["type"].endswith(_WRONG_TYPE):
        return SettingError(name, value, (type_name(decl),), wrong_type=True)
    item = len(location) > 1 and isinstance(location[1], int)
    shown = error["input"] if item else value
    return SettingError(name, shown, (requirement(decl, item=item),))


def _first_error(settings_cls: type[Settings], exc: ValidationError, values: Mapping[str, Any]) -> ConfigError:
    errors = exc.errors()
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        name = str(unknown[0]["loc"][0])
        return ConfigError(_unknown_message(f"unknown setting '{name}'", name, list(settings_cls.model_fields)))
    return _to_setting_error(settings_cls, errors[0], values)


def check(settings_cls: type[SettingsT], values: Mapping[str, Any], presets: Mapping[str, Preset] | None = None,
          across: bool = True) -> SettingsT | None:  # fmt: skip
    """Validate ``values`` against the declarations and return the settings; the first problem raises
    SettingError.

    ``presets`` says which values came from a preset file, so that the error can name the file and key. Without
    ``across``, checks across settings are left out (they wait until all of a command's values are known) and a
    failure of one of them returns None.
    """
    try:
        return settings_cls(**values)
    except SettingError as exc:
        if exc.across and not across:
            return None
        raise exc.from_preset((presets or {}).get(exc.setting)) from None


def _unknown_message(what: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"{what}; " + (f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}")


# ------------------------------------------------------------------------------------------------ presets


def _read_preset(path: Path) -> dict[str, Any]:
    where = Name("config")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PRESET_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(where, f" {path}: no such file; pass an existing TOML file (see configs/)") from None
    except IsADirectoryError:
        raise ConfigError(where, f" {path}: is a folder, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(
            where, f" {path}: cannot read it ({exc.strerror or exc}); pass a readable TOML file"
        ) from None
    if len(raw) > MAX_PRESET_BYTES:
        raise ConfigError(where, f" {path}: larger than {MAX_PRESET_BYTES} bytes; a preset is a short TOML file")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(where, f" {path}: not UTF-8 text; pass a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f" {path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(where, f" {path}: values nested too deeply to be a preset") from None


def as_setting_value(value: Any) -> Any:
    """A value read from TOML or JSON as a setting takes it: arrays become tuples, the type list settings hold."""
    return tuple(value) if isinstance(value, list) else value


def load_preset(path: Path, command: str) -> tuple[dict[str, Any], dict[str, Preset]]:
    """The values of the ``[command]`` table of a TOML preset, and where each came from.

    A preset holds one table per command (``[moons]``, ``[mnist]``, ``[confidence]``); a table it lacks means
    "no values". Every table is checked against its command's declarations, so a typo anywhere in the file is
    caught: unknown tables, unknown keys, wrong types and values out of range raise ConfigError naming them.
    Keys may be written with dashes (``batch-size``) or underscores, but not both ways in one table.
    """
    document = _read_preset(Path(path))
    where = (Name("config"), f" {path}")
    found: dict[str, tuple[dict[str, Any], dict[str, Preset]]] = {}
    for section, table in document.items():
        if section not in COMMANDS:
            raise ConfigError(*where, ": " + _unknown_message(f"unknown section '{section}'", section, list(COMMANDS)))
        if not isinstance(table, dict):
            raise ConfigError(*where, f": '{section}' must be a table ([{section}]), not a value")
        settings_cls = COMMANDS[section]
        values: dict[str, Any] = {}
        origins: dict[str, Preset] = {}
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in settings_cls.model_fields:
                message = _unknown_message(f"unknown key '{key}'", key, list(settings_cls.model_fields))
                raise ConfigError(*where, f" [{section}]: {message}")
            if name in values:
                raise ConfigError(*where, f" [{section}]: both '{origins[name].key}' and '{key}' set {name}; keep one")
            values[name] = as_setting_value(value)
            origins[name] = Preset(str(path), section, key)
        check(settings_cls, values, origins, across=False)  # each value alone: the flags may yet change others
        found[section] = (values, origins)
    return found.get(command, ({}, {}))


def resolve(settings_cls: type[SettingsT], preset: Path | None, given: Mapping[str, Any]) -> SettingsT:
    """The settings of one command: each value ``given`` directly (None: not given) beats the preset's value,
    which beats the declared default. Raises ConfigError or SettingError naming the value's origin."""
    command = next(name for name, cls in COMMANDS.items() if cls is settings_cls)
    values: dict[str, Any] = {}
    origins: dict[str, Preset] = {}
    if preset is not None:
        values, origins = load_preset(preset, command)
    for name, value in given.items():
        if value is not None:
            values[name] = value
            origins.pop(name, None)
    settings = check(settings_cls, values, origins)
    assert settings is not None  # checks across settings raise here
    return settings


def as_dict(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready data (tuples become lists)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in settings.model_dump().items()}


# ----------------------------------------------------------------------------------- estimator parameters


def estimator_init(params_cls: type[Settings]) -> Any:
    """An ``__init__`` taking exactly the settings of ``params_cls`` with their defaults, storing each unchanged,
    as scikit-learn requires of an estimator (``get_params``, ``clone`` and ``set_params`` read its signature).
    Checks wait for ``fit``."""
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [
        inspect.Parameter(decl.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=decl.default)
        for decl in declarations(params_cls)
    ]
    signature = inspect.Signature(parameters)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__doc__ = "Parameters: " + "; ".join(f"{d.name} ({d.help.rstrip('.')})" for d in declarations(params_cls))
    return __init__


def check_params(params_cls: type[SettingsT], params: Mapping[str, Any]) -> SettingsT:
    """Validate an estimator's parameters, accepting NumPy scalars where Python numbers are declared (scikit-learn's
    search tools pass them)."""
    plain = {name: value.item() if hasattr(value, "item") and getattr(value, "ndim", None) == 0 else value
             for name, value in params.items()}  # fmt: skip
    return params_cls(**plain)


__all__ = [
    "COMMANDS",
    "ClassifierParams",
    "ConfidenceSettings",
    "Declaration",
    "MnistSettings",
    "MoonsSettings",
    "SweepSettings",
    "as_dict",
    "check",
    "declarations",
    "load_preset",
    "resolve",
]
