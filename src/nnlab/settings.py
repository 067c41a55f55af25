"""Every built-in setting of nnlab, declared once: name, type, default, allowed values and help.

A command's settings are a pydantic model composed of the groups below; each field is one setting. Everything else
derives from these declarations (declarations.py reads them back): the command-line options and their ``--help``,
the keys of TOML presets and their checks (presets.py), NNClassifier's parameters, and the keys of ``nnlab sweep``.
An experiment of the lab names its settings class in its module (experiments/); a new one may declare its own
there, built from these groups. Defaults that belong to a network (learning rate, freezing) are in its row of the
model table (models.py).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from nnlab.declarations import PathText, Settings, Unmet, setting
from nnlab.errors import Name
from nnlab.models import MODEL_NAMES, MODELS, ModelName, OptimizerName
from nnlab.schema import Interval

DatasetName = Literal["mnist", "fashion-mnist", "kmnist", "mnist-5k"]
ScheduleName = Literal["onecycle", "constant"]
PrecisionName = Literal["auto", "fp32", "bf16"]
DeviceName = Literal["auto", "cpu", "cuda", "mps"]

MAX_SEED = 2**32 - 1  # NumPy's RandomState, which the moons data uses, takes seeds below 2**32


# --------------------------------------------------------------------------------------------- groups


class OutputSettings(Settings):
    panel: ClassVar[str] = "Output"
    out: PathText = setting("outputs", "Output folder.")
    tensorboard: bool = setting(
        False,
        "Also write TensorBoard event files, live, into OUT/tensorboard/ (a folder per run; needs nnlab[tensorboard]).",
    )


class ProgressSettings(Settings):
    panel: ClassVar[str] = "Output"
    quiet: bool = setting(False, "No progress bars.")


class DataSettings(Settings):
    panel: ClassVar[str] = "Data"
    dataset: DatasetName = setting("mnist", "The data set; mnist-5k is the 5000 digits bundled offline.")
    data_dir: PathText | None = setting(
        None,
        "A folder with the four IDX files (raw or .gz), or where downloads go.",
        default_text="$NNLAB_DATA_DIR, else ~/.cache/nnlab",
    )
    # Without a local copy and without network, "mnist" falls back to the bundled 5000-digit subset.
    fallback: bool = setting(True, "Use the bundled mnist-5k subset when MNIST can be neither found nor downloaded.")


class DeviceSettings(Settings):
    panel: ClassVar[str] = "Training"
    device: DeviceName = setting("auto", "Where torch computes; auto picks cuda, then mps, then cpu.")


class TrainingSettings(DeviceSettings):
    """How a network is trained: NNClassifier's parameters apart from the model."""

    epochs: int = setting(5, "Training epochs per model.", ge=1, le=1000)
    # None: a power of two between 32 and 512 giving about 100 steps per epoch (512 for 60000 images).
    batch_size: int | None = setting(
        None, "Minibatch size.", default_text="32..512 by data size; 32 for 4000 images, 512 for 60000", ge=1, le=65536
    )
    optimizer: OptimizerName = setting("adam", "The optimizer.")
    lr: float | None = setting(
        None,
        "Peak learning rate for every model.",
        default_text="tuned per model: " + ", ".join(f"{m} {spec.lr['adam']}" for m, spec in MODELS.items()),
        gt=0,
        le=1e9,
    )
    momentum: float = setting(0.9, "SGD momentum.", ge=0, lt=1)
    weight_decay: float = setting(0.0, "Weight decay.", ge=0, le=1)
    label_smoothing: float = setting(0.0, "Cross-entropy label smoothing (0: none).", ge=0, lt=1)
    schedule: ScheduleName = setting("onecycle", "Learning-rate schedule.")
    shuffle: bool = setting(True, "Reshuffle the training data every epoch.")
    # auto: bfloat16 autocast for the models whose row says so, where the hardware has bf16 units (AMX or
    # AVX-512 BF16, recent GPU).
    precision: PrecisionName = setting(
        "auto",
        "Training precision; auto is bf16 for "
        + " and ".join(m for m, spec in MODELS.items() if spec.bf16)
        + " on CPUs with AMX or AVX-512 BF16, and GPUs.",
    )
    freeze_first: float | None = setting(
        None,
        "Freeze the first layer after this fraction of training (1: never).",
        default_text="per model: " + ", ".join(f"{m} {spec.freeze_first:g}" for m, spec in MODELS.items()),
        ge=0,
        le=1,
    )
    seed: int = setting(0, "Seed of weights and shuffling.", ge=0, le=MAX_SEED)


