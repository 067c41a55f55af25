"""The nnlab commands: each resolves its settings, calls its experiment and its output function, and renders what
they return (the machinery that turns settings into options and failures into exit codes is in commandline.py).
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from nnlab import __version__, report
from nnlab.commandline import NnlabGroup, flag, settings_command, waiting
from nnlab.errors import ConfigError, Message, Name
from nnlab.settings import ConfidenceSettings, MnistSettings, MoonsSettings, SweepSettings

app = typer.Typer(
    cls=NnlabGroup,
    name="nnlab",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        report.line(f"nnlab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """A command-line experiment runner for a classic neural-network lab.

    Examples: nnlab moons --iters 32 · nnlab mnist --epochs 5 · nnlab confidence --top 24
    """


# -------------------------------------------------------------------------------------------- rendering


def _warn(messages: list[Message]) -> None:
    for warning in messages:
        report.warning(warning.render(flag))


def _finish(out: str, files: list[Path]) -> None:
    """Refresh the index page and list what the command wrote. The results are in place already: an index that
    cannot be written (a full disk) is a warning, not a failure of the command."""
    from nnlab.errors import OutputError
    from nnlab.outputs import index

    try:
        page, warnings = index(out)
    except OutputError as exc:
        page, warnings = None, [f"{exc.render(flag)}; the results are complete; run 'nnlab index' later"]
    for warning in warnings:
        report.warning(warning)
    report.files([*files, *([page] if page else [])])


def _load(settings: MnistSettings | ConfidenceSettings) -> Any:
    """The dataset the settings name, loaded while torch is imported and the device checked; says what it is."""
    from nnlab.data import load_while

    def check_device() -> None:
        from nnlab.classifier import resolve_device

        resolve_device(settings.device)

    dataset = load_while(settings.dataset, settings.data_dir, settings.fallback, check_device)
    _warn(dataset.warnings)
    report.line(f"data: {dataset.summary()}")
    return dataset


# --------------------------------------------------------------------------------------------- commands


@settings_command(app, MoonsSettings)
def moons(settings: MoonsSettings) -> None:
    """Train the lab's two-layer ReLU network (NumPy, backprop by hand) on two moons.

    Prints the error table and writes decision-boundary pictures and metrics.json into OUT/moons/.

    Example: nnlab moons --iters 32 --snapshots 0,4,32 --animate
    """
    from nnlab import outputs, tables
    from nnlab.moons import run_moons

    report.line(f"training: {settings.samples} points, {settings.hidden} hidden units, {settings.iters} iterations")
    written = outputs.moons(settings, run_moons(settings))
    report.table(tables.moons_table(written.metrics))
    final = written.metrics.history[-1]
    report.line(f"final error {final.error:.4f}, accuracy {final.accuracy:.3f}")
    _finish(settings.out, written.files)


@settings_command(app, MnistSettings)
def mnist(settings: MnistSettings) -> None:
    """Train the lab's linear, fully connected and convolutional networks and compare them.

    Prints an accuracy table; writes checkpoints, learning curves, confusion matrices and metrics.json into
    OUT/mnist/.

    Example: nnlab mnist --epochs 5 --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist
    """
    from nnlab import outputs, tables
    from nnlab.progress import TrainingProgress

    def saved(model: Any, path: Path) -> None:
        if not settings.quiet:
            report.line(f"{model.name}: test accuracy {model.test_accuracy_all:.4f} in {model.fit_seconds:.1f} s")

    dataset = _load(settings)
    with TrainingProgress(report.progress_enabled(settings.quiet)) as bar:
        result, written = outputs.mnist(settings, dataset, progress=bar.update, on_saved=saved)
    _warn(result.warnings)
    report.table(tables.mnist_table(written.metrics))
    for model in result.models.values():
        report.line(model.lab_line())
    _finish(settings.out, written.files)


def _checkpoint_to_use(settings: ConfidenceSettings, given: dict[str, Any]) -> Path | None:
    from nnlab.confidence import checkpoint_to_use

    return checkpoint_to_use(settings)


@settings_command(app, ConfidenceSettings, check=_checkpoint_to_use)
def confidence(settings: ConfidenceSettings, checkpoint: Path | None) -> None:
    """Find the test images the network is most and least sure of (log-domain softmax confidence).

    Uses OUT/mnist/MODEL.pt (or --checkpoint); with none, trains the model with the training options below and
    keeps it in OUT/confidence/. Prints a per-class table and the expected calibration error; writes image grids,
    calibration and per-class figures and confidence.json into OUT/confidence/.

    Example: nnlab confidence --top 24 --model conv
    """
    from nnlab import outputs, tables
    from nnlab.confidence import run_confidence
    from nnlab.progress import TrainingProgress

    dataset = _load(settings)
    if checkpoint is not None:
        report.line(f"model: {settings.model} from {checkpoint}")
    else:
        expected = Path(settings.out) / "mnist" / f"{settings.model}.pt"
        report.line(f"no checkpoint at {expected}: training {settings.model} ({settings.epochs} epochs, "
                    f"seed {settings.seed})")  # fmt: skip
    with TrainingProgress(report.progress_enabled(settings.quiet)) as bar:
        run = run_confidence(settings, dataset, checkpoint, progress=bar.update)
    _warn(run.warnings)
    written = outputs.confidence(settings, run)
    metrics = written.metrics
    report.table(tables.confidence_table(metrics))
    report.line(f"the {metrics.top} most confident: {tables.describe_classes(metrics.most_classes)}")
    report.line(f"the {metrics.top} least confident: {tables.describe_classes(metrics.least_classes)}")
    wrong = sum(1 for row in metrics.least if row.label != row.prediction)
    report.line(f"{wrong} of the {metrics.top} least confident are misclassified; ECE {metrics.ece:.4f}")
    if run.trained_now:
        report.line(f"saved {metrics.checkpoint} for next time")
    _finish(settings.out, written.files)


_SWEPT = inspect.Parameter(
    "command", inspect.Parameter.POSITIONAL_OR_KEYWORD,
    annotation=Annotated[str, typer.Argument(help="The command to sweep: moons, mnist or confidence.",
                                             metavar="COMMAND", show_default=False)],
)  # fmt: skip
_ASSIGNMENTS = inspect.Parameter(
    "assignments", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
    annotation=Annotated[list[str] | None, typer.Argument(
        metavar="KEY=VALUES...", show_default=False,
        help="A setting of the command, as in its preset table (lr, hidden, train_size, ...; model for mnist), and "
        "its values, comma-separated; integer keys take ranges like 0-9. Every combination is a trial. (default: "
        "seed=0-4)")],
)  # fmt: skip


def _plan(settings: SweepSettings, given: dict[str, Any]) -> Any:
    from nnlab.outputs import sweep_folder
    from nnlab.sweep import parse_grid, plan

    grid = parse_grid(given["command"], given["assignments"] or [], given["config"])
    return plan(grid, sweep_folder(settings.out, grid.command) / "trials", settings.fresh)


@settings_command(app, SweepSettings, check=_plan, arguments=[_SWEPT, _ASSIGNMENTS])
def sweep(settings: SweepSettings, plan: Any) -> None:
    """Run a command many times over seeds and settings, on a Dask cluster, and summarise: each group's mean with
    its 95% confidence interval, and paired comparisons of groups that differ in one key.

    Writes trials/ (one JSON file per trial, as it finishes), trials.csv, summary.json and summary.png into
    OUT/sweep/COMMAND/. Running the same sweep again resumes it; --scheduler runs it on any Dask cluster.

    Example: nnlab sweep mnist dataset=mnist-5k model=linear,full,conv seed=0-9 epochs=5
    """
    from nnlab import outputs, tables
    from nnlab.errors import SweepFailed
    from nnlab.progress import SweepProgress
    from nnlab.sweep import default_workers, summarise

    started = time.perf_counter()
    grid = plan.grid
    where = settings.scheduler or f"a local cluster of {settings.workers or default_workers()} workers"
    report.line(f"sweep of {grid.command}: {len(plan.trials)} trials; {len(plan.finished)} finished earlier, "
                f"running {len(plan.pending)} on {where}")  # fmt: skip
    with SweepProgress(report.progress_enabled(settings.quiet), len(plan.pending)) as bar:
        records = outputs.run_sweep(settings, plan, on_record=lambda record: bar.update(record.status))
    summary = summarise(grid, plan.trials, records, time.perf_counter() - started)
    written = outputs.sweep(settings, grid, summary, records)
    for group in written.metrics.groups:
        report.table(tables.sweep_group_table(written.metrics, group))
        if grid.command == "confidence":
            report.table(tables.sweep_digits_table(written.metrics, group))
    report.table(tables.sweep_comparisons_table(written.metrics))
    _finish(settings.out, written.files)
    failed = [record for record in records.values() if record.status == "failed"]
    if failed:
        raise SweepFailed(f"{len(failed)} of {len(plan.trials)} trials failed (the first: {failed[0].reason}); the "
                         f"others are summarised; see {written.files[0]}")  # fmt: skip


@app.command()
def index(
    out: Annotated[Path, typer.Option(help="Output folder. (default: outputs)")] = Path("outputs"),
    wait: Annotated[bool, typer.Option("--wait", help="Wait for another run writing into OUT.")] = False,
) -> None:
    """Rewrite OUT/index.html (every picture and table, openable in a browser) and list every output file.

    Example: nnlab index --out outputs
    """
    from nnlab.files import file_kind, output_lock, why_not
    from nnlab.index import describe, output_files

    kind = file_kind(out)
    if kind != "folder":
        raise ConfigError(Name("out"), f" {out}: {why_not(kind, 'folder')}; run nnlab moons, mnist or confidence first")
    with output_lock(out, "nnlab index", wait, on_wait=waiting):
        from nnlab.outputs import index as refresh

        page, warnings = refresh(out)
    for warning in warnings:
        report.warning(warning)
    report.listing((str(out / relative), describe(relative)) for relative in [*output_files(out), "index.html"])
    report.line(f"open {page.resolve().as_uri()} in a browser to see them all")


@app.command()
def info() -> None:
    """Versions, device, threads, and which datasets are available here (and whether a download is tried).

    Example: nnlab info
    """
    from nnlab import environment

    report.key_values(environment.title(), environment.describe())
