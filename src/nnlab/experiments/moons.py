"""``nnlab moons``: the lab's two-layer ReLU network in NumPy (scratch.py, moons.py) on the two-moons data.

Writes OUT/moons/: a decision-boundary PNG per snapshot, all of them side by side, an optional animation and
metrics.json; a sweep trial reports the final error and accuracy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlab import report
from nnlab.experiment import Experiment, Metric, Outcome, Section, SweepPlan
from nnlab.settings import MoonsSettings
from nnlab.tables import Column, Table

if TYPE_CHECKING:
    from nnlab.moons import MoonsResult
    from nnlab.outputs import Written
    from nnlab.schema import MoonsMetrics

FOLDER = "moons"
OWNED = re.compile(r"iteration_\d+\.png|snapshots\.png|training\.gif|metrics\.json")
DESCRIPTIONS = {
    "snapshots.png": "decision boundary of the NumPy network at every snapshot iteration, side by side",
    "training.gif": "the boundary at every iteration, animated",
    "metrics.json": "moons: resolved settings, error and accuracy at every iteration",
}


def command(settings: MoonsSettings) -> None:
    """Train the lab's two-layer ReLU network (NumPy, backprop by hand) on two moons.

    Prints the error table and writes decision-boundary pictures and metrics.json into OUT/moons/.

    Example: nnlab moons --iters 32 --snapshots 0,4,32 --animate
    """
    from nnlab.moons import run_moons
    from nnlab.running import finish

    report.line(f"training: {settings.samples} points, {settings.hidden} hidden units, {settings.iters} iterations")
    written = write(settings, run_moons(settings))
    report.table(table(written.metrics))
    final = written.metrics.history[-1]
    report.line(f"final error {final.error:.4f}, accuracy {final.accuracy:.3f}")
    finish(settings.out, written.files)


def write(settings: MoonsSettings, result: MoonsResult) -> Written[MoonsMetrics]:
    """``OUT/moons/``: a PNG per snapshot, all of them side by side, the animation if asked for, metrics.json."""
    from nnlab import plots
    from nnlab.declarations import as_dict
    from nnlab.files import OutputSet
    from nnlab.outputs import Written

    with OutputSet(Path(settings.out) / FOLDER, OWNED.fullmatch) as outputs:
        tiles = [outputs.path(f"iteration_{i:03d}.png") for i in result.snapshots]
        plots.moons_pictures(result, result.snapshots, tiles, outputs.path("snapshots.png"))
        if settings.animate:
            plots.moons_animation(result, outputs.path("training.gif"))
        files = outputs.listing(last="metrics.json")
        metrics = record(result, as_dict(settings), files, result.seconds)
        log(metrics, dict(zip(result.snapshots, tiles)))
        outputs.write_json("metrics.json", metrics.data())
        return Written(metrics, outputs.commit(last="metrics.json"))


LOGGED_ITERATIONS = 1000  # what TensorBoard keeps of a chart by default; a scalar costs about 60 µs to write


def log(metrics: MoonsMetrics, pictures: dict[int, Path]) -> None:
    """TensorBoard (--tensorboard): the error and the accuracy at every iteration (at 1000 evenly spaced ones, the
    first and the last included, when there are more), the decision boundary at each snapshot, and the run's
    settings with its final numbers as an HParams session."""
    import numpy as np

    from nnlab import tensorboard

    run = tensorboard.active()
    if run is None:
        return
    writer = run.writer()
    shown = np.unique(np.linspace(0, len(metrics.history) - 1, LOGGED_ITERATIONS).round().astype(int))
    for row in (metrics.history[index] for index in shown):
        writer.add_scalar("error", row.error, row.iteration)
        writer.add_scalar("accuracy", row.accuracy, row.iteration)
    for iteration, picture in pictures.items():
        tensorboard.add_png(writer, "decision_boundary", picture, iteration)
    final = metrics.history[-1]
    tensorboard.add_session(writer, metrics.config, {"final/error": final.error, "final/accuracy": final.accuracy})


def record(result: MoonsResult, config: dict[str, Any], files: list[str], seconds: float) -> MoonsMetrics:
    """The record of a moons run (metrics.json)."""
    from nnlab.schema import MoonsMetrics, MoonsRow

    return MoonsMetrics(
        config=config,
        history=[MoonsRow(**row) for row in result.history],
        snapshots=list(result.snapshots),
        files=files,
        seconds=round(seconds, 4),
    )


def table(metrics: MoonsMetrics) -> Table:
    """Iteration, error and training accuracy at the snapshot iterations."""
    config = metrics.config
    drawn = set(metrics.snapshots)
    rows = tuple(
        (str(row.iteration), f"{row.error:.4f}", f"{row.accuracy:.3f}")
        for row in metrics.history
        if row.iteration in drawn
    )
    return Table(
        title=f"two moons: {config.get('samples')} samples, {config.get('hidden')} hidden units",
        columns=(Column("iteration"), Column("error E"), Column("accuracy")),
        rows=rows,
    )


def describe(relative: str) -> str | None:
    """What a file of OUT/moons/ is."""
    folder, _, name = relative.partition("/")
    if folder != FOLDER:
        return None
    found = re.fullmatch(r"iteration_(\d+)\.png", name)
    if found:
        return f"decision boundary at iteration {int(found[1])}: data, dashed zero contour, filled half-planes"
    return DESCRIPTIONS.get(name)


def section(metrics: MoonsMetrics, files: list[str]) -> str:
    """The moons part of index.html."""
    from nnlab.pages import figure, html_table, text

    first, final = metrics.history[0], metrics.history[-1]
    summary = (
        f"Error {first.error:.4f} → {final.error:.4f}, accuracy {final.accuracy:.3f} after {final.iteration} "
        "iterations."
    )
    return "".join(
        [
            f"<h2>Two moons (NumPy network)</h2><p>{text(summary)}</p>",
            html_table(table(metrics)),
            *(figure(f"{FOLDER}/{name}", files, DESCRIPTIONS[name]) for name in ("snapshots.png", "training.gif")),
        ]
    )


def trial(settings: MoonsSettings) -> Outcome:
    """One sweep trial: the final error and accuracy, and when the error first reached zero."""
    from nnlab.moons import run_moons

    result = run_moons(settings, draw=False)
    return Outcome(
        {
            "error": result.final["error"],
            "accuracy": result.final["accuracy"],
            "zero_error_iteration": result.zero_error_iteration,
        },
        source="make_moons",
        data="make_moons",
    )


def _warm_up() -> None:
    from nnlab import moons  # noqa: F401


def _record_type() -> type:
    from nnlab.schema import MoonsMetrics

    return MoonsMetrics


EXPERIMENT = Experiment(
    name="moons",
    order=10,
    settings=MoonsSettings,
    command=command,
    # Accuracy first: the lab's error has a degenerate minimum at y = 0 (hidden=1 reaches error 0.0002 at accuracy
    # 0.25 over 20 seeds), so a race on error would crown a network that learned nothing.
    metrics=(
        Metric("accuracy", "higher", 0.0, 1.0, main=True, help="training accuracy after the last iteration"),
        Metric("error", "lower", 0.0, None, main=True, help="the lab's error E = mean max(0, -y t)"),
        Metric("zero_error_iteration", "lower", 0.0, "iters", help="the first iteration with E = 0"),
    ),
    trial=trial,
    sweep=SweepPlan(
        cost=lambda s: float(s["iters"] + 1) * s["samples"] * s["hidden"],
        not_swept={"animate": "trials draw no pictures", "snapshots": "trials draw no pictures"},
        batched=True,
        worker_memory=200 << 20,  # measured: under 100 MB
        warm_up=_warm_up,
    ),
    folders=(FOLDER,),
    describe=describe,
    sections=(Section(f"{FOLDER}/metrics.json", _record_type, section),),
)
