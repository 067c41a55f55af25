"""The nnlab commands: one per registered experiment (experiments/: each resolves its settings, runs, writes and
renders), plus ``sweep``, ``index`` and ``info``. The machinery that turns settings into options and failures into
exit codes is in commandline.py.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from nnlab import __version__, registry, report
from nnlab.commandline import NnlabGroup, settings_command, waiting
from nnlab.errors import ConfigError, Name
from nnlab.settings import SweepSettings


def _version(value: bool) -> None:
    if value:
        report.line(f"nnlab {__version__}")
        raise typer.Exit()


def main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """A command-line experiment runner for a classic neural-network lab.

    Examples: nnlab moons --iters 32 · nnlab mnist --epochs 5 · nnlab confidence --top 24
    """


def _swept(names: list[str]) -> inspect.Parameter:
    """The sweep's COMMAND argument, naming the registered experiments."""
    return inspect.Parameter(
        "command",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[
            str,
            typer.Argument(help=f"The command to sweep: {', '.join(names)}.", metavar="COMMAND", show_default=False),
        ],
    )


_ASSIGNMENTS = inspect.Parameter(
    "assignments",
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    default=None,
    annotation=Annotated[
        list[str] | None,
        typer.Argument(
            metavar="KEY=VALUES...",
            show_default=False,
            help="A setting of the command, as in its preset table (lr, hidden, train_size, ...; model for mnist), and "
            "its values, comma-separated; integer keys take ranges like 0-9. Every combination is a trial. (default: "
            "seed=0-4)",
        ),
    ],
)


def _grid(settings: SweepSettings, given: dict[str, Any]) -> Any:
    """The sweep's grid and how it spends its trials, checked before anything starts (the plan, which trials are
    finished, is made under the output folder's lock)."""
    from nnlab.sweep.adaptive import check_statistics
    from nnlab.sweep.grid import parse_grid

    grid = parse_grid(given["command"], given["assignments"] or [], given["config"])
    check_statistics(grid, settings)
    return grid


def sweep(settings: SweepSettings, grid: Any) -> None:
    """Run a command over seeds and settings on a Dask cluster, and compare the groups statistically.

    Summarises each group's mean with its 95% confidence interval, and compares groups that differ in one key with
    paired tests (Holm-corrected). --race stops giving seeds to groups shown worse than the leader; --until-ci W
    gives each group seeds until its interval is narrow enough. Writes trials/ (one JSON file per trial, as it
    finishes), trials.csv, summary.json and summary.png into OUT/sweep/COMMAND/. Running the same sweep again
    resumes it; --scheduler runs it on any Dask cluster.

    Example: nnlab sweep mnist dataset=mnist-5k model=conv lr=0.002,0.005,0.01,0.016,0.03,0.06 seed=0-9 --race
    """
    from nnlab import outputs, tables
    from nnlab.errors import SweepFailed
    from nnlab.progress import SweepProgress
    from nnlab.running import finish
    from nnlab.sweep.adaptive import schedule_of
    from nnlab.sweep.cluster import local_workers
    from nnlab.sweep.grid import plan
    from nnlab.sweep.summary import summarise

    started = time.perf_counter()
    workers, fewer = local_workers(settings.workers, grid.experiment.sweep.worker_memory)
    if fewer and settings.scheduler is None:
        asked = f"--workers {settings.workers}" if settings.workers else "one worker per core"
        report.warning(f"{asked}: {fewer}; starting {workers}")
    found = plan(grid, outputs.sweep_folder(settings.out, grid.command) / "trials", settings.fresh)
    schedule = schedule_of(grid, found.trials, settings, workers)
    for used in found.data:  # as a command says it: why a fallback, then what the data is
        for warning in used.warnings:
            report.warning(warning)
        report.line(f"data: {used.summary}")
    for warning in found.warnings:
        report.warning(warning)
    where = settings.scheduler or f"a local cluster of {tables.counted(workers, 'worker')}"
    report.line(
        f"sweep of {grid.command}: {tables.counted(len(found.trials), 'trial')}; "
        f"{len(found.finished)} finished earlier, "
        + (f"running up to {len(found.pending)}" if schedule else f"running {len(found.pending)}")
        + f" on {where}"
        + (f"; {schedule.describe()}" if schedule else "")
    )
    with SweepProgress(report.progress_enabled(settings.quiet), len(found.pending)) as bar:
        records = outputs.run_sweep(
            settings, found, workers, on_record=lambda record: bar.update(record.status), schedule=schedule
        )
    summary = summarise(
        grid,
        found.trials,
        records,
        time.perf_counter() - started,
        settings.interval,
        race=schedule.race_summary(records) if schedule else None,
        precision=schedule.precision_summary(records) if schedule else None,
    )
    written = outputs.sweep(settings, found, summary, records)
    extra_tables = grid.experiment.sweep.group_tables
    for group in written.metrics.groups:
        report.table(tables.sweep_group_table(written.metrics, group))
        for table in extra_tables(written.metrics, group) if extra_tables else ():
            report.table(table)
    if written.metrics.race is not None:
        report.table(tables.race_table(written.metrics))
    if written.metrics.precision is not None:
        report.table(tables.precision_table(written.metrics))
    report.table(tables.sweep_comparisons_table(written.metrics))
    finish(settings.out, written.files)
    failed = [record for record in records.values() if record.status == "failed"]
    if failed:
        raise SweepFailed(
            f"{len(failed)} of {len(records)} trials failed (the first: {failed[0].reason}); the "
            f"others are summarised; see {written.files[0]}"
        )


