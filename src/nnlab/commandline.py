"""How the command line works: settings become options, failures become one line and an exit code.

Options are derived from the settings' declarations (settings.py): every setting ``name`` is the flag ``--name``
(``--no-name`` for a false boolean), with its help, default and allowed values (:func:`settings_command`). With
cli.py, this module is the only place that knows flags (:func:`flag`) and exit codes: 2 for bad options or presets,
1 for bad data, files or checkpoints and for failed training, 130 for Ctrl-C, 143 for SIGTERM (handled like Ctrl-C).
"""

from __future__ import annotations

import errno
import inspect
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer >= 0.22 vendors click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

from nnlab import report
from nnlab.declarations import Declaration, Settings, declarations
from nnlab.errors import Message, Name, NnlabError, SettingError, Stopped, short_repr
from nnlab.files import stop_signals_handled_by
from nnlab.presets import resolve

EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
# The order of the shared sections of --help; a command's own section (its settings class's panel) comes first, then
# any section of its own groups, then these.
SHARED_PANELS = ["Model", "Data", "Training", "Output", "Options"]


def panel_order(settings_cls: type[Settings]) -> Callable[[Declaration], int]:
    """Where each option's --help section comes: the command's own first, shared ones last, in their order."""

    def rank(decl: Declaration) -> int:
        if decl.panel == settings_cls.panel:
            return 0
        return 1 + (SHARED_PANELS.index(decl.panel) + 1 if decl.panel in SHARED_PANELS else 0)

    return rank


def flag(name: Name) -> str:
    """A setting as the command line spells it: ``lr`` is ``--lr``, ``fallback`` = False is ``--no-fallback``."""
    dashed = name.setting.replace("_", "-")
    if not name.has_value:
        return f"--{dashed}"
    if isinstance(name.value, bool):
        return f"--{dashed}" if name.value else f"--no-{dashed}"
    return f"--{dashed} {name.value}"


def _value_text(value: Any) -> str:
    return short_repr(",".join(map(str, value)) if isinstance(value, tuple) else value)


def message(exc: NnlabError) -> str:
    """The one line an error prints, with settings shown as flags."""
    if isinstance(exc, SettingError) and exc.preset is None:
        requirement = Message(*exc.requirement).render(flag)
        return f"{flag(Name(exc.setting))} {_value_text(exc.value)}: must be {requirement}"
    if isinstance(exc, SettingError):
        return "--config " + exc.render()
    return exc.render(flag)


# ------------------------------------------------------------------------------------------- the process


def _crash(exc: BaseException) -> NoReturn:
    """An unforeseen failure: a short message, the full traceback saved to a file."""
    with tempfile.NamedTemporaryFile("w", prefix="nnlab-crash-", suffix=".txt", delete=False, encoding="utf-8") as log:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=log)
    report.error(f"unexpected {type(exc).__name__}: {exc} (full traceback in {log.name}; please report it)")
    sys.exit(1)


def _stopped(exc: KeyboardInterrupt) -> int:
    """Say, in one line, that Ctrl-C or SIGTERM stopped the command and what it kept; returns the exit code."""
    terminated = getattr(exc, "terminated", False)
    kept = getattr(exc, "kept", "")
    report.error(f"{'terminated' if terminated else 'interrupted'}; {kept or 'no output was changed'}")
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _where_an_exception_is_lost(frame: FrameType | None) -> bool:
    """Inside an import (an extension module's initialisation can swallow the exception and leave a half-imported
    module) or a finalizer (``__del__``, a weakref callback: Python prints "Exception ignored" and goes on)."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith("<frozen importlib") or code.co_name == "__del__":
            return True
        if code.co_name == "__call__" and code.co_filename.endswith("weakref.py"):
            return True
        frame = frame.f_back
    return False


_signals_received: list[int] = []  # for a stop that typer caught and turned into a bare exit code 130


def _stop(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C and SIGTERM: raise Stopped, except where the exception would be lost (an import, a finalizer such
    as a Dask future's ``__del__``): then deliver the signal again just after."""
    _signals_received.append(signum)
    if _where_an_exception_is_lost(frame):
        retry = threading.Timer(0.05, os.kill, (os.getpid(), signum))
        retry.daemon = True
        retry.start()
        return
    raise Stopped(terminated=signum == signal.SIGTERM)


def _standard_streams_open() -> None:
    """A closed stdin, stdout or stderr (``nnlab moons >&-``) gets /dev/null, so that no file nnlab opens later
    takes its number and receives the output meant for it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)


class NnlabGroup(TyperGroup):
    """Runs the commands and turns every failure into one line on stderr and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        # Run from the console script (arguments from sys.argv), the process ends right after the command:
        # tearing down torch's modules and thread pools would add about half a second to every run.
        exit_now = not args and kwargs.get("args") is None
        if exit_now:
            _standard_streams_open()
        kwargs["standalone_mode"] = False
        try:
            with stop_signals_handled_by(_stop):  # Ctrl-C and SIGTERM stop the command the same way
                self._main_with_messages(*args, **kwargs)
        except SystemExit as finished:
            if not exit_now:
                raise
            code = finished.code if isinstance(finished.code, int) else (0 if finished.code is None else 1)
            report.flush()
            os._exit(code)

    def _main_with_messages(self, *args: Any, **kwargs: Any) -> NoReturn:
        try:
            code = super().main(*args, **kwargs)
        except click_exceptions.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click_exceptions.ClickException as exc:
            command = exc.ctx.command_path if getattr(exc, "ctx", None) else "nnlab"
            report.error(f"{exc.format_message()} (see '{command} --help')")
            sys.exit(exc.exit_code)
        except typer.Abort:
            report.error("aborted")
            sys.exit(1)
        except NnlabError as exc:
            report.error(message(exc))
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            sys.exit(_stopped(exc))
        except MemoryError:
            report.error("out of memory; choose smaller settings (sizes, batch size, hidden units)")
            sys.exit(1)
        except OSError as exc:  # a path too long, a device gone, a full disk...: name the file, not a traceback
            where = f"{exc.filename}: " if exc.filename else ""
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            report.error(f"{where}{'no space left on the device; free some space' if full else exc.strerror or exc}")
            sys.exit(1)
        except Exception as exc:
            _crash(exc)
        if code == EXIT_INTERRUPTED:  # typer turned a Ctrl-C outside the settings commands into exit code 130
            terminated = bool(_signals_received) and _signals_received[-1] == signal.SIGTERM
            sys.exit(_stopped(Stopped(terminated=terminated)))
        sys.exit(code if isinstance(code, int) else 0)


