"""NNClassifier: the lab's torch networks behind a scikit-learn estimator (fit, predict, score, save, load).

Training data lives in one tensor on the device and minibatches are index slices of it: no per-sample
Dataset/DataLoader path. The constructor stores its arguments unchanged, so ``sklearn.base.clone``,
``cross_val_score`` and ``GridSearchCV`` work.
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

from nnlab.errors import CheckpointError, TrainingDiverged
from nnlab.models import MODEL_NAMES, build_model

# Peak learning rates of the one-cycle schedule, tuned per model and optimizer (5 epochs, mnist-5k and
# Fashion-MNIST); used where ``lr`` is None.
DEFAULT_LR = {
    "adam": {"linear": 0.015, "full": 0.005, "conv": 0.016},
    "adamw": {"linear": 0.015, "full": 0.005, "conv": 0.016},
    "sgd": {"linear": 0.2, "full": 0.1, "conv": 0.1},
}
# Fraction of the training steps after which the first layer is frozen (as in FreezeOut, Brock et al. 2017),
# used where ``freeze_first`` is None. Late in the one-cycle schedule the conv net's first layer barely moves,
# and freezing it skips the backward pass through the first convolution and max-pool: about 15% of the conv
# net's training time for no measurable loss of accuracy. For full it costs accuracy; linear has one layer.
DEFAULT_FREEZE_FIRST = {"linear": 1.0, "full": 1.0, "conv": 0.5}
CHECKPOINT_FORMAT = "nnlab-classifier"
CHECKPOINT_VERSION = 1
# Inference batch: large enough to amortise per-call costs, small enough that the conv net's activations stay in
# cache (twice as fast on the CPU as 4096).
PREDICT_BATCH = 1024


@dataclass
class Progress:
    """What a training step reports to the caller, who decides whether and how to show it."""

    epoch: int  # 1-based
    epochs: int
    seen: int  # images of this epoch processed so far
    total: int  # images per epoch
    loss: float  # mean loss over this epoch so far


def resolve_device(device: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device that is not available is an error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available; use --device auto or cpu")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps: no Apple MPS device is available; use --device auto or cpu")
    if device not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {device!r}: must be one of auto, cpu, cuda, mps")
    return torch.device(device)


def bf16_is_fast(device: torch.device) -> bool:
    """True where bfloat16 training runs on dedicated hardware: CUDA with bf16 support, or a CPU with AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return "amx_bf16" in _cpu_flags()
    return False


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def auto_batch_size(n: int) -> int:
    """A power of two giving about 100 or more steps per epoch, between 32 and 512: small data sets get
    enough updates in few epochs (32 for 4000 images), large ones the throughput of big batches (512 for
    60000)."""
    return int(min(512, max(32, 2 ** math.floor(math.log2(max(n, 1) / 100)))))


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


def _first_layer(module: nn.Sequential) -> nn.Module:
    return next(layer for layer in module if any(True for _ in layer.parameters()))


def prepare_images(X: Any) -> PreparedImages:
    """Validate images once: uint8 0..255 or float 0..1, shaped (N,28,28), (N,1,28,28) or (N,784)."""
    if isinstance(X, PreparedImages):
        return X
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    array = np.asarray(X)
    if array.ndim == 2 and array.shape[1] == 784:
        array = array.reshape(-1, 28, 28)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"X has shape {array.shape}; expected (N, 28, 28), (N, 1, 28, 28) or (N, 784)")
    if array.dtype == np.uint8:
        raw = torch.tensor(array)  # a copy: the loader's arrays are read-only views of the files
    elif np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer):
        values = array.astype(np.float32)
        if values.size and (values.min() < 0.0 or values.max() > 1.0):
            raise ValueError("float X must lie in [0, 1] (or pass uint8 pixels 0..255)")
        raw = torch.from_numpy(values)
    else:
        raise ValueError(f"X has dtype {array.dtype}; expected uint8 or float")
    return PreparedImages(raw.unsqueeze(1))  # (N, 1, 28, 28)


