"""Terminal output: tables, lines, warnings and errors. Nothing here computes or writes files.

Text that comes from outside (paths, dataset names, messages that quote a value) is never read as rich markup:
everything is printed as plain :class:`rich.text.Text`, styled only by this module. Output to a closed pipe or a
closed stdout (``nnlab mnist | head -1``) falls silent instead of failing: the command finishes its work.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from nnlab.tables import Table


class QuietWhenGone(io.TextIOBase):
    """A text stream that forwards to ``stream()`` (looked up at every write, so tests can swap sys.stdout) until
    that stream fails because the reader has gone or it was closed; from then on what it is given is dropped, for
    as long as ``stream()`` is that same stream."""

    def __init__(self, stream: Callable[[], IO[str] | None]) -> None:
        self._stream = stream
        self._failed: object | None = None  # the stream that failed

    @property
    def gone(self) -> bool:
        return self._target() is None

    def _target(self) -> IO[str] | None:
        target = self._stream()
        if target is None or getattr(target, "closed", False) or target is self._failed:
            return None
        return target

    def _fail(self, target: object) -> None:
        self._failed = target

    def write(self, text: str) -> int:
        target = self._target()
        if target is not None:
            try:
                target.write(text)
            except (OSError, ValueError):  # a broken pipe, a closed file
                self._fail(target)
        return len(text)

    def flush(self) -> None:
        target = self._target()
        if target is not None:
            try:
                target.flush()
            except (OSError, ValueError):
                self._fail(target)

    def isatty(self) -> bool:
        target = self._target()
        try:
            return bool(target is not None and target.isatty())
        except (OSError, ValueError):
            return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target(), "encoding", None) or "utf-8"


stdout = QuietWhenGone(lambda: sys.stdout)
stderr = QuietWhenGone(lambda: sys.stderr)
console = Console(file=stdout, highlight=False, soft_wrap=True, emoji=False, markup=False)
error_console = Console(file=stderr, highlight=False, soft_wrap=True, emoji=False, markup=False)


def line(text: str, style: str | None = None) -> None:
    """One line of plain text on stdout."""
    console.print(Text(text, style=style or ""))


def error(message: str) -> None:
    """One line on stderr: ``error: <message>``."""
    error_console.print(Text.assemble(("error:", "bold red"), " ", message))


def warning(message: str) -> None:
    """A prominent warning on stderr."""
    error_console.print(Text.assemble(("warning:", "bold yellow"), " ", message))


def _columns_now() -> None:
    """Rich reads $COLUMNS once, when the console is made; a table follows the value in force when it is printed."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        console.width = int(columns)


def table(data: Table) -> None:
    """Print a :class:`~nnlab.tables.Table`; one without rows is only its note (which says why it has none)."""
    _columns_now()
    if not data.rows and data.note:
        line(data.note, "dim")
        return
    rich_table = RichTable(title=Text(data.title))
    for column in data.columns:
        rich_table.add_column(Text(column.header), justify=column.align)
    for row in data.rows:
        rich_table.add_row(*(Text(cell) for cell in row))
    console.print(rich_table)
    if data.note:
        line(data.note, "dim")


def files(paths: Iterable[str | Path], heading: str = "wrote") -> None:
    """List the files a command wrote."""
    line(f"{heading}:")
    for path in paths:
        line(f"  {path}")


def listing(rows: Iterable[tuple[str, str]]) -> None:
    """Two columns: a path and, dimmed, what it is."""
    for path, what in rows:
        console.print(Text.assemble(f"  {path}  ", (what, "dim")))


def key_values(title: str, rows: Iterable[tuple[str, str]]) -> None:
    """A two-column table without header (``nnlab info``)."""
    rich_table = RichTable(title=Text(title), show_header=False)
    rich_table.add_column(style="bold")
    rich_table.add_column()
    for key, value in rows:
        rich_table.add_row(Text(key), Text(value))
    console.print(rich_table)


def flush() -> None:
    """Flush stdout and stderr, quietly if the reader is gone."""
    stdout.flush()
    stderr.flush()


def progress_enabled(quiet: bool) -> bool:
    """Progress bars only on a terminal, and not when asked to be quiet."""
    return not quiet and console.is_terminal