def index(
    out: Annotated[Path, typer.Option(help="Output folder. (default: outputs)", show_default=False)] = Path("outputs"),
    wait: Annotated[bool, typer.Option("--wait", help="Wait for another run writing into OUT.")] = False,
) -> None:
    """Rewrite OUT/index.html (every picture and table, openable in a browser) and list every output file.

    Example: nnlab index --out outputs
    """
    from nnlab import tables, tensorboard
    from nnlab.files import file_kind, output_lock, why_not
    from nnlab.index import describe, output_files

    kind = file_kind(out)
    if not kind.is_folder:
        commands = ", ".join(f"nnlab {name}" for name in registry.names())
        raise ConfigError(Name("out"), f" {out}: {why_not(kind, 'folder')}; run one of {commands} first")
    with output_lock(out, "nnlab index", wait, on_wait=waiting):
        from nnlab.index import write_index

        page, warnings = write_index(out)
    for warning in warnings:
        report.warning(warning)
    report.listing((str(out / relative), describe(relative)) for relative in [*output_files(out), "index.html"])
    report.line(f"open {page.resolve().as_uri()} in a browser to see them all")
    if runs := tensorboard.runs(out):
        report.line(f"TensorBoard: {tables.counted(len(runs), 'run')}; tensorboard --logdir {out / tensorboard.FOLDER}")


def info() -> None:
    """Versions, device, threads, and which datasets are available here (and whether a download is tried).

    Example: nnlab info
    """
    from nnlab import environment

    report.key_values(environment.title(), environment.describe())


def build_app() -> typer.Typer:
    """The nnlab command line: a command per registered experiment, in their order, then sweep, index and info."""
    built = typer.Typer(
        cls=NnlabGroup,
        name="nnlab",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
    built.callback()(main)
    for experiment in registry.experiments():
        settings_command(built, experiment.name, experiment.settings, check=experiment.check)(experiment.command)
    settings_command(built, "sweep", SweepSettings, check=_grid, arguments=[_swept(registry.names()), _ASSIGNMENTS])(
        sweep
    )
    built.command()(index)
    built.command()(info)
    for problem in registry.problems():
        report.warning(problem)
    return built


app = build_app()
