"""NNClassifier: the lab's torch networks behind a scikit-learn estimator (fit, predict, score, save, load).

Its parameters are the declared settings ``ClassifierParams`` (settings.py): the constructor takes exactly those and
stores them unchanged, so ``sklearn.base.clone``, ``cross_val_score`` and ``GridSearchCV`` work, and ``fit`` checks
them against the same declarations as the command line does. Training data lives in one tensor on the device and
minibatches are slices of it: no per-sample Dataset/DataLoader path. ``fit`` is four named steps, as in skorch:
:meth:`~NNClassifier._prepare`, :meth:`~NNClassifier._run_epoch`, :meth:`~NNClassifier._train_step` and the
history row it returns.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from nnlab import checkpoints
from nnlab.declarations import check_params
from nnlab.devices import memory_format, resolve_device, trains_in_bf16
from nnlab.errors import Name, TrainingDiverged
from nnlab.models import model_spec
from nnlab.networks import IMAGE_SHAPE, OUTPUTS, build_model
from nnlab.settings import ClassifierParams

# Inference batch: large enough to amortise per-call costs, small enough that the conv net's activations stay in
# cache (twice as fast on the CPU as 4096).
PREDICT_BATCH = 1024
# An epoch whose mean loss exceeds this many times the loss of a uniform guess (log K) has diverged, even when the
# numbers are still finite: such a model predicts no better than chance.
DIVERGED_LOSS_FACTOR = 10.0
# A model that learned nothing: right on its own training images no more often than answering the most common
# class would be, beyond a one-sided 0.001 margin (so that luck never flags an ordinary run), and a last epoch's
# mean loss not below this share of log K (a uniform guess's loss; a model that learned is far below it).
NOTHING_LEARNED_Z = 3.09
NOTHING_LEARNED_LOSS = 0.9


def learned_nothing(
    model: str, accuracy: float, labels: np.ndarray, last_loss: float, class_count: int, lr: float
) -> TrainingDiverged | None:
    """The error for a model that ended no better than chance on its own training data (``accuracy`` on the
    training images whose labels are ``labels``), with a last epoch's loss still near log K; None if it learned."""
    n = len(labels)
    if n == 0 or class_count < 2:
        return None
    majority = float(np.bincount(np.asarray(labels, dtype=np.int64)).max() / n)
    margin = NOTHING_LEARNED_Z * math.sqrt(majority * (1 - majority) / n)
    uniform = math.log(class_count)
    if accuracy > majority + margin or last_loss < NOTHING_LEARNED_LOSS * uniform:
        return None
    return TrainingDiverged(
        f"the {model} model learned nothing: it is right on {accuracy:.1%} of its training images, no better than "
        f"always answering the most common class ({majority:.1%}), and its loss stayed at {last_loss:.3g} (a "
        f"uniform guess: {uniform:.3g}); try a smaller ",
        Name("lr"),
        f" (it was {lr:g}) or more ",
        Name("epochs"),
    )


@dataclass
class Progress:
    """What a training step reports to the caller, who decides whether and how to show it."""

    epoch: int  # 1-based
    epochs: int
    seen: int  # images of this epoch processed so far
    total: int  # images per epoch
    loss: float  # mean loss over this epoch so far
    lr: float = 0.0  # the learning rate of the last step
    finished: dict[str, float] | None = None  # the epoch's history row, once it is complete (held-out accuracy too)


def auto_batch_size(n: int) -> int:
    """A power of two giving about 100 or more steps per epoch, between 32 and 512: small data sets get
    enough updates in few epochs (32 for 4000 images), large ones the throughput of big batches (512 for
    60000)."""
    return int(min(512, max(32, 2 ** math.floor(math.log2(max(n, 1) / 100)))))


