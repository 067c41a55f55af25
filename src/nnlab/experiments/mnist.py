"""``nnlab mnist``: the lab's linear, fully connected and convolutional networks (the model table, models.py) trained
on an MNIST-format dataset and compared the lab's way (mnist.py).

Writes OUT/mnist/: a checkpoint per model as it finishes, learning curves, a confusion matrix per model and
metrics.json; an interrupted run keeps its finished models in OUT/mnist-partial/. A sweep trial trains one model.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nnlab import report
from nnlab.experiment import Experiment, Metric, Outcome, Section, SweepPlan
from nnlab.models import MODEL_NAMES, model_spec
from nnlab.settings import ConfidenceSettings, MnistSettings
from nnlab.tables import Column, Table

if TYPE_CHECKING:
    from nnlab.classifier import Progress
    from nnlab.datasets import Dataset
    from nnlab.files import OutputSet
    from nnlab.mnist import MnistResult, ModelResult
    from nnlab.outputs import Written
    from nnlab.schema import MnistMetrics, ModelMetrics

FOLDER, PARTIAL = "mnist", "mnist-partial"
_MODEL = "(" + "|".join(MODEL_NAMES) + ")"
OWNED = re.compile(rf"{_MODEL}\.pt|confusion_{_MODEL}\.png|learning_curves\.png|metrics\.json")


def command(settings: MnistSettings) -> None:
    """Train the lab's linear, fully connected and convolutional networks and compare them.

    Prints an accuracy table; writes checkpoints, learning curves, confusion matrices and metrics.json into
    OUT/mnist/.

    Example: nnlab mnist --epochs 5 --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist
    """
    from nnlab.progress import TrainingProgress
    from nnlab.running import finish, load_data, warn

    def saved(model: ModelResult, path: Path) -> None:
        if not settings.quiet:
            report.line(f"{model.name}: test accuracy {model.test_accuracy_all:.4f} in {model.fit_seconds:.1f} s")

    dataset = load_data(settings)
    with TrainingProgress(report.progress_enabled(settings.quiet)) as bar:
        result, written = write(settings, dataset, progress=bar.update, on_saved=saved)
    warn(result.warnings)
    report.table(table(written.metrics))
    for model in result.models.values():
        report.line(model.lab_line())
    finish(settings.out, written.files)


def write(
    settings: MnistSettings,
    dataset: Dataset,
    progress: Callable[[str, Progress], None] | None = None,
    on_saved: Callable[[ModelResult, Path], None] | None = None,
) -> tuple[MnistResult, Written[MnistMetrics]]:
    """Train and evaluate the models (mnist.run_mnist), saving each checkpoint as its model finishes; then write
    ``OUT/mnist/``: the checkpoints, learning curves, a confusion matrix per model and metrics.json.

    ``on_saved(model, path)`` is called after each checkpoint is saved. Interrupted (Ctrl-C, SIGTERM), the run
    keeps the finished models in ``OUT/mnist-partial/`` and raises :class:`~nnlab.errors.Stopped` saying so.
    """
    from nnlab import plots
    from nnlab.datasets import dataset_record
    from nnlab.declarations import as_dict
    from nnlab.errors import Stopped
    from nnlab.files import OutputSet
    from nnlab.mnist import run_mnist
    from nnlab.outputs import Written

    metadata = {"dataset": dataset_record(dataset, settings.train_size).data()}
    finished: dict[str, ModelResult] = {}
    started = time.perf_counter()
    log = TrainingLog.of_active_run(settings)
    with OutputSet(Path(settings.out) / FOLDER, OWNED.fullmatch) as outputs:

        def save_checkpoint(model: ModelResult) -> None:
            data = model.classifier.checkpoint_bytes(metadata)
            path = outputs.write_bytes(f"{model.name}.pt", lambda handle: handle.write(data))
            finished[model.name] = model
            if log is not None:
                log.model_done(model)
            if on_saved is not None:
                on_saved(model, path)

        try:
            result = run_mnist(
                settings, dataset, progress=log.watching(progress) if log else progress, on_model_done=save_checkpoint
            )
        except KeyboardInterrupt as interrupt:
            kept = _keep_finished(settings, dataset, finished, outputs, time.perf_counter() - started)
            raise Stopped.from_interrupt(interrupt, kept) from None
        histories = {name: model.classifier.history_ for name, model in result.models.items()}
        sizes = f"{dataset.name}: {result.train_size} training images, {settings.epochs} epochs"
        plots.learning_curves(histories, outputs.path("learning_curves.png"), title=sizes)
        titles = [
            f"{name} on {dataset.name}: test accuracy {model.test_accuracy_all:.4f}"
            for name, model in result.models.items()
        ]
        confusions = [outputs.path(f"confusion_{name}.png") for name in result.models]
        plots.confusion_matrices(
            [model.confusion for model in result.models.values()], dataset.classes, titles, confusions
        )
        if log is not None:
            log.confusion_matrices(dict(zip(result.models, confusions)))
        checkpoints = {name: str(outputs.final(f"{name}.pt")) for name in result.models}
        files = outputs.listing(last="metrics.json")
        metrics = record(result, as_dict(settings), checkpoints, files)
        outputs.write_json("metrics.json", metrics.data())
        return result, Written(metrics, outputs.commit(last="metrics.json"))


class TrainingLog:
    """TensorBoard (--tensorboard) for mnist, as the models train: a run sub-folder per model with the training
    loss and the learning rate every 20 steps (step: images seen), each epoch's loss, training and held-out
    accuracy (step: the epoch, as in metrics.json), the final accuracies, the confusion matrix, and the model's
    settings with its final metrics as an HParams session."""

    def __init__(self, run: Any, settings: MnistSettings | ConfidenceSettings) -> None:
        self.run = run
        self.settings = settings
        models = settings.models if isinstance(settings, MnistSettings) else (settings.model,)
        for model in models:
            run.writer(model)  # before training: importing the writer and opening its file take tens of ms

    @classmethod
    def of_active_run(cls, settings: MnistSettings | ConfidenceSettings) -> TrainingLog | None:
        from nnlab import tensorboard

        run = tensorboard.active()
        return None if run is None else cls(run, settings)

    def watching(self, progress: Callable[[str, Progress], None] | None) -> Callable[[str, Progress], None]:
        """``progress``, and this log."""

        def both(model: str, event: Progress) -> None:
            self.progress(model, event)
            if progress is not None:
                progress(model, event)

        return both

    def progress(self, model: str, event: Progress) -> None:
        writer = self.run.writer(model)
        if event.finished is None:
            step = (event.epoch - 1) * event.total + event.seen
            writer.add_scalar("train/loss", event.loss, step)
            writer.add_scalar("train/lr", event.lr, step)
            return
        for name in ("loss", "train_accuracy", "validation_accuracy", "images_per_second"):
            if event.finished.get(name) is not None:
                writer.add_scalar(f"epoch/{name}", event.finished[name], event.epoch)
        writer.flush()  # an epoch's numbers show at once, not after flush_secs

    def model_done(self, model: ModelResult) -> None:
        from nnlab import tensorboard

        writer = self.run.writer(model.name)
        final = {
            "final/train_accuracy": model.train_accuracy,
            "final/test_accuracy": model.test_accuracy,
            "final/test_accuracy_all": model.test_accuracy_all,
        }
        params = model.classifier.get_params() | {
            "lr": model.classifier.lr_,
            "batch_size": model.classifier.batch_size_,
        }
        tensorboard.add_session(writer, {"dataset": self.settings.dataset, **params}, final)
        writer.flush()

    def confusion_matrices(self, pictures: dict[str, Path]) -> None:
        from nnlab import tensorboard

        for name, picture in pictures.items():
            tensorboard.add_png(self.run.writer(name), "confusion_matrix", picture, self.settings.epochs)


def _keep_finished(
    settings: MnistSettings, dataset: Dataset, finished: dict[str, ModelResult], outputs: OutputSet, seconds: float
) -> str:
    """Move the finished models' checkpoints from ``outputs`` into ``OUT/mnist-partial/`` as a set of their own;
    returns what was kept, in words ('' when nothing was)."""
    from nnlab.declarations import as_dict
    from nnlab.files import OutputSet, signals_held
    from nnlab.mnist import mnist_result

    if not finished:
        return ""
    with signals_held(), OutputSet(Path(settings.out) / PARTIAL, OWNED.fullmatch) as partial:
        for name in finished:
            os.replace(outputs.take(f"{name}.pt"), partial.path(f"{name}.pt"))
        result = mnist_result(settings, dataset, finished, seconds)
        checkpoints = {name: str(partial.final(f"{name}.pt")) for name in finished}
        files = partial.listing(last="metrics.json")
        metrics = record(result, as_dict(settings), checkpoints, files, status="interrupted")
        partial.write_json("metrics.json", metrics.data())
        partial.commit(last="metrics.json")
        return f"kept the checkpoints of finished models in {partial.folder}: " + ", ".join(
            f"{name}.pt" for name in finished
        )


def model_record(model: ModelResult, checkpoint: str | None) -> ModelMetrics:
    """The record of one trained model."""
    from nnlab.schema import EpochRow, ModelMetrics

    classifier = model.classifier
    return ModelMetrics(
        train_accuracy=model.train_accuracy,
        test_accuracy=model.test_accuracy,
        test_accuracy_all=model.test_accuracy_all,
        fit_seconds=round(model.fit_seconds, 3),
        parameters=model.parameters,
        checkpoint=checkpoint,
        batch_size=classifier.batch_size_,
        lr=classifier.lr_,
        bf16=classifier.bf16_,
        freeze_first=classifier.freeze_first_,
        history=[EpochRow(**row) for row in classifier.history_],
    )


def record(
    result: MnistResult,
    config: dict[str, Any],
    checkpoints: dict[str, str],
    files: list[str],
    status: Literal["complete", "interrupted", "failed"] = "complete",
) -> MnistMetrics:
    """The record of an mnist run (metrics.json); ``checkpoints`` maps each model to where its checkpoint is."""
    from nnlab.datasets import dataset_record
    from nnlab.schema import EvalSizes, MnistMetrics

    return MnistMetrics(
        status=status,
        dataset=dataset_record(result.dataset, result.train_size),
        config=config,
        eval=EvalSizes(train=result.eval_train, test=result.eval_test),
        models={name: model_record(model, checkpoints.get(name)) for name, model in result.models.items()},
        files=files,
        seconds=round(result.seconds, 3),
    )


def table(metrics: MnistMetrics) -> Table:
    """Model, the lab's train/test accuracy, whole-test-set accuracy, parameters, fit seconds."""
    columns = (
        Column("model", "left"),
        Column(f"train acc (first {metrics.eval.train})"),
        Column(f"test acc (first {metrics.eval.test})"),
        Column(f"test acc (all {metrics.dataset.test_size})"),
        Column("parameters"),
        Column("fit s"),
    )
    rows = tuple(
        (
            name,
            f"{m.train_accuracy:.3f}",
            f"{m.test_accuracy:.3f}",
            f"{m.test_accuracy_all:.4f}",
            f"{m.parameters:,}",
            f"{m.fit_seconds:.1f}",
        )
        for name, m in metrics.models.items()
    )
    return Table(title=f"{metrics.dataset.name}: {metrics.config.get('epochs')} epochs", columns=columns, rows=rows)


