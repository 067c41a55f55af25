"""Downloading an MNIST-format data set: the four ``.gz`` files, each checked against torchvision's MD5 checksum.

Files are fetched into a hidden staging folder beside their destination and moved into place only when all four
have arrived whole and match their checksums, so that a failed, interrupted or tampered download leaves nothing a
later run would trust (and the next run simply downloads again). ``NNLAB_MIRROR=URL`` (a folder URL holding the
four files under their usual names) replaces torchvision's mirrors; the checksums stay torchvision's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path
from typing import TYPE_CHECKING

from nnlab.errors import DataError
from nnlab.files import describe_os_error

if TYPE_CHECKING:
    from nnlab.datasets import DatasetInfo

TIMEOUT_SECONDS = 30.0
MAX_DOWNLOAD_BYTES = 64 << 20  # the largest file of the four data sets is 30 MB
_CHUNK = 1 << 16


def expected_files(info: DatasetInfo) -> list[tuple[str, str]]:
    """The four file names and their MD5 checksums, as torchvision records them."""
    import torchvision.datasets

    return list(getattr(torchvision.datasets, str(info.torchvision_class)).resources)


def mirrors(info: DatasetInfo) -> list[str]:
    """Folder URLs to try in turn: ``$NNLAB_MIRROR`` if set, else torchvision's mirrors of the data set."""
    configured = os.environ.get("NNLAB_MIRROR")
    if configured:
        return [configured if configured.endswith("/") else configured + "/"]
    import torchvision.datasets

    return list(getattr(torchvision.datasets, str(info.torchvision_class)).mirrors)


def _fetch(url: str, target: Path, md5: str) -> None:
    """Download ``url`` into ``target``, checking its length and MD5; raise DataError naming the file."""
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, open(target, "wb") as handle:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                raise DataError(f"{url}: {declared} bytes, more than any file of the data set")
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise DataError(f"{url}: more than {MAX_DOWNLOAD_BYTES} bytes, more than any file of the data set")
                digest.update(chunk)
                handle.write(chunk)
            if declared is not None and declared.isdigit() and received != int(declared):
                raise DataError(f"{url}: the transfer stopped after {received} of {declared} bytes")
    except (urllib.error.URLError, HTTPException, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"{url}: {type(exc).__name__}: {str(reason)[:120]}") from None
    if digest.hexdigest() != md5:
        raise DataError(f"{url}: checksum mismatch (MD5 {digest.hexdigest()}, expected {md5}); the file was discarded")


def download_dataset(info: DatasetInfo, data_dir: Path) -> Path:
    """Download ``info``'s four files into ``data_dir/<Class>/raw`` and return that folder; DataError on any
    failure, with nothing left behind."""
    target = data_dir / str(info.torchvision_class) / "raw"
    try:
        target.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target))
    except OSError as exc:
        raise DataError(f"{target}: cannot download into it ({describe_os_error(exc)})") from None
    try:
        for name, md5 in expected_files(info):
            errors = []
            for mirror in mirrors(info):
                try:
                    _fetch(mirror + name, staging / name, md5)
                    break
                except DataError as exc:
                    errors.append(str(exc))
            else:
                raise DataError("; ".join(errors))
        for name, _ in expected_files(info):
            os.replace(staging / name, target / name)
    except OSError as exc:
        raise DataError(f"{target}: cannot write the download ({describe_os_error(exc)})") from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
    return target
