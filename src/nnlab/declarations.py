"""The machinery behind the declarations of settings.py: the base class, ``setting()``, reading a declaration back
(:func:`declarations`: type, bounds, choices, help, panel), describing what a value must be, and checking values.

A value that breaks a declaration raises :class:`~nnlab.errors.SettingError` naming the setting, the value and what
it must be; an unknown name raises ConfigError with a did-you-mean.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from nnlab.errors import ConfigError, Part, Preset, SettingError

MAX_PATH_BYTES = 4096  # PATH_MAX on Linux


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
        words = [
            f"{op} {_number(decl.bounds[key])}"
            for key, op in zip(_BOUNDS, (">=", ">", "<=", "<"))
            if key in decl.bounds
        ]
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
        return ConfigError(unknown_message(f"unknown setting '{name}'", name, list(settings_cls.model_fields)))
    return _to_setting_error(settings_cls, errors[0], values)


def check(
    settings_cls: type[SettingsT],
    values: Mapping[str, Any],
    presets: Mapping[str, Preset] | None = None,
    across: bool = True,
) -> SettingsT | None:
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


def as_setting_value(value: Any) -> Any:
    """A value read from TOML or JSON as a setting takes it: arrays become tuples, the type list settings hold."""
    return tuple(value) if isinstance(value, list) else value


def as_dict(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready data (tuples become lists)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in settings.model_dump().items()}


def check_params(params_cls: type[SettingsT], params: Mapping[str, Any]) -> SettingsT:
    """Validate an estimator's parameters, accepting NumPy scalars where Python numbers are declared (scikit-learn's
    search tools pass them)."""
    plain = {
        name: value.item() if hasattr(value, "item") and getattr(value, "ndim", None) == 0 else value
        for name, value in params.items()
    }
    return params_cls(**plain)


def unknown_message(what: str, name: str, known: list[str]) -> str:
    """'unknown key 'lrr'; did you mean 'lr'?', or the known names where none is close."""
    close = difflib.get_close_matches(name, known, n=1)
    return f"{what}; " + (f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}")
