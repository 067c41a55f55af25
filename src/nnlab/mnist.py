"""The comparison experiment: train the lab's networks one after another and measure them the lab's way."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nnlab.classifier import NNClassifier, PreparedImages, Progress, prepare_images
from nnlab.datasets import Dataset
from nnlab.errors import Message, Name
from nnlab.networks import count_parameters
from nnlab.settings import MnistSettings


@dataclass
class ModelResult:
    """One trained network and its measurements."""

    name: str
    classifier: NNClassifier
    train_accuracy: float  # on the first eval_size training images (the lab's protocol)
    test_accuracy: float  # on the first eval_size test images (the lab's protocol)
    test_accuracy_all: float  # on the whole test set
    fit_seconds: float
    parameters: int
    confusion: np.ndarray  # (10, 10) counts on the whole test set, rows = true class, columns = prediction

    def lab_line(self) -> str:
        """The original notebook's output line."""
        return "%10s train: %.3f test: %.3f" % (self.name, self.train_accuracy, self.test_accuracy)  # noqa: UP031


@dataclass
class MnistResult:
    """Everything ``nnlab mnist`` computed: one ModelResult per model, in the order trained."""

    config: MnistSettings
    dataset: Dataset
    train_size: int  # training images used
    eval_train: int  # training images the lab's train accuracy was measured on
    eval_test: int  # test images the lab's test accuracy was measured on
    models: dict[str, ModelResult]
    seconds: float
    warnings: list[Message] = field(default_factory=list)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int = 10) -> np.ndarray:
    """Counts (classes, classes): row = true class, column = predicted class."""
    return np.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def training_subset(dataset: Dataset, train_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``train_size`` training images (all when None)."""
    return dataset.train_images[:train_size], dataset.train_labels[:train_size]


def evaluate(
    name: str,
    classifier: NNClassifier,
    train: tuple[PreparedImages, np.ndarray],
    test: tuple[PreparedImages, np.ndarray],
    eval_size: int,
    class_count: int,
) -> ModelResult:
    """Measure a trained classifier the lab's way (the first ``eval_size`` training images it was trained on
    and test images), plus on the whole test set."""
    test_images, test_labels = test
    test_predictions = classifier.predict(test_images)
    train_predictions = classifier.predict(train[0][:eval_size])
    first = slice(0, eval_size)
    return ModelResult(
        name=name,
        classifier=classifier,
        train_accuracy=float(np.mean(train_predictions == train[1][:eval_size])),
        test_accuracy=float(np.mean(test_predictions[first] == test_labels[first])),
        test_accuracy_all=float(np.mean(test_predictions == test_labels)),
        fit_seconds=classifier.fit_seconds_,
        parameters=count_parameters(classifier.module_),
        confusion=confusion_matrix(test_labels, test_predictions, class_count),
    )


def run_mnist(
    config: MnistSettings,
    dataset: Dataset,
    progress: Callable[[str, Progress], None] | None = None,
    on_model_done: Callable[[ModelResult], None] | None = None,
) -> MnistResult:
    """Train each of ``config.models`` on the dataset and evaluate it.

    ``progress(model, Progress)`` is called during training; ``on_model_done(result)`` right after each model
    is evaluated (the command saves its checkpoint there, so that an interrupted run keeps finished models).
    """
    started = time.perf_counter()
    train_images, y = training_subset(dataset, config.train_size)
    X = prepare_images(train_images)  # converted once for all models
    test = (prepare_images(dataset.test_images), dataset.test_labels)
    eval_test = min(config.eval_size, len(dataset.test_labels))
    held_out = (test[0][:eval_test], test[1][:eval_test])
    models: dict[str, ModelResult] = {}
    for name in config.models:
        classifier = NNClassifier(**config.classifier_params(name))
        report = None if progress is None else (lambda event, name=name: progress(name, event))
        classifier.fit(X, y, validation=held_out, progress=report)
        models[name] = evaluate(name, classifier, (X, y), test, config.eval_size, len(dataset.classes))
        classifier.check_learned(models[name].train_accuracy, y[: config.eval_size], len(dataset.classes))
        if on_model_done is not None:
            on_model_done(models[name])
    return mnist_result(config, dataset, models, time.perf_counter() - started)


def mnist_result(
    config: MnistSettings, dataset: Dataset, models: dict[str, ModelResult], seconds: float
) -> MnistResult:
    """The result of training ``models`` (all of ``config.models``, or those an interrupted run finished)."""
    used = len(training_subset(dataset, config.train_size)[1])
    warnings = []
    if config.train_size is not None and config.train_size > used:
        warnings.append(
            Message(
                Name("train_size"),
                f" {config.train_size} is more than the {used} training "
                f"images of {dataset.name}; trained on all {used}",
            )
        )
    return MnistResult(
        config=config,
        dataset=dataset,
        train_size=used,
        eval_train=min(config.eval_size, used),
        eval_test=min(config.eval_size, len(dataset.test_labels)),
        models=models,
        seconds=seconds,
        warnings=warnings,
    )
