"""What each command writes into its output folder, as one consistent set.

Every command's files go into ``OUT/<command>/`` through a :class:`~nnlab.files.OutputSet`: written under
temporary names, then put in place together with the metrics file that describes them, which comes last. So
after success the metrics file describes exactly the files beside it, and after a failure, a full disk or a
signal the folder is as it was. ``nnlab mnist`` saves each checkpoint as its model finishes; if the run is
interrupted, the finished checkpoints become their own consistent set in ``OUT/mnist-partial/``. A sweep writes each
trial's record the moment it finishes (``OUT/sweep/<command>/trials/``, where later sweeps find it), and its summary
files as one set at the end.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from nnlab import schema
from nnlab.errors import Stopped
from nnlab.files import OutputSet, prepare_output_dir, signals_held, write_json_atomic
from nnlab.index import write_index
from nnlab.settings import MODEL_NAMES, ConfidenceSettings, MnistSettings, MoonsSettings, SweepSettings, as_dict

if TYPE_CHECKING:
    from nnlab.classifier import Progress
    from nnlab.confidence import ConfidenceRun
    from nnlab.data import Dataset
    from nnlab.mnist import MnistResult, ModelResult
    from nnlab.moons import MoonsResult
    from nnlab.sweep import Grid, Plan

# The names each command's sets consist of: earlier runs' files with these names are replaced or removed.
_MODEL = "(" + "|".join(MODEL_NAMES) + ")"
MOONS_FILES = re.compile(r"iteration_\d+\.png|snapshots\.png|training\.gif|metrics\.json")
MNIST_FILES = re.compile(rf"{_MODEL}\.pt|confusion_{_MODEL}\.png|learning_curves\.png|metrics\.json")
CONFIDENCE_FILES = re.compile(
    rf"most_confident\.png|least_confident\.png|calibration\.png|per_class\.png|confidence\.json|{_MODEL}\.pt"
)
SWEEP_FILES = re.compile(r"trials\.csv|summary\.json|summary\.png")

RecordT = TypeVar("RecordT", bound=schema.Record)


@dataclass
class Written(Generic[RecordT]):
    """What a command wrote: its metrics record and every file of the set (the metrics file last)."""

    metrics: RecordT
    files: list[Path]


def moons(settings: MoonsSettings, result: MoonsResult) -> Written[schema.MoonsMetrics]:
    """``OUT/moons/``: a PNG per snapshot, all of them side by side, the animation if asked for, metrics.json."""
    from nnlab import plots

    folder = Path(settings.out) / "moons"
    with OutputSet(folder, MOONS_FILES.fullmatch) as outputs:
        tiles = [outputs.path(f"iteration_{i:03d}.png") for i in result.snapshots]
        plots.moons_pictures(result, result.snapshots, tiles, outputs.path("snapshots.png"))
        if settings.animate:
            plots.moons_animation(result, outputs.path("training.gif"))
        files = outputs.listing(last="metrics.json")
        metrics = schema.moons_metrics(result, as_dict(settings), files, result.seconds)
        outputs.write_json("metrics.json", metrics.data())
        return Written(metrics, outputs.commit(last="metrics.json"))


def mnist(
    settings: MnistSettings,
    dataset: Dataset,
    progress: Callable[[str, Progress], None] | None = None,
    on_saved: Callable[[ModelResult, Path], None] | None = None,
) -> tuple[MnistResult, Written[schema.MnistMetrics]]:
    """Train and evaluate the models (mnist.run_mnist), saving each checkpoint as its model finishes; then write
    ``OUT/mnist/``: the checkpoints, learning curves, a confusion matrix per model and metrics.json.

    ``on_saved(model, path)`` is called after each checkpoint is saved. Interrupted (Ctrl-C, SIGTERM), the run
    keeps the finished models in ``OUT/mnist-partial/`` and raises :class:`~nnlab.errors.Stopped` saying so.
    """
    from nnlab import plots
    from nnlab.mnist import run_mnist

    folder = Path(settings.out) / "mnist"
    metadata = {"dataset": schema.dataset_record(dataset, settings.train_size).data()}
    finished: dict[str, ModelResult] = {}
    started = time.perf_counter()
    with OutputSet(folder, MNIST_FILES.fullmatch) as outputs:

        def save_checkpoint(model: ModelResult) -> None:
            data = model.classifier.checkpoint_bytes(metadata)
            path = outputs.write_bytes(f"{model.name}.pt", lambda handle: handle.write(data))
            finished[model.name] = model
            if on_saved is not None:
                on_saved(model, path)

        try:
            result = run_mnist(settings, dataset, progress=progress, on_model_done=save_checkpoint)
        except KeyboardInterrupt as interrupt:
            kept = _keep_finished(settings, dataset, finished, outputs, time.perf_counter() - started)
            raise Stopped.from_interrupt(interrupt, kept) from None
        histories = {name: model.classifier.history_ for name, model in result.models.items()}
        sizes = f"{dataset.name}: {result.train_size} training images, {settings.epochs} epochs"
        plots.learning_curves(histories, outputs.path("learning_curves.png"), title=sizes)
        titles = [f"{name} on {dataset.name}: test accuracy {model.test_accuracy_all:.4f}"
                  for name, model in result.models.items()]  # fmt: skip
        plots.confusion_matrices([model.confusion for model in result.models.values()], dataset.classes, titles,
                                 [outputs.path(f"confusion_{name}.png") for name in result.models])  # fmt: skip
        checkpoints = {name: str(outputs.final(f"{name}.pt")) for name in result.models}
        files = outputs.listing(last="metrics.json")
        metrics = schema.mnist_metrics(result, as_dict(settings), checkpoints, files)
        outputs.write_json("metrics.json", metrics.data())
        return result, Written(metrics, outputs.commit(last="metrics.json"))


def _keep_finished(settings: MnistSettings, dataset: Dataset, finished: dict[str, ModelResult], outputs: OutputSet,
                   seconds: float) -> str:  # fmt: skip
    """Move the finished models' checkpoints from ``outputs`` into ``OUT/mnist-partial/`` as a set of their own;
    returns what was kept, in words ('' when nothing was)."""
    from nnlab.mnist import mnist_result

    if not finished:
        return ""
    with signals_held(), OutputSet(Path(settings.out) / "mnist-partial", MNIST_FILES.fullmatch) as partial:
        for name in finished:
            os.replace(outputs.take(f"{name}.pt"), partial.path(f"{name}.pt"))
        result = mnist_result(settings, dataset, finished, seconds)
        checkpoints = {name: str(partial.final(f"{name}.pt")) for name in finished}
        files = partial.listing(last="metrics.json")
        metrics = schema.mnist_metrics(result, as_dict(settings), checkpoints, files, status="interrupted")
        partial.write_json("metrics.json", metrics.data())
        partial.commit(last="metrics.json")
        return f"kept the checkpoints of finished models in {partial.folder}: " + ", ".join(
            f"{name}.pt" for name in finished
        )


def confidence(settings: ConfidenceSettings, run: ConfidenceRun) -> Written[schema.ConfidenceMetrics]:
    """``OUT/confidence/``: the most and least confident images, calibration and per-class figures,
    confidence.json, and the checkpoint of a model this run had to train."""
    from nnlab import plots

    analysis = run.analysis
    folder = Path(settings.out) / "confidence"
    with OutputSet(folder, CONFIDENCE_FILES.fullmatch) as outputs:
        if run.checkpoint is None:
            metadata = {"dataset": schema.dataset_record(run.dataset).data()}
            data = run.classifier.checkpoint_bytes(metadata)
            checkpoint = outputs.write_bytes(f"{settings.model}.pt", lambda handle: handle.write(data))
        else:
            checkpoint = run.checkpoint
            if checkpoint.parent.resolve() == outputs.folder.resolve():  # trained by an earlier nnlab confidence
                outputs.keep(checkpoint.name)
        where = f"{analysis.model} on {analysis.dataset}"
        images = run.dataset.test_images
        plots.image_grid(analysis, images, analysis.most, outputs.path("most_confident.png"),
                         f"the {analysis.top} most confident test images ({where})")  # fmt: skip
        plots.image_grid(analysis, images, analysis.least, outputs.path("least_confident.png"),
                         f"the {analysis.top} least confident test images ({where})")  # fmt: skip
        plots.calibration_plot(analysis, outputs.path("calibration.png"))
        plots.per_class_plot(analysis, outputs.path("per_class.png"))
        files = outputs.listing(last="confidence.json")
        metrics = schema.confidence_metrics(run, str(checkpoint), files)
        outputs.write_json("confidence.json", metrics.data())
        return Written(metrics, outputs.commit(last="confidence.json"))


def sweep_folder(out: str | Path, command: str) -> Path:
    """Where a sweep of ``command`` writes: ``OUT/sweep/<command>/``."""
    return Path(out) / "sweep" / command


def run_sweep(settings: SweepSettings, plan: Plan, on_record: Callable[[schema.TrialRecord], None] | None = None
              ) -> dict[str, schema.TrialRecord]:  # fmt: skip
    """Run the plan's pending trials (sweep.run), writing ``trials/<trial>.json`` the moment each finishes; returns
    every trial's record. Interrupted, it raises Stopped saying how many trials are kept for the next run."""
    from nnlab.sweep import default_workers, run

    trials_folder = prepare_output_dir(sweep_folder(settings.out, plan.grid.command) / "trials")
    written = 0

    def keep(record: schema.TrialRecord) -> None:
        nonlocal written
        write_json_atomic(trials_folder / f"{record.trial}.json", record.data())
        written += 1
        if on_record is not None:
            on_record(record)

    try:
        return run(plan, settings.scheduler, settings.workers or default_workers(), keep, meanwhile=_prepare_summary)
    except KeyboardInterrupt as interrupt:
        kept = f"kept the {written} trials finished in {trials_folder}; run the same command again to resume"
        raise Stopped.from_interrupt(interrupt, kept if written else "") from None


