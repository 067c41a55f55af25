"""The project's exception types.

Library code raises these with a message that names the input and suggests the fix, in the library's own terms:
a setting is named as a parameter (``lr``). A message is kept as parts, where :class:`Name` marks a setting, so that
the command line can show the same message with its flags instead (``--lr``); only ``cli.py`` does that, and only
it turns these exceptions into exit codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_UNSET: Any = object()


@dataclass(frozen=True)
class Name:
    """A setting named inside a message, optionally with a value (``fallback`` = False: ``--no-fallback``)."""

    setting: str
    value: Any = _UNSET

    def __str__(self) -> str:
        return self.setting if not self.has_value else f"{self.setting}={self.value!r}"

    @property
    def has_value(self) -> bool:
        return self.value is not _UNSET


Part = str | Name
NameRenderer = Callable[[Name], str]


class Message:
    """A message kept as parts, some of which name settings: a warning a result carries, or an error's text."""

    def __init__(self, *parts: Part) -> None:
        self.parts: tuple[Part, ...] = parts

    def render(self, name: NameRenderer = str) -> str:
        """The message, with each setting shown by ``name`` (by default as the parameter it is)."""
        return "".join(name(part) if isinstance(part, Name) else part for part in self.parts)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Message({self.render()!r})"


class NnlabError(Exception):
    """Base class of every foreseeable nnlab failure."""

    exit_code = 1

    def __init__(self, *parts: Part) -> None:
        self.message = Message(*parts)
        super().__init__(self.render())

    @property
    def parts(self) -> tuple[Part, ...]:
        return self.message.parts

    def render(self, name: NameRenderer = str) -> str:
        """The message, with each setting shown by ``name`` (by default as the parameter it is)."""
        return self.message.render(name)

    def __str__(self) -> str:
        return self.render()


class ConfigError(NnlabError):
    """A bad option value or preset file (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Preset:
    """Where a value came from when it came from a TOML preset: the file, its table and the key as written."""

    path: str
    section: str
    key: str


class SettingError(ConfigError, ValueError):
    """One setting's value is not allowed: ``lr must be a finite number > 0, not -1``.

    ``requirement`` says what the value must be (its parts may name other settings); ``preset`` says which file
    the value came from, None when it was passed directly; ``wrong_type`` that the value is not even of the
    setting's type. It is a ValueError too, as scikit-learn expects of an estimator's invalid parameter.
    """

    def __init__(
        self,
        setting: str,
        value: Any,
        requirement: tuple[Part, ...],
        *,
        preset: Preset | None = None,
        wrong_type: bool = False,
        across: bool = False,
    ) -> None:
        self.setting = setting
        self.value = value
        self.requirement = requirement
        self.preset = preset
        self.wrong_type = wrong_type
        self.across = across  # broken by a check across settings, not by the value alone
        super().__init__(*self._library_parts())

    def from_preset(self, preset: Preset | None) -> SettingError:
        """The same error, saying which preset file and key the value came from."""
        return SettingError(
            self.setting, self.value, self.requirement, preset=preset, wrong_type=self.wrong_type, across=self.across
        )

    def _library_parts(self) -> tuple[Part, ...]:
        where = f"{self.preset.path} [{self.preset.section}]: key '{self.preset.key}'" if self.preset else ""
        return (where or self.setting, " must be ", *self.requirement, ", not ", short_repr(self.value))


class DataError(NnlabError):
    """A dataset that is missing, unreachable or malformed."""


class CheckpointError(NnlabError):
    """A checkpoint that is missing, corrupt, or for another model or dataset."""


class OutputError(NnlabError):
    """An output folder or file that cannot be written, or that another run is writing."""


class ClusterError(NnlabError):
    """A Dask scheduler that cannot be reached, or a local cluster that cannot start."""


class SweepFailed(NnlabError):
    """Some trials of a sweep failed (the others are summarised)."""


class TrainingDiverged(NnlabError):
    """Training produced non-finite weights, or a loss far beyond that of a uniform guess."""


class Stopped(KeyboardInterrupt):
    """Ctrl-C, or SIGTERM (from ``kill``, ``timeout``, systemd, a cluster's scheduler) handled like it.

    ``kept`` says what the interrupted run kept (finished checkpoints, finished trials), for the one line the
    command line prints; empty when it kept nothing and every output is as it was.
    """

    def __init__(self, terminated: bool = False, kept: str = "") -> None:
        super().__init__("terminated" if terminated else "interrupted")
        self.terminated = terminated
        self.kept = kept

    @classmethod
    def from_interrupt(cls, interrupt: KeyboardInterrupt, kept: str = "") -> Stopped:
        """The same interruption (Ctrl-C or SIGTERM), now saying what was kept."""
        return cls(getattr(interrupt, "terminated", False), kept)


FIRST_LINE_LIMIT = 160  # characters of a foreign error's text that a one-line message quotes


def first_line(exc: BaseException, limit: int = FIRST_LINE_LIMIT) -> str:
    """The first line of an exception's text, cut to ``limit`` characters, or its type's name when it has none: how
    a one-line message quotes a failure it did not foresee."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a hostile value must not flood a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
