"""TOML presets and the one precedence rule: a value given directly (a command-line flag) beats a value from a
preset file, which beats the built-in default (:func:`resolve`).

A preset holds one table per command (``[moons]``, ``[mnist]``, ``[sweep]``, ...: every registered experiment and
the sweep); every table is checked against its command's declarations, so a typo anywhere in the file is caught.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnlab import registry
from nnlab.declarations import Settings, SettingsT, as_setting_value, check, unknown_message
from nnlab.errors import ConfigError, Name, Preset
from nnlab.files import FileTooLargeError, NotAFileError, read_file
from nnlab.settings import SweepSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_PRESET_BYTES = 1 << 20  # a preset is a few lines; anything larger is not one


def sections() -> dict[str, type[Settings]]:
    """The tables a preset may hold: one per registered experiment, and the sweep's."""
    return {experiment.name: experiment.settings for experiment in registry.experiments()} | {"sweep": SweepSettings}


def _read_preset(path: Path) -> dict[str, Any]:
    where = Name("config")
    try:
        raw = read_file(path, MAX_PRESET_BYTES)
    except FileTooLargeError:
        raise ConfigError(
            where, f" {path}: larger than {MAX_PRESET_BYTES} bytes; a preset is a short TOML file"
        ) from None
    except NotAFileError as exc:
        raise ConfigError(where, f" {path}: {exc.strerror}; pass a TOML file") from None
    except FileNotFoundError:
        raise ConfigError(where, f" {path}: no such file; pass an existing TOML file (see configs/)") from None
    except OSError as exc:
        raise ConfigError(
            where, f" {path}: cannot read it ({exc.strerror or exc}); pass a readable TOML file"
        ) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(where, f" {path}: not UTF-8 text; pass a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f" {path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(where, f" {path}: values nested too deeply to be a preset") from None


def load_preset(path: Path, command: str) -> tuple[dict[str, Any], dict[str, Preset]]:
    """The values of the ``[command]`` table of a TOML preset, and where each came from.

    A table the preset lacks means "no values". Every table is checked against its command's declarations, so a
    typo anywhere in the file is caught: unknown tables, unknown keys, wrong types and values out of range raise
    ConfigError naming them.
    Keys may be written with dashes (``batch-size``) or underscores, but not both ways in one table.
    """
    document = _read_preset(Path(path))
    known = sections()
    where = (Name("config"), f" {path}")
    found: dict[str, tuple[dict[str, Any], dict[str, Preset]]] = {}
    for section, table in document.items():
        if section not in known:
            raise ConfigError(*where, ": " + unknown_message(f"unknown section '{section}'", section, list(known)))
        if not isinstance(table, dict):
            raise ConfigError(*where, f": '{section}' must be a table ([{section}]), not a value")
        settings_cls = known[section]
        values: dict[str, Any] = {}
        origins: dict[str, Preset] = {}
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in settings_cls.model_fields:
                message = unknown_message(f"unknown key '{key}'", key, list(settings_cls.model_fields))
                raise ConfigError(*where, f" [{section}]: {message}")
            if name in values:
                raise ConfigError(*where, f" [{section}]: both '{origins[name].key}' and '{key}' set {name}; keep one")
            values[name] = as_setting_value(value)
            origins[name] = Preset(str(path), section, key)
        check(settings_cls, values, origins, across=False)  # each value alone: the flags may yet change others
        found[section] = (values, origins)
    return found.get(command, ({}, {}))


def resolve(command: str, settings_cls: type[SettingsT], preset: Path | None, given: Mapping[str, Any]) -> SettingsT:
    """The settings of ``command``: each value ``given`` directly (None: not given) beats the preset's value, which
    beats the declared default. Raises ConfigError or SettingError naming the value's origin."""
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
