"""The JSON that nnlab writes and reads back, defined once: each command's metrics file, a checkpoint's header.

Every writer builds one of these records and every reader (the output folder's index, checkpoint loading, sweeps)
validates what it reads against the same record, so a hand-edited or damaged file is refused by name instead of
crashing whatever reads it. This module holds the records only: each experiment builds its own (experiments/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nnlab.files import FileTooLargeError, NotAFileError, read_file


class Record(BaseModel):
    """A JSON object nnlab writes: fields it does not know are ignored (a newer version may add some)."""

    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, populate_by_name=True, defer_build=True)

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


# -------------------------------------------------------------------------------------------- checkpoints


class CheckpointMetadata(Record):
    """What a checkpoint records about how it was made, beside the weights."""

    dataset: DatasetRecord | None = None


class CheckpointHeader(Record):
    """Everything in a checkpoint but the weights (``params`` are checked against NNClassifier's declaration)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, defer_build=True)
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
    command: str  # a registered experiment
    settings: dict[str, Any]  # every setting of the trial, as the command resolved them
    swept: dict[str, Any]  # the swept keys and their values in this trial
    status: Literal["ok", "diverged", "failed"]
    reason: str = ""
    metrics: dict[str, float | None] = Field(default_factory=dict)
    seconds: float = Field(ge=0)
    worker: str = ""
    source: str = ""  # where the worker's data came from
    data_identity: str = ""  # the identity of that data (name, sizes, checksum): a trial from other data is not reused


Interval = Literal["t", "bootstrap"]


class MetricDeclaration(Record):
    """A metric as its experiment declares it (experiment.Metric), kept with the summary so that every reader of
    it knows the metric's direction and range."""

    name: str
    direction: Literal["higher", "lower"] | None
    low: float | None
    high: float | None  # None: unbounded, or bounded by a setting that varies (then each group's own is used)
    main: bool
    in_group_table: bool = True


LowHigh = Annotated[list[float], Field(min_length=2, max_length=2)]  # (low, high)


class MetricSummary(Record):
    n: int = Field(ge=0)  # values behind the numbers (a metric can be missing: zero_error_iteration, never)
    mean: float | None
    std: float | None
    ci95: LowHigh | None  # the 95% interval of the mean (Student t or BCa bootstrap); None where there is none
    note: str = ""  # why there is no interval (n below the method's minimum), or that it passes the metric's range
    outside_range: bool = False  # the interval reaches past what the metric can take (never clipped)


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
    ci95: LowHigh | None
    p_value: float | None  # the paired t-test's, two-sided
    p_holm: float | None = None  # Holm-adjusted over the family: every comparison of this metric in the sweep
    family: int = Field(default=0, ge=0)  # comparisons in that family
    test: Literal["paired t"] = "paired t"
    note: str = ""


class RaceGroup(Record):
    settings: dict[str, Any]
    status: Literal["leader", "tied", "eliminated"]
    seeds: int = Field(ge=0)  # seeds it ran
    p_holm: float | None  # of its last comparison with the leader
    eliminated_after: int | None = None  # the seeds of the look that eliminated it
    mean: float | None = None  # of the raced metric, over the seeds of the last look it was in
    reason: str = ""


class RaceSummary(Record):
    metric: str
    alpha: float = Field(gt=0, le=0.5)
    min_seeds: int = Field(ge=2)
    looks: int = Field(ge=1)
    trials_run: int = Field(ge=0)
    grid_trials: int = Field(ge=0)
    groups: list[RaceGroup]


class PrecisionGroup(Record):
    settings: dict[str, Any]
    seeds: int = Field(ge=0)  # seeds it ran
    half_width: float | None  # of the metric's 95% interval over the seeds it needed
    reached: bool  # that half-width is at most the one asked for


class PrecisionSummary(Record):
    """``--until-ci``: seeds added to each group until its interval's half-width is at most ``half_width``."""

    metric: str
    half_width: float = Field(gt=0)
    interval: Interval
    min_seeds: int = Field(ge=2)
    trials_run: int = Field(ge=0)
    grid_trials: int = Field(ge=0)
    groups: list[PrecisionGroup]


class SweepSummary(Record):
    """``sweep/<command>/summary.json``."""

    command: str  # a registered experiment
    keys: list[str]  # the swept keys, seed last
    metrics: list[str]
    main_metrics: list[str] = Field(default_factory=list)
    declared: list[MetricDeclaration] = Field(default_factory=list)
    interval: Interval = "t"
    trials: list[str] = Field(default_factory=list)  # the ids of the trials summarised
    groups: list[GroupSummary]
    comparisons: list[ComparisonSummary]
    race: RaceSummary | None = None
    precision: PrecisionSummary | None = None
    files: list[str] = Field(default_factory=list)
    seconds: float = Field(default=0.0, ge=0)

    def declaration(self, metric: str) -> MetricDeclaration | None:
        return next((item for item in self.declared if item.name == metric), None)


# ------------------------------------------------------------------------------------------------ reading


RecordT = TypeVar("RecordT", bound=Record)


def read_record(path: Path, record: type[RecordT], limit: int) -> tuple[RecordT | None, str | None]:
    """The ``record`` in the JSON file at ``path``, read as hostile input (at most ``limit`` bytes): (record, None),
    (None, None) when there is no such file, or (None, what is wrong with it)."""
    try:
        raw = read_file(path, limit)
    except FileNotFoundError:
        return None, None
    except (NotAFileError, FileTooLargeError) as exc:
        return None, f"{path}: {exc.strerror}"
    except OSError as exc:
        return None, f"{path}: cannot read it ({exc.strerror})"
    try:
        return record.model_validate_json(raw), None
    except ValidationError as exc:
        return None, f"{path}: not a valid nnlab metrics file ({first_problem(exc)})"


def first_problem(error: ValidationError) -> str:
    """The first problem pydantic found, as 'field.sub: message'."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the whole file"
    return f"{where}: {first['msg'].lower()}"