# ------------------------------------------------------------------------------- options from declarations


def _default_text(decl: Declaration) -> str:
    if decl.default_text is not None:
        return decl.default_text
    if decl.scalar is bool:
        return decl.name.replace("_", "-") if decl.default else "no-" + decl.name.replace("_", "-")
    if decl.is_list:
        return ",".join(map(str, decl.default))
    return str(decl.default)


def _help(decl: Declaration) -> str:
    from rich.markup import escape

    choices = f" One of: {', '.join(decl.choices)}." if decl.choices else ""
    listed = " Comma-separated." if decl.is_list else ""
    return escape(f"{decl.help}{choices}{listed} (default: {_default_text(decl)})")  # text, never markup


def _option(decl: Declaration) -> inspect.Parameter:
    dashed = decl.name.replace("_", "-")
    names = [f"--{dashed}/--no-{dashed}"] if decl.scalar is bool else [f"--{dashed}"]
    kind = str if decl.is_list else decl.scalar
    option = typer.Option(*names, help=_help(decl), rich_help_panel=decl.panel, show_default=False)
    return inspect.Parameter(
        decl.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind | None, option]
    )  # type: ignore[valid-type]


def _from_flag(decl: Declaration, value: Any) -> Any:
    """A flag's value as the setting takes it: lists are given comma-separated."""
    if value is None or not decl.is_list:
        return value
    parts = tuple(part.strip() for part in value.split(",") if part.strip())
    if decl.scalar is int:
        try:
            return tuple(int(part) for part in parts)
        except ValueError:
            raise SettingError(decl.name, value, ("comma-separated integers, e.g. 0,1,2,4,8",)) from None
    return parts


_CONFIG = inspect.Parameter(
    "config",
    inspect.Parameter.KEYWORD_ONLY,
    default=None,
    annotation=Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A TOML preset (see configs/); flags override it, it overrides defaults.",
            rich_help_panel="Output",
        ),
    ],
)
_WAIT = inspect.Parameter(
    "wait",
    inspect.Parameter.KEYWORD_ONLY,
    default=False,
    annotation=Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another nnlab run is writing into the same output folder, wait for it instead of stopping.",
            rich_help_panel="Output",
        ),
    ],
)


def waiting(holder: str) -> None:
    """Say that this run waits for another one (``--wait``)."""
    report.warning(f"waiting for {holder} to finish with this output folder")


def tensorboard_folder(name: str, given: dict[str, Any]) -> str:
    """Where a command's TensorBoard runs go in OUT/tensorboard/: its name, and for a sweep the command swept."""
    swept = given.get("command")
    return f"{name}/{swept}" if name == "sweep" and isinstance(swept, str) else name


def settings_command(
    app: typer.Typer,
    name: str,
    settings_cls: type[Settings],
    check: Callable[[Any, dict[str, Any]], object] | None = None,
    arguments: Sequence[inspect.Parameter] = (),
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``body`` as the command ``name`` of ``settings_cls`` in ``app``: ``arguments`` (typer
    Arguments), one option per declared setting, ``--config`` and ``--wait``. The command resolves the settings
    (flag > preset > default), runs ``check(settings, given)`` where ``given`` holds the arguments and the preset
    path (a bad input fails there, before anything is created), takes the lock on the output folder, and calls
    ``body(settings)``, or ``body(settings, checked)`` with what ``check`` returned. The body's docstring is the
    command's help."""
    decls = sorted(declarations(settings_cls), key=panel_order(settings_cls))

    def register(body: Callable[..., None]) -> Callable[..., None]:
        def command(**options: Any) -> None:
            from nnlab import tensorboard
            from nnlab.declarations import as_dict
            from nnlab.files import output_lock

            given = {decl.name: _from_flag(decl, options[decl.name]) for decl in decls}
            settings = resolve(name, settings_cls, options["config"], given)
            extra = {parameter.name: options[parameter.name] for parameter in arguments} | {"config": options["config"]}
            checked = check(settings, extra) if check is not None else None
            logged = getattr(settings, "tensorboard", False)
            if logged:
                tensorboard.require()
            try:
                with (
                    output_lock(Path(settings.out), f"nnlab {name}", options["wait"], on_wait=waiting),
                    tensorboard.recording(settings.out, tensorboard_folder(name, extra), as_dict(settings), logged),
                ):
                    body(settings) if check is None else body(settings, checked)
            except KeyboardInterrupt as exc:  # here, before typer turns it into a bare exit code
                sys.exit(_stopped(exc))

        parameters = [*arguments, *map(_option, decls), _CONFIG, _WAIT]
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__doc__ = body.__doc__
        command.__name__ = name
        app.command(name=name)(command)
        return body

    return register