class NNClassifier(ClassifierMixin, BaseEstimator):
    """One of the lab's networks (``linear``, ``full``, ``conv``) as a scikit-learn classifier.

    ``optimizer`` is adam, adamw or sgd (with ``momentum``); ``schedule`` "onecycle" warms the learning rate up
    to ``lr`` and anneals it, "constant" keeps it. ``lr`` None takes a per-model default (``DEFAULT_LR``);
    ``batch_size`` None picks one from the data size (:func:`auto_batch_size`). ``freeze_first`` is the fraction
    of training after which the first layer stops learning (None: ``DEFAULT_FREEZE_FIRST``). ``precision`` "auto" trains
    conv and full in bfloat16 autocast where the hardware has bf16 units (AMX CPUs, recent GPUs) and everything
    else in float32; inference is always float32.
    """

    def __init__(
        self,
        model: str = "conv",
        epochs: int = 5,
        batch_size: int | None = None,
        optimizer: str = "adam",
        lr: float | None = None,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        schedule: str = "onecycle",
        shuffle: bool = True,
        precision: str = "auto",
        freeze_first: float | None = None,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.shuffle = shuffle
        self.precision = precision
        self.freeze_first = freeze_first
        self.device = device
        self.seed = seed

    # -------------------------------------------------------------------------------------------- training

    def _check_params(self) -> None:
        if self.model not in MODEL_NAMES:
            raise ValueError(f"model {self.model!r}: must be one of {', '.join(MODEL_NAMES)}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer {self.optimizer!r}: must be adam, adamw or sgd")
        if self.schedule not in ("onecycle", "constant"):
            raise ValueError(f"schedule {self.schedule!r}: must be onecycle or constant")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision {self.precision!r}: must be auto, fp32 or bf16")
        if self.epochs < 1 or (self.batch_size is not None and self.batch_size < 1):
            raise ValueError("epochs and batch_size must be >= 1")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError("lr must be a finite number > 0")
        if self.freeze_first is not None and not 0.0 <= self.freeze_first <= 1.0:
            raise ValueError("freeze_first must be a fraction between 0 and 1")

    def _make_optimizer(self, module: nn.Module, steps: int) -> tuple[torch.optim.Optimizer, Any]:
        params = list(module.parameters())
        lr = self.lr_
        if self.optimizer == "sgd":
            kind: Any = torch.optim.SGD
            options: dict[str, Any] = {"momentum": self.momentum}
        else:
            kind = torch.optim.AdamW if self.optimizer == "adamw" else torch.optim.Adam
            options = {}
        try:  # one fused kernel per step instead of a loop over tensors, where this torch has it
            opt = kind(params, lr=lr, weight_decay=self.weight_decay, fused=True, **options)
        except (RuntimeError, TypeError, ValueError):
            opt = kind(params, lr=lr, weight_decay=self.weight_decay, **options)
        scheduler = None
        if self.schedule == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=lr, total_steps=steps, pct_start=0.25, cycle_momentum=self.optimizer == "sgd"
            )
        return opt, scheduler

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        validation: tuple[Any, Any] | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> NNClassifier:
        """Train on images X and labels y; ``validation`` (X, y) adds a held-out accuracy to each epoch of
        ``history_``; ``progress`` is called every few batches. Raises TrainingDiverged on a non-finite loss."""
        self._check_params()
        device = resolve_device(self.device)
        images = prepare_images(X)
        labels_raw = np.asarray(y)
        if labels_raw.shape != (len(images),):
            raise ValueError(f"y has shape {labels_raw.shape}; expected ({len(images)},)")
        self.classes_ = np.unique(labels_raw)
        if len(self.classes_) > 10:
            raise ValueError(f"y has {len(self.classes_)} classes; the lab's networks have 10 outputs")
        targets = torch.from_numpy(np.searchsorted(self.classes_, labels_raw).astype(np.int64))
        channels_last = self.model == "conv" and device.type == "cpu"
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        images = images.to(device)
        targets = targets.to(device)
        # bf16 units pay off for conv and full; the linear model is too small to gain from them
        self.bf16_ = self.precision == "bf16" or (
            self.precision == "auto" and self.model != "linear" and bf16_is_fast(device)
        )

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            module = build_model(self.model)
        module = module.to(device, memory_format=memory_format)
        self.module_ = module
        n = len(images)
        self.batch_size_ = auto_batch_size(n) if self.batch_size is None else self.batch_size
        self.lr_ = DEFAULT_LR[self.optimizer][self.model] if self.lr is None else self.lr
        batch = min(self.batch_size_, n)
        steps_per_epoch = math.ceil(n / batch)
        opt, scheduler = self._make_optimizer(module, self.epochs * steps_per_epoch)
        generator = torch.Generator().manual_seed(self.seed)
        total_steps = self.epochs * steps_per_epoch
        self.freeze_first_ = DEFAULT_FREEZE_FIRST[self.model] if self.freeze_first is None else self.freeze_first
        freeze_step = math.ceil(self.freeze_first_ * total_steps) if self.model != "linear" else total_steps
        global_step = 0
        k = len(self.classes_)
        self.history_: list[dict[str, float]] = []
        started = time.perf_counter()
        for epoch in range(1, self.epochs + 1):
            module.train()
            epoch_started = time.perf_counter()
            epoch_images, epoch_targets = images, targets
            if self.shuffle:  # one gather per epoch; minibatches are then contiguous slices
                order = torch.randperm(n, generator=generator).to(device)
                epoch_images = PreparedImages(images.raw.index_select(0, order))
                epoch_targets = targets.index_select(0, order)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            for step, start in enumerate(range(0, n, batch)):
                if global_step == freeze_step:
                    _first_layer(module).requires_grad_(False)
                global_step += 1
                xb = epoch_images.scaled(slice(start, start + batch)).contiguous(memory_format=memory_format)
                yb = epoch_targets[start : start + batch]  # xb: (B, 1, 28, 28)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16_):
                    logits = module(xb)[:, :k]  # (B, K)
                loss = nn.functional.cross_entropy(logits.float(), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if scheduler is not None:
                    scheduler.step()
                loss_sum += loss.detach() * len(yb)
                correct += (logits.detach().argmax(1) == yb).sum()
                if step % 20 == 19 or start + batch >= n:
                    seen = min(start + batch, n)
                    mean_loss = loss_sum.item() / seen
                    if not math.isfinite(mean_loss):
                        raise TrainingDiverged(
                            f"the {self.model} model's loss became non-finite in epoch {epoch}; "
                            f"try a smaller --lr (it was {self.lr_:g})"
                        )
                    if progress is not None:
                        progress(Progress(epoch, self.epochs, seen, n, mean_loss))
            row = {
                "epoch": epoch,
                "loss": loss_sum.item() / n,
                "train_accuracy": correct.item() / n,
                "seconds": time.perf_counter() - epoch_started,
            }
            row["images_per_second"] = n / row["seconds"]
            if validation is not None:
                row["validation_accuracy"] = self.score(*validation)
            self.history_.append(row)
        self.fit_seconds_ = time.perf_counter() - started
        self.n_features_in_ = 784
        return self

    # ------------------------------------------------------------------------------------------- inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this NNClassifier is not fitted yet; call fit or NNClassifier.load first")

    def decision_function(self, X: Any) -> np.ndarray:
        """The logits (N, K) in float32, computed in large batches without gradients."""
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
                if self.model == "conv" and device.type == "cpu":
                    xb = xb.contiguous(memory_format=torch.channels_last)
                outputs.append(module(xb)[:, :k].float().cpu())
        return torch.cat(outputs).numpy() if outputs else np.zeros((0, k), np.float32)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log class probabilities (N, K), from a log-softmax of the logits in float64."""
        logits = self.decision_function(X).astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, K); each row sums to 1."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each image."""
        logits = self.decision_function(X)
        return self.classes_[logits.argmax(axis=1)]

    # ------------------------------------------------------------------------------------------ checkpoints

    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write the weights, the settings, the classes, the history and ``metadata`` (plain data, such as the
        dataset it was trained on) to ``path`` atomically."""
        self._check_fitted()
        from nnlab.files import write_atomic

        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "history": self.history_,
            "metadata": dict(metadata or {}),
            "state_dict": state,
        }
        return write_atomic(Path(path), lambda handle: torch.save(checkpoint, handle))

    @classmethod
    def load(cls, path: str | Path, model: str | None = None, device: str = "cpu") -> NNClassifier:
        """Read a checkpoint written by :meth:`save`; never executes code from the file (weights only).

        ``model`` checks that the checkpoint is of that architecture. Raises CheckpointError naming the file.
        """
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path}: no such file; train one with 'nnlab mnist' first")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for foreign or damaged files
            reason = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(
                f"checkpoint {path}: not a readable weights file ({reason}); retrain with 'nnlab mnist'"
            ) from None
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"checkpoint {path}: not an nnlab classifier checkpoint; retrain with 'nnlab mnist'")
        params = checkpoint.get("params", {})
        stored_model = params.get("model")
        if model is not None and stored_model != model:
            raise CheckpointError(
                f"checkpoint {path}: holds the {stored_model!r} model, not {model!r}; pass --model {stored_model} "
                "or another --checkpoint"
            )
        try:
            estimator = cls(**{**params, "device": device})
            estimator._check_params()
            module = build_model(estimator.model)
            module.load_state_dict(checkpoint["state_dict"], strict=True)
            estimator.classes_ = np.asarray(checkpoint["classes"])
        except (TypeError, ValueError, KeyError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0][:100]
            raise CheckpointError(
                f"checkpoint {path}: the weights do not fit the {stored_model!r} architecture ({reason})"
            ) from None
        target = resolve_device(device)
        memory_format = torch.channels_last if estimator.model == "conv" and target.type == "cpu" else None
        estimator.module_ = (
            module.to(target) if memory_format is None else module.to(target, memory_format=memory_format)
        )
        estimator.history_ = list(checkpoint.get("history", []))
        estimator.metadata_ = dict(checkpoint.get("metadata", {}))
        estimator.n_features_in_ = 784
        return estimator