class ModelSetting(Settings):
    panel: ClassVar[str] = "Model"
    model: ModelName = setting("conv", "The network.")


class ClassifierParams(ModelSetting, TrainingSettings):
    """NNClassifier's parameters."""


# ------------------------------------------------------------------------------------------- commands


def _distinct(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(set(values)) != len(values):
        raise ValueError("a list without repeats")
    return values


class MoonsSettings(OutputSettings):
    """Settings of ``nnlab moons``."""

    panel: ClassVar[str] = "Moons"
    iters: int = setting(32, "Gradient-descent iterations.", ge=0, le=1_000_000)
    # The hinge-like error E = mean max(0, -y t) has gradients of size ~1/N per sample; 1.0 moves the boundary
    # visibly each iteration yet stays stable, reaching zero error in the lab's 32 iterations.
    lr: float = setting(1.0, "Learning rate.", gt=0, le=1e9)
    hidden: int = setting(50, "Hidden ReLU units.", ge=1, le=100_000)
    samples: int = setting(100, "Points in the data set.", ge=2, le=1_000_000)
    noise: float = setting(0.0, "Standard deviation of noise on the moons.", ge=0, le=10)
    seed: int = setting(0, "Seed of the data and the weights.", ge=0, le=MAX_SEED)
    # None: iteration 0, the powers of two below ``iters``, and ``iters`` itself (0,1,2,4,8,16,32 for 32).
    snapshots: tuple[Annotated[int, Field(ge=0)], ...] | None = setting(
        None,
        "Iterations to draw.",
        default_text="0, the powers of two below iters, and iters",
        min_length=1,
        max_length=32,
    )
    animate: bool = setting(False, "Also write training.gif with the boundary at every iteration.")

    MAX_ANIMATED_ITERS: ClassVar[int] = 1000  # every frame is kept in memory until the GIF is written

    @model_validator(mode="after")
    def _snapshots_within_iters(self) -> MoonsSettings:
        for snapshot in self.snapshots or ():
            if snapshot > self.iters:
                raise Unmet("snapshots", snapshot, "iterations between 0 and ", Name("iters"), f" ({self.iters})")
        if self.animate and self.iters > self.MAX_ANIMATED_ITERS:
            raise Unmet("iters", self.iters, f"at most {self.MAX_ANIMATED_ITERS} with ", Name("animate", True))
        return self

    def snapshot_iterations(self) -> tuple[int, ...]:
        """The iterations to draw, sorted and without repeats."""
        if self.snapshots is not None:
            return tuple(sorted(set(self.snapshots)))
        chosen = {0, self.iters}
        power = 1
        while power < self.iters:
            chosen.add(power)
            power *= 2
        return tuple(sorted(chosen))


class MnistSettings(ProgressSettings, OutputSettings, TrainingSettings, DataSettings):
    """Settings of ``nnlab mnist`` (the improved defaults; configs/sheet.toml holds the original recipe)."""

    panel: ClassVar[str] = "Experiment"
    models: Annotated[tuple[ModelName, ...], AfterValidator(_distinct)] = setting(
        MODEL_NAMES, "Models to train.", min_length=1
    )
    train_size: int | None = setting(
        None, "Train on the first N training images.", default_text="all", ge=1, le=10_000_000
    )
    eval_size: int = setting(
        2500, "Accuracy on the first N training and test images (the lab's protocol).", ge=1, le=10_000_000
    )

    def classifier_params(self, model: str) -> dict[str, Any]:
        """The NNClassifier parameters these settings give ``model``."""
        return {name: getattr(self, name) for name in ClassifierParams.model_fields if name != "model"} | {
            "model": model
        }


class ConfidenceSettings(ProgressSettings, OutputSettings, TrainingSettings, DataSettings, ModelSetting):
    """Settings of ``nnlab confidence``; the training settings apply when there is no checkpoint yet."""

    panel: ClassVar[str] = "Confidence"
    top: int = setting(24, "How many most and least confident images.", ge=1, le=500)
    # None: OUT/mnist/MODEL.pt, else OUT/confidence/MODEL.pt, else the model is trained now.
    checkpoint: PathText | None = setting(
        None,
        "A checkpoint written by 'nnlab mnist'.",
        default_text="OUT/mnist/MODEL.pt, else one trained now with the mnist defaults",
    )

    def classifier_params(self) -> dict[str, Any]:
        """The NNClassifier parameters of the model to train when there is no checkpoint."""
        return {name: getattr(self, name) for name in ClassifierParams.model_fields}


MAX_WORKERS = 1024


class StatisticsSettings(Settings):
    """How a sweep summarises and how it spends its trials: the interval, racing, adaptive precision."""

    panel: ClassVar[str] = "Statistics"
    interval: Interval = setting(
        "t", "The 95% interval of means and differences: Student t, or the BCa bootstrap (scipy.stats.bootstrap)."
    )
    race: bool = setting(
        False, "Race the groups over the seeds: stop giving seeds to groups shown worse than the leader."
    )
    min_seeds: int = setting(3, "Seeds every group runs before a race or --until-ci first looks.", ge=2, le=10_000)
    alpha: float = setting(
        0.05, "A race's family-wise error: the chance it eliminates a group that is not worse.", gt=0, le=0.5
    )
    race_metric: str | None = setting(
        None,
        "The metric a race compares (its direction comes from its declaration).",
        default_text="the command's first main metric",
    )
    until_ci: float | None = setting(
        None,
        "Give each group more seeds from the list until the race metric's 95% half-width is at most this.",
        default_text="off: every seed",
        gt=0,
        le=1e12,
    )

    @model_validator(mode="after")
    def _race_or_until_ci(self) -> StatisticsSettings:
        if self.race and self.until_ci is not None:
            raise Unmet("until_ci", self.until_ci, "left out with ", Name("race", True), " (choose one of the two)")
        return self


PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"  # 1-65535
SCHEDULER_ADDRESS = rf"^(?:(?:tcp|tls|ws|wss)://)?[^\s/]+:{PORT}$"  # the protocols a Dask client speaks as installed


class SweepSettings(StatisticsSettings, ProgressSettings, OutputSettings):
    """Settings of ``nnlab sweep`` itself (the swept command's settings are its KEY=VALUES)."""

    panel: ClassVar[str] = "Sweep"
    workers: int | None = setting(
        None,
        "Worker processes of the local cluster; each runs one trial at a time with one torch thread.",
        default_text="the CPU cores",
        ge=1,
        le=MAX_WORKERS,
    )
    scheduler: Annotated[str, Field(pattern=SCHEDULER_ADDRESS, max_length=500)] | None = setting(
        None,
        "Address of a running Dask scheduler (tcp://host:8786) to run the trials on, instead of a local cluster.",
        default_text="a local cluster on this machine",
        requirement="a Dask scheduler address like tcp://host:8786 (tcp, tls, ws or wss; a port from 1 to 65535)",
    )
    fresh: bool = setting(False, "Run every trial again, ignoring the finished ones.")


__all__ = ["ClassifierParams", "ConfidenceSettings", "MnistSettings", "MoonsSettings", "SweepSettings"]
