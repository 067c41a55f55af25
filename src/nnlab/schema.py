"""The JSON that nnlab writes and reads back, defined once: each command's metrics file, a checkpoint's header.

Every writer builds one of these records and every reader (the output folder's index, checkpoint loading, sweeps)
validates what it reads against the same record, so a hand-edited or damaged file is refused by name instead of
crashing whatever reads it. Builders (``*_metrics``) turn an experiment's result into its record.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from nnlab.confidence import ConfidenceRun
    from nnlab.data import Dataset
    from nnlab.mnist import MnistResult
    from nnlab.moons import MoonsResult


class Record(BaseModel):
    """A JSON object nnlab writes: fields it does not know are ignored (a newer version may add some)."""

    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, populate_by_name=True)

    def data(self) -> dict[str, Any]:
        """JSON-ready data, with the field names as written in the file."""
        return self.model_dump(mode="json", by_alias=True)


Fraction = float  # a number in [0, 1]
FRACTION = Field(ge=0, le=1)


class DatasetRecord(Record):
    """Which data a run used: its name, where it came from and the sizes actually used."""

    name: str
    source: str
    train_size: int = Field(ge=0)
    test_size: int = Field(ge=0)


# ------------------------------------------------------------------------------------------------- moons


class MoonsRow(Record):
    iteration: int = Field(ge=0)
    error: float
    accuracy: Fraction = FRACTION


class MoonsMetrics(Record):
    """``moons/metrics.json``."""

    command: Literal["moons"] = "moons"
    config: dict[str, Any]
    history: list[MoonsRow] = Field(min_length=1)  # iterations 0..iters
    snapshots: list[int] = Field(default_factory=list)  # the iterations drawn
    files: list[str] = Field(default_factory=list)
    seconds: float = Field(ge=0)


def moons_metrics(result: MoonsResult, config: dict[str, Any], files: list[str], seconds: float) -> MoonsMetrics:
    """The record of a moons run."""
    return MoonsMetrics(
        config=config,
        history=[MoonsRow(**row) for row in result.history],
        snapshots=list(result.snapshots),
        files=files,
        seconds=round(seconds, 4),
    )


# ------------------------------------------------------------------------------------------------- mnist


class EpochRow(Record):
    """One row of a classifier's training history."""

    epoch: int = Field(ge=1)
    loss: float
    train_accuracy: Fraction = FRACTION
    seconds: float = Field(ge=0)
    images_per_second: float = Field(ge=0)
    validation_accuracy: float | None = None


class ModelMetrics(Record):
    train_accuracy: Fraction = FRACTION  # on the first eval.train training images (the lab's protocol)
    test_accuracy: Fraction = FRACTION  # on the first eval.test test images (the lab's protocol)
    test_accuracy_all: Fraction = FRACTION  # on the whole test set
    fit_seconds: float = Field(ge=0)
    parameters: int = Field(ge=0)
    checkpoint: str | None = None
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    bf16: bool
    freeze_first: float
    history: list[EpochRow]


class EvalSizes(Record):
    """How many images each accuracy column of the mnist table was measured on."""

    train: int = Field(ge=0)
    test: int = Field(ge=0)


class MnistMetrics(Record):
    """``mnist/metrics.json`` (and ``mnist-partial/metrics.json`` for the models an interrupted run finished)."""

    command: Literal["mnist"] = "mnist"
    status: Literal["complete", "interrupted", "failed"] = "complete"
    dataset: DatasetRecord
    config: dict[str, Any]
    eval: EvalSizes
    models: dict[str, ModelMetrics]
    files: list[str] = Field(default_factory=list)
    seconds: float = Field(ge=0)


def model_metrics(model: Any, checkpoint: str | None) -> ModelMetrics:
    """The record of one trained model (an ``mnist.ModelResult``)."""
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


def mnist_metrics(
    result: MnistResult, config: dict[str, Any], checkpoints: dict[str, str], files: list[str],
    status: Literal["complete", "interrupted", "failed"] = "complete",
) -> MnistMetrics:  # fmt: skip
    """The record of an mnist run; ``checkpoints`` maps each model to where its checkpoint is."""
    return MnistMetrics(
        status=status,
        dataset=dataset_record(result.dataset, result.train_size),
        config=config,
        eval=EvalSizes(train=result.eval_train, test=result.eval_test),
        models={name: model_metrics(model, checkpoints.get(name)) for name, model in result.models.items()},
        files=files,
        seconds=round(result.seconds, 3),
    )


def dataset_record(dataset: Dataset, train_size: int | None = None) -> DatasetRecord:
    """Name, source and the sizes actually used."""
    available = len(dataset.train_labels)
    return DatasetRecord(
        name=dataset.name,
        source=dataset.source,
        train_size=available if train_size is None else min(train_size, available),
        test_size=len(dataset.test_labels),
    )


# --------------------------------------------------------------------------------------------- confidence


class RankedImage(Record):
    index: int = Field(ge=0)
    label: int = Field(ge=0)
    prediction: int = Field(ge=0)
    log_confidence: float = Field(le=0)
    probability: Fraction = FRACTION