def describe(relative: str) -> str | None:
    """What a file of OUT/mnist/ or OUT/mnist-partial/ is."""
    folder, _, name = relative.partition("/")
    if folder not in (FOLDER, PARTIAL):
        return None
    stem = Path(name).stem
    if name.endswith(".pt"):
        if folder == PARTIAL:
            return f"checkpoint of {stem}, finished by an interrupted nnlab mnist"
        return f"checkpoint of {stem}: weights, settings, history (load with NNClassifier.load)"
    if folder == PARTIAL:
        return "mnist: the models an interrupted run finished" if name == "metrics.json" else None
    if stem.startswith("confusion_") and name.endswith(".png"):
        return f"confusion matrix of {stem.removeprefix('confusion_')} on the whole test set"
    return {
        "learning_curves.png": "training loss and accuracy per epoch for every model",
        "metrics.json": "mnist: dataset, settings, accuracies, timings and per-epoch history of every model",
    }.get(name)


def _section(folder: str) -> Callable[[MnistMetrics, list[str]], str]:
    def render(metrics: MnistMetrics, files: list[str]) -> str:
        from nnlab.pages import figure, html_table, text

        dataset = metrics.dataset
        heading = "Linear, full and conv networks" if folder == FOLDER else "Models an interrupted run finished"
        parts = [
            f"<h2>{heading}</h2>",
            f"<p>{text(dataset.name)}: {dataset.train_size} training and "
            f"{dataset.test_size} test images ({text(dataset.source)}).</p>",
            html_table(table(metrics)),
        ]
        for name in ["learning_curves.png", *(f"confusion_{model}.png" for model in metrics.models)]:
            relative = f"{folder}/{name}"
            parts.append(figure(relative, files, describe(relative) or ""))
        return "".join(parts)

    return render


