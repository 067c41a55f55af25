"""The datasets nnlab knows by name (their titles, classes and where torchvision keeps them), and what a loaded
dataset is. No I/O here: loading is data.py, parsing idx.py, the bundled subset subset.py."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnlab.errors import Message
from nnlab.schema import DatasetRecord

SUBSET_NAME = "mnist-5k"
DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
KUZUSHIJI = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset nnlab knows by name."""

    name: str
    title: str
    classes: tuple[str, ...]
    torchvision_class: str | None  # also the name of torchvision's folder: <data_dir>/<class>/raw


DATASETS = {
    "mnist": DatasetInfo("mnist", "MNIST", DIGITS, "MNIST"),
    "fashion-mnist": DatasetInfo("fashion-mnist", "Fashion-MNIST", FASHION, "FashionMNIST"),
    "kmnist": DatasetInfo("kmnist", "Kuzushiji-MNIST", KUZUSHIJI, "KMNIST"),
    SUBSET_NAME: DatasetInfo(SUBSET_NAME, "MNIST 5k subset", DIGITS, None),
}


@dataclass
class Dataset:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of a training and a test split."""

    name: str
    source: str  # what was actually loaded, and from where
    classes: tuple[str, ...]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    warnings: list[Message] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.name}: {len(self.train_labels)} training and {len(self.test_labels)} test images ({self.source})"

    def fingerprint(self) -> str:
        """The data's identity by content: name, sizes and a CRC-32 of every array (what a sweep's trial records as
        what it was computed from, so that a trial made from other data is never reused)."""
        crc = 0
        for array in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            crc = zlib.crc32(memoryview(np.ascontiguousarray(array)).cast("B"), crc)
        return (
            f"{self.name}: {len(self.train_labels)} training and {len(self.test_labels)} test images, crc32 {crc:08x}"
        )


def dataset_record(dataset: Dataset, train_size: int | None = None) -> DatasetRecord:
    """Which data a run used: name, source and the sizes actually used (the record metrics files hold)."""
    available = len(dataset.train_labels)
    return DatasetRecord(
        name=dataset.name,
        source=dataset.source,
        train_size=available if train_size is None else min(train_size, available),
        test_size=len(dataset.test_labels),
    )


def default_data_dir() -> Path:
    """``$NNLAB_DATA_DIR``, else ``~/.cache/nnlab``."""
    configured = os.environ.get("NNLAB_DATA_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "nnlab"