def one_cycle(step: int, total: int, warmup: float = 0.25, div: float = 25.0, final_div: float = 1e4) -> float:
    """The one-cycle schedule's learning rate at ``step`` of ``total``, as a fraction of the peak.

    It rises along a cosine from ``1/div`` to 1 over the first ``warmup`` of training and falls along a cosine to
    ``1/(div*final_div)`` by the last step: torch's OneCycleLR, also for the few steps where that divides by zero.
    """
    if total <= 1:
        return 1.0
    peak = max(warmup * total - 1, 0.0)
    if step <= peak and peak > 0:
        start, end, fraction = 1 / div, 1.0, step / peak
    else:
        start, end, fraction = 1.0, 1 / (div * final_div), (step - peak) / (total - 1 - peak)
    return end + (start - end) / 2.0 * (math.cos(math.pi * min(fraction, 1.0)) + 1)


@dataclass(frozen=True)
class PreparedImages:
    """Validated images kept compact: uint8 pixels 0..255 (or float32 values 0..1), (N, 1, 28, 28).

    Minibatches are scaled to [-1, 1] as they are used (:meth:`scaled`), which costs nothing measurable per
    batch and avoids converting, and holding, a float32 copy of the whole data set.
    """

    raw: torch.Tensor

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: slice) -> PreparedImages:
        return PreparedImages(self.raw[index])

    def to(self, device: torch.device) -> PreparedImages:
        return PreparedImages(self.raw.to(device))

    def scaled(self, index: slice = slice(None)) -> torch.Tensor:
        """The images at ``index`` as float32 in [-1, 1]."""
        batch = self.raw[index].to(torch.float32)
        scale = 2.0 / 255.0 if self.raw.dtype == torch.uint8 else 2.0
        return batch.mul_(scale).sub_(1.0)


def prepare_images(X: Any) -> PreparedImages:
    """Validate images once: uint8 0..255 or finite floats 0..1, shaped (N,28,28), (N,1,28,28) or (N,784).

    Refused as scikit-learn refuses them, with its messages: sparse, complex or empty input, NaN or infinity,
    negative values; then anything that is not 28x28 images.
    """
    if isinstance(X, PreparedImages):
        return X
    from sklearn.utils.validation import check_array, check_non_negative

    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    array = check_array(X, accept_sparse=False, dtype="numeric", allow_nd=True, ensure_all_finite=True)
    if array.dtype == np.bool_:
        raise ValueError(f"X has dtype {array.dtype}; expected uint8 pixels 0..255 or floats 0..1")
    check_non_negative(array, "NNClassifier (pixels must be uint8 0..255 or floats 0..1)")
    if array.ndim == 2 and array.shape[1] == 784:
        array = array.reshape(-1, *IMAGE_SHAPE)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"X has shape {array.shape}; expected (N, 28, 28), (N, 1, 28, 28) or (N, 784)")
    if array.dtype == np.uint8:
        raw = torch.tensor(array)  # a copy: the loader's arrays are read-only views of the files
    else:
        values = array.astype(np.float32)
        if values.size and values.max() > 1.0:
            raise ValueError("float X must lie in [0, 1] (or pass uint8 pixels 0..255)")
        raw = torch.from_numpy(values)
    return PreparedImages(raw.unsqueeze(1))  # (N, 1, 28, 28)


def _labels(y: Any) -> np.ndarray:
    """``y`` as a 1-d array of class labels, refused as scikit-learn refuses it (None, NaN, continuous)."""
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import column_or_1d

    if y is None:
        raise ValueError("requires y to be passed, but the target y is None")
    labels = column_or_1d(y, warn=True)  # (n, 1) is flattened with a DataConversionWarning
    check_classification_targets(labels)  # NaN, infinity and continuous floats raise ValueError here
    return labels


def _first_layer(module: nn.Sequential) -> nn.Module:
    return next(layer for layer in module if any(True for _ in layer.parameters()))


@dataclass
class _Training:
    """Everything one run of ``fit`` works with, made by :meth:`NNClassifier._prepare`."""

    device: torch.device
    images: PreparedImages  # (N, 1, 28, 28) on the device
    targets: torch.Tensor  # (N,) class indices on the device
    module: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    memory_format: torch.memory_format
    batch: int
    steps_done: int
    freeze_step: int  # the step from which the first layer is frozen
    generator: torch.Generator  # the shuffling order
    loss_limit: float  # a mean loss above it is divergence