def trial_data(settings: Any) -> Any:
    """The dataset a trial with ``settings`` trains on, loaded once per process (the sweep's data hook)."""
    from nnlab.trials import worker_dataset

    return worker_dataset(settings)


def trial(settings: MnistSettings) -> Outcome:
    """One sweep trial: one model (``model=``) trained and measured as ``nnlab mnist`` does."""
    from nnlab.mnist import run_mnist
    from nnlab.trials import one_torch_thread, worker_dataset

    one_torch_thread()
    dataset = worker_dataset(settings)
    (model,) = run_mnist(settings, dataset).models.values()
    names = ("train_accuracy", "test_accuracy", "test_accuracy_all", "fit_seconds")
    return Outcome(
        {name: float(getattr(model, name)) for name in names}, source=dataset.source, data=dataset.fingerprint()
    )


def warm_up_torch() -> None:
    """Import torch and the classifier on a worker with one torch thread (each worker runs one trial at a time)."""
    from nnlab.trials import one_torch_thread

    one_torch_thread()
    import torch

    from nnlab import classifier  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first construction imports torch._dynamo


def _record_type() -> type:
    from nnlab.schema import MnistMetrics

    return MnistMetrics


EXPERIMENT = Experiment(
    name="mnist",
    order=20,
    settings=MnistSettings,
    command=command,
    metrics=(
        Metric("train_accuracy", "higher", 0.0, 1.0, help="accuracy on the first eval_size training images"),
        Metric("test_accuracy", "higher", 0.0, 1.0, help="accuracy on the first eval_size test images (the lab's)"),
        Metric("test_accuracy_all", "higher", 0.0, 1.0, main=True, help="accuracy on the whole test set"),
        Metric("fit_seconds", "lower", 0.0, None, help="training time"),
    ),
    trial=trial,
    sweep=SweepPlan(
        cost=lambda s: model_spec(s["models"][0]).cost * s["epochs"],
        aliases={"model": "models"},
        warm_up=warm_up_torch,
        data=trial_data,
    ),
    folders=(FOLDER, PARTIAL),
    describe=describe,
    sections=(
        Section(f"{FOLDER}/metrics.json", _record_type, _section(FOLDER)),
        Section(f"{PARTIAL}/metrics.json", _record_type, _section(PARTIAL)),
    ),
)
