"""IDX files (the MNIST format), parsed and validated with NumPy, without torch.

Every file is hostile input: its header is checked first and bounds how much is read (never more than the header
implies, plus one byte to detect trailing data), gzip is decompressed as a stream, and every problem raises
:class:`~nnlab.errors.DataError` with a message naming the file and what to do.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from nnlab.errors import DataError, Message
from nnlab.files import describe_os_error, file_kind, open_file, why_not

IMAGE_SIDE = 28
# Every MNIST-format data set nnlab knows has at most 70000 images a split; QMNIST's largest has 120000. A header
# claiming more is refused before anything is read, which bounds the memory a hostile file can take (196 MB).
MAX_ITEMS = 250_000
_CHUNK = 1 << 20

# The four standard files; each may also be gzipped (name + ".gz").
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


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

    return read_idx(io.BytesIO(raw), where, kind, None if raw[:2] == b"\x1f\x8b" else len(raw))


def _gzip_trailer(path: Path) -> tuple[int, int] | None:
    """The CRC-32 and the size mod 2**32 of the data a gzip file holds, from its last 8 bytes."""
    try:
        with open_file(path) as handle:
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
        with open_file(path) as handle:
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