class ClassRow(Record):
    class_index: int = Field(alias="class", ge=0)
    name: str
    count: int = Field(ge=0)
    accuracy: Fraction = FRACTION
    mean_confidence: Fraction = FRACTION
    in_most: int = Field(ge=0)
    in_least: int = Field(ge=0)


class CalibrationBin(Record):
    low: float
    high: float
    count: int = Field(ge=0)
    accuracy: Fraction = FRACTION
    confidence: Fraction = FRACTION


class ConfidenceMetrics(Record):
    """``confidence/confidence.json``."""

    command: Literal["confidence"] = "confidence"
    model: str
    checkpoint: str  # the checkpoint analysed (written by this run when it had to train the model)
    trained_now: bool = False
    dataset: DatasetRecord
    top: int = Field(ge=1)
    most: list[RankedImage]
    least: list[RankedImage]
    most_classes: dict[str, int]
    least_classes: dict[str, int]
    per_class: list[ClassRow]
    ece: Fraction = FRACTION
    calibration_bins: list[CalibrationBin]
    test_accuracy_all: Fraction = FRACTION
    files: list[str] = Field(default_factory=list)


def confidence_metrics(run: ConfidenceRun, checkpoint: str, files: list[str]) -> ConfidenceMetrics:
    """The record of a confidence analysis of the model in ``checkpoint``."""
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


# -------------------------------------------------------------------------------------------- checkpoints


class CheckpointMetadata(Record):
    """What a checkpoint records about how it was made, beside the weights."""

    dataset: DatasetRecord | None = None


class CheckpointHeader(Record):
    """Everything in a checkpoint but the weights (``params`` are checked against NNClassifier's declaration)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    format: Literal["nnlab-classifier"]
    version: Literal[1]
    params: dict[str, Any]
    classes: list[int] | list[float] | list[str] | list[bool] = Field(min_length=1, max_length=10)
    history: list[EpochRow]
    metadata: CheckpointMetadata


# ------------------------------------------------------------------------------------------------- sweeps


class TrialRecord(Record):
    """``sweep/<command>/trials/<trial>.json``: one trial of a sweep, written the moment it finishes."""

    trial: str
    command: Literal["moons", "mnist", "confidence"]
    settings: dict[str, Any]  # every setting of the trial, as the command resolved them
    swept: dict[str, Any]  # the swept keys and their values in this trial
    status: Literal["ok", "diverged", "failed"]
    reason: str = ""
    metrics: dict[str, float | None] = Field(default_factory=dict)
    seconds: float = Field(ge=0)
    worker: str = ""
    source: str = ""  # where the worker's data came from


class MetricSummary(Record):
    n: int = Field(ge=0)  # values behind the numbers (a metric can be missing: zero_error_iteration, never)
    mean: float | None
    std: float | None
    ci95: list[float] | None  # Student t interval of the mean; None below two values


class GroupSummary(Record):
    settings: dict[str, Any]  # the swept keys' values, the seed aside
    n: int = Field(ge=0)  # trials that finished ok: the statistics' sample
    trials: int = Field(ge=0)
    diverged: int = Field(ge=0)
    failed: int = Field(ge=0)
    metrics: dict[str, MetricSummary]


class ComparisonSummary(Record):
    key: str
    a: Any
    b: Any
    settings: dict[str, Any]  # the other swept keys, equal in both groups
    metric: str
    n_pairs: int = Field(ge=0)
    mean_difference: float | None  # a - b
    ci95: list[float] | None
    p_value: float | None
    test: Literal["paired t"] = "paired t"


class SweepSummary(Record):
    """``sweep/<command>/summary.json``."""

    command: Literal["moons", "mnist", "confidence"]
    keys: list[str]  # the swept keys, seed last
    metrics: list[str]
    main_metrics: list[str] = Field(default_factory=list)
    trials: list[str] = Field(default_factory=list)  # the ids of the trials summarised
    groups: list[GroupSummary]
    comparisons: list[ComparisonSummary]
    files: list[str] = Field(default_factory=list)
    seconds: float = Field(default=0.0, ge=0)


# ------------------------------------------------------------------------------------------------ reading


RecordT = TypeVar("RecordT", bound=Record)


def read_record(path: Path, record: type[RecordT], limit: int) -> tuple[RecordT | None, str | None]:
    """The ``record`` in the JSON file at ``path``, read as hostile input (at most ``limit`` bytes): (record, None),
    (None, None) when there is no such file, or (None, what is wrong with it)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: cannot read it ({exc.strerror})"
    if len(raw) > limit:
        return None, f"{path}: larger than {limit} bytes"
    try:
        return record.model_validate_json(raw), None
    except ValidationError as exc:
        return None, f"{path}: not a valid nnlab metrics file ({first_problem(exc)})"


def first_problem(error: ValidationError) -> str:
    """The first problem pydantic found, as 'field.sub: message'."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the whole file"
    return f"{where}: {first['msg'].lower()}"
