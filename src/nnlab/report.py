"""Terminal output (rich tables, warnings, errors) and the JSON results. Nothing here computes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from nnlab.moons import MoonsResult

console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    """One line on stderr: ``error: <message>``."""
    error_console.print(f"[bold red]error:[/] {message}", markup=True, emoji=False)


def print_warning(message: str) -> None:
    """A prominent warning on stderr."""
    error_console.print(f"[bold yellow]warning:[/] {message}", markup=True, emoji=False)


def moons_table(result: MoonsResult) -> Table:
    """Iteration, error and training accuracy at the snapshot iterations."""
    table = Table(title=f"two moons: {result.config.samples} samples, {result.config.hidden} hidden units")
    table.add_column("iteration", justify="right")
    table.add_column("error E", justify="right")
    table.add_column("accuracy", justify="right")
    for iteration in result.snapshots:
        row = result.history[iteration]
        table.add_row(str(iteration), f"{row['error']:.4f}", f"{row['accuracy']:.3f}")
    return table


def moons_metrics(result: MoonsResult, config: dict[str, Any]) -> dict[str, Any]:
    """The content of ``moons/metrics.json``."""
    return {
        "command": "moons",
        "config": config,
        "history": result.history,
        "files": result.files,
        "seconds": round(result.seconds, 4),
    }


def print_files(files: list[str], heading: str = "wrote") -> None:
    """List the files a command wrote."""
    console.print(f"{heading}:")
    for name in files:
        console.print(f"  {name}", markup=False)


def is_interactive() -> bool:
    return sys.stdout.isatty()


def relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
