"""How sure is a classifier? Log-domain confidence, ranking, per-class summary and calibration.

:func:`analyse` is pure NumPy; :func:`run_confidence` is the experiment of ``nnlab confidence``: it loads the
checkpoint (or trains the model) and analyses its predictions on the test set.

The confidence of a prediction is the largest softmax probability, ``p_max = exp(y_max) / sum_c exp(y_c)``.
Its logarithm is ``log p_max = -log(1 + sum_{c != argmax} exp(y_c - y_max))``, computed with ``log1p`` so that
near-certain predictions, whose p_max rounds to 1 in floating point, keep distinct, exact values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlab.errors import CheckpointError, Message, SettingError
from nnlab.files import file_kind, why_not

if TYPE_CHECKING:
    from nnlab.classifier import NNClassifier, Progress
    from nnlab.datasets import Dataset
    from nnlab.settings import ConfidenceSettings

ECE_BINS = 15


def log_confidence(logits: np.ndarray) -> np.ndarray:
    """log of the largest softmax probability of each row of ``logits`` (N, C), as float64 (N,).

    Finite for any finite logits, however large; exact where a naive softmax rounds p_max to 1.
    """
    y = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(y))
    top = y.argmax(axis=1)
    with np.errstate(over="ignore"):  # a difference beyond the float range is -inf, whose exp is exactly 0
        others = np.exp(y - y[rows, top][:, None])  # (N, C), each in [0, 1]
    others[rows, top] = 0.0
    return -np.log1p(others.sum(axis=1))


def probability_text(log_p: float) -> str:
    """A probability for a label, keeping the digits that matter near 1: 0.734, or 1−3.2e-09."""
    missing = -np.expm1(log_p)  # 1 - p, exact even when p rounds to 1
    if missing < 1e-3:
        return f"1−{missing:.1e}" if missing > 0 else "1−0"
    return f"{np.exp(log_p):.3f}"


def rank(log_conf: np.ndarray, most: bool) -> np.ndarray:
    """Indices ordered from most (or least) confident; ties resolve by index, ascending."""
    index = np.arange(len(log_conf))
    return np.lexsort((index, -log_conf if most else log_conf))


@dataclass
class ConfidenceResult:
    """Everything ``nnlab confidence`` computed; plots and reports read it."""

    model: str
    dataset: str
    classes: tuple[str, ...]
    top: int
    labels: np.ndarray  # (N,) true classes of the test images
    predictions: np.ndarray  # (N,)
    log_conf: np.ndarray  # (N,) log p_max
    most: np.ndarray  # (top,) indices, most confident first
    least: np.ndarray  # (top,) indices, least confident first
    per_class: list[dict[str, Any]] = field(default_factory=list)
    ece: float = 0.0
    bins: list[dict[str, float]] = field(default_factory=list)  # the reliability diagram

    def rows(self, indices: np.ndarray) -> list[dict[str, Any]]:
        return [
            {
                "index": int(i),
                "label": int(self.labels[i]),
                "prediction": int(self.predictions[i]),
                "log_confidence": float(self.log_conf[i]),
                "probability": float(np.exp(self.log_conf[i])),
            }
            for i in indices
        ]

    def class_counts(self, indices: np.ndarray) -> list[tuple[str, int]]:
        """Classes (by true label) among ``indices``, most frequent first."""
        counts = Counter(int(self.labels[i]) for i in indices)
        return [(self.classes[c], n) for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def per_digit_counts(self, indices: np.ndarray) -> list[int]:
        """How many of ``indices`` belong to each class (by true label), in class order."""
        return np.bincount(self.labels[indices], minlength=len(self.classes)).tolist()

    @property
    def accuracy(self) -> float:
        """Accuracy on the whole test set."""
        return float((self.predictions == self.labels).mean()) if len(self.labels) else 0.0


def calibration(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error over ``bins`` equal-width confidence bins, and each bin's numbers."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows, ece, n = [], 0.0, len(confidence)
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        accuracy = float(correct[members].mean()) if count else 0.0
        mean_conf = float(confidence[members].mean()) if count else 0.0
        ece += count / max(n, 1) * abs(accuracy - mean_conf)
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "accuracy": accuracy,
                "confidence": mean_conf,
            }
        )
    return float(ece), rows


def analyse(
    logits: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], top: int, model: str, dataset: str
) -> ConfidenceResult:
    """Rank the test images by confidence and summarise per class and by calibration."""
    labels = np.asarray(labels)
    log_conf = log_confidence(logits)
    predictions = np.asarray(logits).argmax(axis=1)
    result = ConfidenceResult(
        model=model,
        dataset=dataset,
        classes=classes,
        top=top,
        labels=labels,
        predictions=predictions,
        log_conf=log_conf,
        most=rank(log_conf, most=True)[:top],
        least=rank(log_conf, most=False)[:top],
    )
    confidence = np.exp(log_conf)
    correct = predictions == labels
    most_set, least_set = set(result.most.tolist()), set(result.least.tolist())
    for c, name in enumerate(classes):
        members = np.flatnonzero(labels == c)
        result.per_class.append(
            {
                "class": c,
                "name": name,
                "count": int(members.size),
                "accuracy": float(correct[members].mean()) if members.size else 0.0,
                "mean_confidence": float(confidence[members].mean()) if members.size else 0.0,
                "in_most": sum(1 for i in members if i in most_set),
                "in_least": sum(1 for i in members if i in least_set),
            }
        )
    result.ece, result.bins = calibration(confidence, correct)
    return result


# ------------------------------------------------------------------------------------------- the experiment


@dataclass
class ConfidenceRun:
    """What ``nnlab confidence`` did: the analysis, and where the model came from."""

    analysis: ConfidenceResult
    dataset: Dataset
    classifier: NNClassifier
    checkpoint: Path | None  # the checkpoint read; None when the model was trained by this run
    warnings: list[Message] = field(default_factory=list)

    @property
    def trained_now(self) -> bool:
        return self.checkpoint is None


def checkpoint_to_use(settings: ConfidenceSettings) -> Path | None:
    """The checkpoint to analyse: ``checkpoint`` if given (it must exist), else ``OUT/mnist/MODEL.pt``, else the
    one an earlier ``nnlab confidence`` trained (``OUT/confidence/MODEL.pt``); None: train the model now."""
    if settings.checkpoint is not None:
        path = Path(settings.checkpoint)
        kind = file_kind(path)
        if not kind.is_file:
            raise SettingError(
                "checkpoint",
                settings.checkpoint,
                (f"an existing checkpoint file ({why_not(kind, 'file')}); train one with 'nnlab mnist'",),
            )
        return path
    for folder in ("mnist", "confidence"):
        path = Path(settings.out) / folder / f"{settings.model}.pt"
        if file_kind(path).is_file:
            return path
    return None


LEARNED_SAMPLE = 2500  # training images a model trained here is checked on (the lab's evaluation size)


def _check_learned(classifier: Any, dataset: Dataset) -> None:
    """Raise TrainingDiverged if the model trained here ended no better than chance on its training images."""
    images, labels = dataset.train_images[:LEARNED_SAMPLE], dataset.train_labels[:LEARNED_SAMPLE]
    classifier.check_learned(float(np.mean(classifier.predict(images) == labels)), labels, len(dataset.classes))


def run_confidence(
    settings: ConfidenceSettings,
    dataset: Dataset,
    checkpoint: Path | None,
    progress: Callable[[str, Progress], None] | None = None,
) -> ConfidenceRun:
    """Analyse the confidence of the model in ``checkpoint`` on the test set; with no checkpoint, train the model
    first with ``settings``' training settings.

    Raises SettingError when ``top`` exceeds half the test set, CheckpointError when the checkpoint does not fit
    the dataset's classes.
    """
    from nnlab.classifier import NNClassifier

    half = len(dataset.test_labels) // 2
    if settings.top > half:
        raise SettingError("top", settings.top, (f"at most half the test set ({half})",))
    warnings: list[Message] = []
    if checkpoint is not None:
        classifier = NNClassifier.load(checkpoint, model=settings.model, device=settings.device)
        expected = list(range(len(dataset.classes)))
        if classifier.classes_.tolist() != expected:
            raise CheckpointError(
                f"checkpoint {checkpoint}: trained on classes {classifier.classes_.tolist()}, but {dataset.name} has "
                f"classes {expected[0]}..{expected[-1]}; pass a checkpoint trained on this data"
            )
        trained_on = (classifier.metadata_.get("dataset") or {}).get("name")
        if trained_on and trained_on != dataset.name:
            warnings.append(Message(f"{checkpoint} was trained on {trained_on}, not on {dataset.name}"))
    else:
        classifier = NNClassifier(**settings.classifier_params())
        report = None if progress is None else (lambda event: progress(settings.model, event))
        classifier.fit(dataset.train_images, dataset.train_labels, progress=report)
        _check_learned(classifier, dataset)
    analysis = analyse(
        classifier.logits(dataset.test_images),
        dataset.test_labels,
        dataset.classes,
        settings.top,
        settings.model,
        dataset.name,
    )
    return ConfidenceRun(analysis, dataset, classifier, checkpoint, warnings)