def _prepare_summary() -> None:
    """Import what the summary needs (matplotlib, scipy) while the workers run the trials."""
    import scipy.special  # noqa: F401

    from nnlab import plots  # noqa: F401


def sweep(settings: SweepSettings, grid: Grid, summary: schema.SweepSummary, records: dict[str, schema.TrialRecord]
          ) -> Written[schema.SweepSummary]:  # fmt: skip
    """``OUT/sweep/<command>/``: trials.csv (a row per trial), summary.png, summary.json (every trial file stays in
    trials/, where later sweeps find it)."""
    from nnlab import plots

    folder = sweep_folder(settings.out, grid.command)
    ordered = [records[trial] for trial in summary.trials if trial in records]
    with OutputSet(folder, SWEEP_FILES.fullmatch) as outputs:
        text = trials_csv(grid, summary.metrics, ordered)
        outputs.write_bytes("trials.csv", lambda handle: handle.write(text.encode("utf-8")))
        plots.sweep_summary(summary, ordered, outputs.path("summary.png"))
        files = outputs.listing(last="summary.json")
        final = summary.model_copy(update={"files": files})
        outputs.write_json("summary.json", final.data())
        return Written(final, outputs.commit(last="summary.json"))


def trials_csv(grid: Grid, metrics: list[str], records: list[schema.TrialRecord]) -> str:
    """One row per trial: its id, every swept key, the seed, its status, each metric (empty where there is none),
    seconds, worker and reason: tidy data that pandas or a spreadsheet reads directly."""
    import csv
    import io

    keys = [*grid.group_keys, "seed"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", *keys, "status", *metrics, "seconds", "worker", "reason"])
    for rec in records:
        values = [rec.metrics.get(name) for name in metrics]
        writer.writerow([rec.trial, *(rec.swept.get(key) for key in keys), rec.status,
                         *("" if value is None else repr(value) for value in values), f"{rec.seconds:.3f}", rec.worker,
                         rec.reason])  # fmt: skip
    return buffer.getvalue()


def index(out: str | Path) -> tuple[Path, list[str]]:
    """Refresh ``OUT/index.html``; returns its path and warnings about metrics files it had to leave out."""
    return write_index(Path(out))
