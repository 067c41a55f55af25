"""Tiny IDX data sets written by the tests themselves."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx_folder(
    folder: Path, n_train: int = 60, n_test: int = 20, gz: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Four IDX files of learnable synthetic digits: class k lights up a bar whose position depends on k."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 40, size=(n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 255
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images.astype(np.uint8), labels.astype(np.uint8)
        for kind, stem in (("images", f"{split}-images-idx3-ubyte"), ("labels", f"{split}-labels-idx1-ubyte")):
            data = idx_bytes(arrays[f"{split}_{kind}"])
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / stem).write_bytes(data)
    return arrays
