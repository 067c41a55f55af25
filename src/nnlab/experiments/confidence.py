"""``nnlab confidence``: which test images a trained network is most and least sure of, in the log domain
(confidence.py), with per-class and calibration figures.

Writes OUT/confidence/: the most and least confident images as grids, calibration and per-class figures,
confidence.json, and the checkpoint of a model it had to train. A sweep trial reports the accuracy, the ECE and,
per digit, how many of the most and least confident images are that digit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlab import report
from nnlab.experiment import Experiment, Metric, Outcome, Section, SweepPlan
from nnlab.experiments.mnist import TrainingLog, trial_data, warm_up_torch
from nnlab.models import MODEL_NAMES, model_spec
from nnlab.settings import ConfidenceSettings
from nnlab.tables import Column, Table, plus_minus

if TYPE_CHECKING:
    from nnlab.confidence import ConfidenceRun
    from nnlab.outputs import Written
    from nnlab.schema import ConfidenceMetrics, GroupSummary, SweepSummary

FOLDER = "confidence"
OWNED = re.compile(
    r"most_confident\.png|least_confident\.png|calibration\.png|per_class\.png|confidence\.json|"
    rf"({'|'.join(MODEL_NAMES)})\.pt"
)
DIGITS = range(10)
FIGURES = {
    "most_confident.png": "the test images the network is most sure of",
    "least_confident.png": "the test images the network is least sure of",
    "calibration.png": "reliability diagram and confidence histogram, with the ECE",
    "per_class.png": "accuracy, mean confidence and extreme images per class",
}


def checkpoint(settings: ConfidenceSettings, given: dict[str, Any]) -> Path | None:
    """The checkpoint to analyse, found before the output folder is locked (a missing --checkpoint fails here)."""
    from nnlab.confidence import checkpoint_to_use

    return checkpoint_to_use(settings)


def command(settings: ConfidenceSettings, checkpoint: Path | None) -> None:
    """Find the test images the network is most and least sure of (log-domain softmax confidence).

    Uses OUT/mnist/MODEL.pt (or --checkpoint); with none, trains the model with the training options below and
    keeps it in OUT/confidence/. Prints a per-class table and the expected calibration error; writes image grids,
    calibration and per-class figures and confidence.json into OUT/confidence/.

    Example: nnlab confidence --top 24 --model conv
    """
    from nnlab.confidence import run_confidence
    from nnlab.progress import TrainingProgress
    from nnlab.running import finish, load_data, warn

    dataset = load_data(settings)
    if checkpoint is not None:
        report.line(f"model: {settings.model} from {checkpoint}")
    else:
        expected = Path(settings.out) / "mnist" / f"{settings.model}.pt"
        report.line(
            f"no checkpoint at {expected}: training {settings.model} ({settings.epochs} epochs, seed {settings.seed})"
        )
    log = TrainingLog.of_active_run(settings)
    with TrainingProgress(report.progress_enabled(settings.quiet)) as bar:
        run = run_confidence(settings, dataset, checkpoint, progress=log.watching(bar.update) if log else bar.update)
    warn(run.warnings)
    written = write(settings, run)
    metrics = written.metrics
    report.table(table(metrics))
    report.line(f"the {metrics.top} most confident: {describe_classes(metrics.most_classes)}")
    report.line(f"the {metrics.top} least confident: {describe_classes(metrics.least_classes)}")
    wrong = sum(1 for row in metrics.least if row.label != row.prediction)
    report.line(f"{wrong} of the {metrics.top} least confident are misclassified; ECE {metrics.ece:.4f}")
    if run.trained_now:
        report.line(f"saved {metrics.checkpoint} for next time")
    finish(settings.out, written.files)


def write(settings: ConfidenceSettings, run: ConfidenceRun) -> Written[ConfidenceMetrics]:
    """``OUT/confidence/``: the most and least confident images, calibration and per-class figures,
    confidence.json, and the checkpoint of a model this run had to train."""
    from nnlab import plots
    from nnlab.datasets import dataset_record
    from nnlab.files import OutputSet
    from nnlab.outputs import Written

    analysis = run.analysis
    with OutputSet(Path(settings.out) / FOLDER, OWNED.fullmatch) as outputs:
        if run.checkpoint is None:
            data = run.classifier.checkpoint_bytes({"dataset": dataset_record(run.dataset).data()})
            checkpoint = outputs.write_bytes(f"{settings.model}.pt", lambda handle: handle.write(data))
        else:
            checkpoint = run.checkpoint
            if checkpoint.parent.resolve() == outputs.folder.resolve():  # trained by an earlier nnlab confidence
                outputs.keep(checkpoint.name)
        where = f"{analysis.model} on {analysis.dataset}"
        images = run.dataset.test_images
        for kind, indices in (("most", analysis.most), ("least", analysis.least)):
            plots.image_grid(
                analysis,
                images,
                indices,
                outputs.path(f"{kind}_confident.png"),
                f"the {analysis.top} {kind} confident test images ({where})",
            )
        plots.calibration_plot(analysis, outputs.path("calibration.png"))
        plots.per_class_plot(analysis, outputs.path("per_class.png"))
        files = outputs.listing(last="confidence.json")
        metrics = record(run, str(checkpoint), files)
        log(settings, metrics, {name: outputs.staged(f"{name}.png") for name in PICTURES})
        outputs.write_json("confidence.json", metrics.data())
        return Written(metrics, outputs.commit(last="confidence.json"))


PICTURES = ("most_confident", "least_confident", "calibration", "per_class")


def log(settings: ConfidenceSettings, metrics: ConfidenceMetrics, pictures: dict[str, Path]) -> None:
    """TensorBoard (--tensorboard): the test accuracy and the ECE, the most and least confident grids, the
    reliability diagram and the per-class figure, and the analysis's settings as an HParams session (a model this
    run trained logs its training as nnlab mnist does, in the same run)."""
    from nnlab import tensorboard
    from nnlab.declarations import as_dict

    run = tensorboard.active()
    if run is None:
        return
    writer = run.writer()
    for name, picture in pictures.items():
        tensorboard.add_png(writer, name, picture, 0)
    measured = {"test_accuracy_all": metrics.test_accuracy_all, "ece": metrics.ece}
    tensorboard.add_session(writer, as_dict(settings) | {"checkpoint": metrics.checkpoint}, measured)


def record(run: ConfidenceRun, checkpoint: str, files: list[str]) -> ConfidenceMetrics:
    """The record of a confidence analysis of the model in ``checkpoint`` (confidence.json)."""
    from nnlab.datasets import dataset_record
    from nnlab.schema import CalibrationBin, ClassRow, ConfidenceMetrics, RankedImage

    result = run.analysis
    return ConfidenceMetrics(
        model=result.model,
        checkpoint=checkpoint,
        trained_now=run.trained_now,
        dataset=dataset_record(run.dataset),
        top=result.top,
        most=[RankedImage(**row) for row in result.rows(result.most)],
        least=[RankedImage(**row) for row in result.rows(result.least)],
        most_classes=dict(result.class_counts(result.most)),
        least_classes=dict(result.class_counts(result.least)),
        per_class=[ClassRow(**row) for row in result.per_class],
        ece=result.ece,
        calibration_bins=[CalibrationBin(**row) for row in result.bins],
        test_accuracy_all=result.accuracy,
        files=files,
    )


def table(metrics: ConfidenceMetrics) -> Table:
    """Per class: count, accuracy, mean confidence, and how many are among the most/least confident."""
    columns = (
        Column("class", "left"),
        Column("count"),
        Column("accuracy"),
        Column("mean confidence"),
        Column(f"in top {metrics.top}"),
        Column(f"in bottom {metrics.top}"),
    )
    rows = tuple(
        (
            row.name,
            str(row.count),
            f"{row.accuracy:.3f}",
            f"{row.mean_confidence:.4f}",
            str(row.in_most),
            str(row.in_least),
        )
        for row in metrics.per_class
    )
    title = f"{metrics.model} on {metrics.dataset.name}: confidence per class (ECE {metrics.ece:.4f})"
    return Table(title=title, columns=columns, rows=rows)


def describe_classes(counts: dict[str, int]) -> str:
    """'all 24 are '1'' or '20 × '1', 3 × '7', 1 × '0''."""
    if len(counts) == 1:
        ((name, n),) = counts.items()
        return f"all {n} are {name!r}"
    return ", ".join(f"{n} × {name!r}" for name, n in counts.items())


def describe(relative: str) -> str | None:
    """What a file of OUT/confidence/ is."""
    folder, _, name = relative.partition("/")
    if folder != FOLDER:
        return None
    if name.endswith(".pt"):
        return f"checkpoint of {Path(name).stem}, trained by nnlab confidence when there was none"
    if name == "confidence.json":
        return "confidence: ranked images, per-class table, calibration bins"
    return FIGURES.get(name)


def section(metrics: ConfidenceMetrics, files: list[str]) -> str:
    """The confidence part of index.html."""
    from nnlab.pages import figure, html_table, text

    most = describe_classes(metrics.most_classes)
    return "".join(
        [
            f"<h2>Confidence of the {text(metrics.model)} network</h2>",
            f"<p>Expected calibration error {metrics.ece:.4f}. Classes of the {metrics.top} most confident test "
            f"images: {text(most)}.</p>",
            html_table(table(metrics)),
            *(figure(f"{FOLDER}/{name}", files, caption) for name, caption in FIGURES.items()),
        ]
    )


def trial(settings: ConfidenceSettings) -> Outcome:
    """One sweep trial: train the model, analyse it, count the digits among the most and least confident."""
    from nnlab.confidence import run_confidence
    from nnlab.trials import one_torch_thread, worker_dataset

    one_torch_thread()
    dataset = worker_dataset(settings)
    analysis = run_confidence(settings, dataset, checkpoint=None).analysis
    metrics: dict[str, float | None] = {"test_accuracy_all": analysis.accuracy, "ece": analysis.ece}
    for kind, indices in (("top", analysis.most), ("bottom", analysis.least)):
        counts = analysis.per_digit_counts(indices)
        metrics |= {f"{kind}_{d}": float(counts[d]) if d < len(counts) else 0.0 for d in DIGITS}
    return Outcome(metrics, source=dataset.source, data=dataset.fingerprint())


def digits_table(summary: SweepSummary, group: GroupSummary) -> Sequence[Table]:
    """The lab's question for one group of a sweep: how many of the most and least confident test images are
    each digit, as a mean over seeds with its interval."""
    from nnlab.tables import group_label, varied_keys

    rows = []
    for digit in DIGITS:
        top, bottom = group.metrics[f"top_{digit}"], group.metrics[f"bottom_{digit}"]
        rows.append((str(digit), plus_minus(top), plus_minus(bottom)))
    label = group_label(group.settings, varied_keys(summary))
    return [
        Table(
            title=f"{label}: digits among the most and least confident test images (mean over seeds)",
            columns=(Column("digit", "left"), Column("among the most confident"), Column("among the least confident")),
            rows=tuple(rows),
        )
    ]


def digits_panel(ax: Any, summary: SweepSummary, varied: list[str]) -> None:
    """summary.png's extra row: per digit, the most (solid) and least (dashed) confident counts of each group."""
    from nnlab.plots import count_panel

    count_panel(
        ax,
        summary,
        varied,
        [(f"top_{d}", f"bottom_{d}") for d in DIGITS],
        "digit (true class)",
        "images of that digit",
        "how many of the most (solid) and least (dashed) confident test images are "
        "each digit: mean over seeds and 95% interval",
    )


def _record_type() -> type:
    from nnlab.schema import ConfidenceMetrics

    return ConfidenceMetrics


EXPERIMENT = Experiment(
    name="confidence",
    order=30,
    settings=ConfidenceSettings,
    command=command,
    check=checkpoint,
    metrics=(
        Metric("test_accuracy_all", "higher", 0.0, 1.0, main=True, help="accuracy on the whole test set"),
        Metric("ece", "lower", 0.0, 1.0, main=True, help="expected calibration error"),
        *(
            Metric(f"{kind}_{d}", None, 0.0, "top", in_group_table=False, help=f"digit {d} among the {kind} images")
            for kind in ("top", "bottom")
            for d in DIGITS
        ),
    ),
    trial=trial,
    sweep=SweepPlan(
        cost=lambda s: model_spec(s["model"]).cost * s["epochs"],
        not_swept={"checkpoint": "each trial trains its own model"},
        warm_up=warm_up_torch,
        data=trial_data,
        group_tables=digits_table,
        figure_panel=digits_panel,
    ),
    folders=(FOLDER,),
    describe=describe,
    sections=(Section(f"{FOLDER}/confidence.json", _record_type, section),),
)