class NNClassifier(ClassifierMixin, BaseEstimator):
    """One of the lab's networks (``linear``, ``full``, ``conv``) as a scikit-learn classifier.

    ``optimizer`` is adam, adamw or sgd (with ``momentum``); ``schedule`` "onecycle" warms the learning rate up
    to ``lr`` and anneals it, "constant" keeps it. ``lr`` None takes the model table's default (models.py);
    ``batch_size`` None picks one from the data size (:func:`auto_batch_size`). ``freeze_first`` is the fraction
    of training after which the first layer stops learning (None: the model table's). ``precision`` "auto"
    trains conv and full in bfloat16 autocast where the hardware has bf16 units (AMX CPUs, recent GPUs) and
    everything else in float32; inference is always float32. Every parameter and its range is declared in
    ``nnlab.settings.ClassifierParams``.
    """

    def __init__(
        self,
        device: str = "auto",
        epochs: int = 5,
        batch_size: int | None = None,
        optimizer: str = "adam",
        lr: float | None = None,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        label_smoothing: float = 0.0,
        schedule: str = "onecycle",
        shuffle: bool = True,
        precision: str = "auto",
        freeze_first: float | None = None,
        seed: int = 0,
        model: str = "conv",
    ) -> None:
        # Stored unchanged, as scikit-learn asks of an estimator (get_params, clone); checked by fit against
        # ClassifierParams, whose declarations these are (a test keeps names, defaults and order equal).
        self.device = device
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.schedule = schedule
        self.shuffle = shuffle
        self.precision = precision
        self.freeze_first = freeze_first
        self.seed = seed
        self.model = model

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # pixels: uint8 0..255 or floats 0..1
        tags.classifier_tags.multi_class = True
        tags.non_deterministic = False  # on the CPU the same seed gives the same numbers
        return tags

    # -------------------------------------------------------------------------------------------- training

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        validation: tuple[Any, Any] | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> NNClassifier:
        """Train on images X and labels y; ``validation`` (X, y) adds a held-out accuracy to each epoch of
        ``history_``; ``progress`` is called every few batches. Raises TrainingDiverged when the loss becomes
        non-finite or explodes."""
        training = self._prepare(X, y)
        self.history_: list[dict[str, float]] = []
        started = time.perf_counter()
        for epoch in range(1, self.epochs + 1):
            row = self._run_epoch(training, epoch, progress)
            if validation is not None:
                row["validation_accuracy"] = self.score(*validation)
            self.history_.append(row)
            if progress is not None:
                done = len(training.images)
                progress(Progress(epoch, self.epochs, done, done, row["loss"], self._lr(training), finished=row))
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _prepare(self, X: Any, y: Any) -> _Training:
        """Check the parameters and the data, build the network, its optimizer and its schedule."""
        params = check_params(ClassifierParams, self.get_params())
        device = resolve_device(params.device)
        labels = _labels(y)
        images = prepare_images(X)
        n = len(images)
        if len(labels) != n:
            raise ValueError(f"y has {len(labels)} labels for {n} images")
        self.classes_ = np.unique(labels)
        if len(self.classes_) > OUTPUTS:
            raise ValueError(f"y has {len(self.classes_)} classes; the lab's networks have {OUTPUTS} outputs")
        targets = torch.from_numpy(np.searchsorted(self.classes_, labels).astype(np.int64))
        layout = memory_format(params.model, device)
        self.bf16_ = trains_in_bf16(params.model, params.precision, device)
        spec = model_spec(params.model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(params.seed)
            module = build_model(params.model)
        self.module_ = module.to(device, memory_format=layout)
        self.n_features_in_ = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
        self.batch_size_ = auto_batch_size(n) if params.batch_size is None else params.batch_size
        self.lr_ = spec.lr[params.optimizer] if params.lr is None else params.lr
        self.freeze_first_ = spec.freeze_first if params.freeze_first is None else params.freeze_first
        batch = min(self.batch_size_, n)
        total_steps = params.epochs * math.ceil(n / batch)
        optimizer, scheduler = self._make_optimizer(self.module_, params, total_steps)
        freezes = not spec.one_layer  # freezing a one-layer network's first layer would stop its training
        return _Training(
            device=device,
            images=images.to(device),
            targets=targets.to(device),
            module=self.module_,
            optimizer=optimizer,
            scheduler=scheduler,
            memory_format=layout,
            batch=batch,
            steps_done=0,
            freeze_step=math.ceil(self.freeze_first_ * total_steps) if freezes else total_steps,
            generator=torch.Generator().manual_seed(params.seed),
            loss_limit=DIVERGED_LOSS_FACTOR * max(math.log(len(self.classes_)), 1.0),
        )

    def _make_optimizer(self, module: nn.Module, params: ClassifierParams, steps: int) -> tuple[Any, Any]:
        if params.optimizer == "sgd":
            kind: Any = torch.optim.SGD
            options: dict[str, Any] = {"momentum": params.momentum}
        else:
            kind = torch.optim.AdamW if params.optimizer == "adamw" else torch.optim.Adam
            options = {}
        parameters = list(module.parameters())
        try:  # one fused kernel per step instead of a loop over tensors, where this torch has it
            optimizer = kind(parameters, lr=self.lr_, weight_decay=params.weight_decay, fused=True, **options)
        except (RuntimeError, TypeError, ValueError):
            optimizer = kind(parameters, lr=self.lr_, weight_decay=params.weight_decay, **options)
        scheduler = None
        if params.schedule == "onecycle":
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(one_cycle, total=steps))
        return optimizer, scheduler

    def _run_epoch(
        self, training: _Training, epoch: int, progress: Callable[[Progress], None] | None
    ) -> dict[str, float]:
        """One pass over the training data in minibatches; returns the epoch's history row."""
        training.module.train()
        started = time.perf_counter()
        n = len(training.images)
        images, targets = training.images, training.targets
        if self.shuffle:  # one gather per epoch; minibatches are then contiguous slices
            order = torch.randperm(n, generator=training.generator).to(training.device)
            images = PreparedImages(images.raw.index_select(0, order))
            targets = targets.index_select(0, order)
        loss_sum = torch.zeros((), device=training.device)
        correct = torch.zeros((), dtype=torch.int64, device=training.device)
        for step, start in enumerate(range(0, n, training.batch)):
            end = min(start + training.batch, n)
            xb = images.scaled(slice(start, end)).contiguous(memory_format=training.memory_format)  # (B, 1, 28, 28)
            yb = targets[start:end]  # (B,)
            loss, logits = self._train_step(training, xb, yb)
            loss_sum += loss * len(yb)
            correct += (logits.argmax(1) == yb).sum()
            if step % 20 == 19 or end == n:
                mean_loss = loss_sum.item() / end
                self._check_divergence(mean_loss, training.loss_limit, epoch)
                if progress is not None:
                    progress(Progress(epoch, self.epochs, end, n, mean_loss, self._lr(training)))
        seconds = time.perf_counter() - started
        return {
            "epoch": epoch,
            "loss": loss_sum.item() / n,
            "train_accuracy": correct.item() / n,
            "seconds": seconds,
            "images_per_second": n / seconds if seconds > 0 else 0.0,
        }

    def _train_step(self, training: _Training, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a minibatch; returns its loss and logits, detached."""
        if training.steps_done == training.freeze_step:
            _first_layer(training.module).requires_grad_(False)
        training.steps_done += 1
        k = len(self.classes_)
        with torch.autocast(training.device.type, dtype=torch.bfloat16, enabled=self.bf16_):
            logits = training.module(xb)[:, :k]  # (B, K)
        loss = nn.functional.cross_entropy(logits.float(), yb, label_smoothing=self.label_smoothing)
        training.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        training.optimizer.step()
        if training.scheduler is not None:
            training.scheduler.step()
        return loss.detach(), logits.detach()

    @staticmethod
    def _lr(training: _Training) -> float:
        return float(training.optimizer.param_groups[0]["lr"])

    def _check_divergence(self, mean_loss: float, limit: float, epoch: int) -> None:
        if math.isfinite(mean_loss) and mean_loss <= limit:
            return
        what = "became non-finite" if not math.isfinite(mean_loss) else f"exploded to {mean_loss:.3g}"
        raise TrainingDiverged(
            f"the {self.model} model's loss {what} in epoch {epoch}; try a smaller ",
            Name("lr"),
            f" (it was {self.lr_:g})",
        )

    def check_learned(self, accuracy: float, labels: np.ndarray, class_count: int) -> None:
        """Raise TrainingDiverged if the fitted model learned nothing (learned_nothing): ``accuracy`` on the training
        images whose labels are ``labels``, and its last epoch's loss. Not part of fit: such a fit is not an error
        to scikit-learn, but it is not a result to keep or average."""
        problem = learned_nothing(self.model, accuracy, labels, self.history_[-1]["loss"], class_count, self.lr_)
        if problem is not None:
            raise problem

    # ------------------------------------------------------------------------------------------- inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this NNClassifier is not fitted yet; call fit or NNClassifier.load first")

    def logits(self, X: Any) -> np.ndarray:
        """The network's outputs for the known classes (N, K) in float32, computed in large batches without
        gradients."""
        self._check_fitted()
        images = prepare_images(X)
        module = self.module_
        device = next(module.parameters()).device
        module.eval()
        k = len(self.classes_)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(images), PREDICT_BATCH):
                xb = images[start : start + PREDICT_BATCH].to(device).scaled()
                xb = xb.contiguous(memory_format=memory_format(self.model, device))
                outputs.append(module(xb)[:, :k].float().cpu())
        return torch.cat(outputs).numpy() if outputs else np.zeros((0, k), np.float32)

    def decision_function(self, X: Any) -> np.ndarray:
        """The logits (N, K); with two classes, as scikit-learn expects, one score per image (N,): the second
        class's logit minus the first's, positive where the second class is predicted."""
        logits = self.logits(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log class probabilities (N, K), from a log-softmax of the logits in float64."""
        logits = self.logits(X).astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, K); each row sums to 1."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each image."""
        best = self.logits(X).argmax(axis=1)
        return self.classes_[best]

    # ------------------------------------------------------------------------------------------ checkpoints

    def checkpoint_bytes(self, metadata: dict[str, Any] | None = None) -> bytes:
        """The checkpoint as bytes (checkpoints.py): the weights, the parameters, the classes, the history and
        ``metadata`` (plain data, such as the dataset it was trained on). Non-finite weights are refused."""
        self._check_fitted()
        return checkpoints.to_bytes(
            self.get_params(), self.classes_.tolist(), self.history_, metadata or {}, self.module_
        )

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write the checkpoint (:meth:`checkpoint_bytes`) to ``path`` atomically."""
        from nnlab.files import write_atomic

        data = self.checkpoint_bytes(metadata)
        return write_atomic(Path(path), lambda handle: handle.write(data))

    @classmethod
    def load(cls, path: str | Path, model: str | None = None, device: str = "cpu") -> NNClassifier:
        """Read a checkpoint written by :meth:`save`; never executes code from the file (weights only).

        Every field is checked; ``model`` checks that the checkpoint is of that architecture. Raises
        CheckpointError naming the file and what is wrong with it.
        """
        stored = checkpoints.read(Path(path), model, device)
        estimator = cls(**stored.params.model_dump())
        estimator.module_ = stored.module
        estimator.classes_ = np.asarray(stored.classes)
        estimator.history_ = stored.history
        estimator.metadata_ = stored.metadata
        estimator.n_features_in_ = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
        return estimator


__all__ = ["NNClassifier", "Progress", "auto_batch_size", "prepare_images", "resolve_device"]
