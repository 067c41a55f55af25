"""Downloads through a real HTTP server on 127.0.0.1 (NNLAB_MIRROR), serving the test's own files; the expected
checksums are patched to those of the test's files."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from idx_helpers import write_idx_folder

from nnlab import download
from nnlab.data import load_dataset
from nnlab.errors import DataError

pytestmark = pytest.mark.slow  # serves downloads over HTTP on loopback: left out of make test-fast

FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    cut: ClassVar[set[str]] = set()  # files whose transfer stops half-way

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.files:
            self.send_error(404)
            return
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if name in self.cut else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A server on 127.0.0.1 with a small data set's four .gz files; yields (server state, the arrays)."""
    source = tmp_path / "source"
    arrays = write_idx_folder(source, n_train=40, n_test=20, gz=True)
    files = {name: (source / name).read_bytes() for name in FILES}
    handler = type("Handler", (_Handler,), {"files": dict(files), "cut": set()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NNLAB_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/data")
    monkeypatch.setenv("NNLAB_OFFLINE", "0")
    monkeypatch.setattr(
        download, "expected_files", lambda info: [(name, hashlib.md5(files[name]).hexdigest()) for name in FILES]
    )
    (tmp_path / "cache").mkdir()
    try:
        yield handler, arrays
    finally:
        server.shutdown()
        server.server_close()


def test_a_download_from_the_mirror(tmp_path, mirror):
    _, arrays = mirror
    data = load_dataset("fashion-mnist", tmp_path / "cache", fallback=False)
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    assert data.source == f"Fashion-MNIST downloaded into {raw}"
    np.testing.assert_array_equal(data.train_labels, arrays["train_labels"])
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILES)  # nothing else: no staging folder left
    assert load_dataset("fashion-mnist", tmp_path / "cache").source.startswith("Fashion-MNIST IDX files in")


def test_a_file_whose_checksum_does_not_match_is_refused_and_not_kept(tmp_path, mirror):
    handler, _ = mirror
    handler.files["t10k-labels-idx1-ubyte.gz"] = gzip.compress(b"tampered")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: checksum mismatch \(MD5 [0-9a-f]{32}, expected"):
        load_dataset("fashion-mnist", tmp_path / "cache", fallback=False)
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    assert list(raw.iterdir()) == []  # none of the four, not even the good ones: a later run trusts nothing here


def test_a_transfer_that_stops_half_way_is_a_clean_error_and_the_next_run_downloads_again(tmp_path, mirror):
    handler, arrays = mirror
    handler.cut.add("train-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: .*(stopped after|IncompleteRead)"):
        load_dataset("kmnist", tmp_path / "cache", fallback=False)
    assert list((tmp_path / "cache" / "KMNIST" / "raw").iterdir()) == []
    handler.cut.clear()
    data = load_dataset("kmnist", tmp_path / "cache", fallback=False)
    np.testing.assert_array_equal(data.test_labels, arrays["t10k_labels"])


def test_an_unreachable_mirror_falls_back_for_mnist(tmp_path, monkeypatch):
    (tmp_path / "cache").mkdir()
    monkeypatch.setenv("NNLAB_MIRROR", "http://127.0.0.1:9/")  # the discard port: nothing listens
    monkeypatch.setenv("NNLAB_OFFLINE", "0")
    monkeypatch.setattr(download, "expected_files", lambda info: [(name, "0" * 32) for name in FILES])
    data = load_dataset("mnist", tmp_path / "cache")
    assert data.name == "mnist-5k" and "the download failed" in str(data.warnings[0])
    assert "127.0.0.1:9/train-images-idx3-ubyte.gz" in str(data.warnings[0])


def test_mirrors_come_from_the_environment(monkeypatch):
    from nnlab.datasets import DATASETS

    monkeypatch.setenv("NNLAB_MIRROR", "https://example.org/mnist")
    assert download.mirrors(DATASETS["mnist"]) == ["https://example.org/mnist/"]
    assert Path(download.__file__).name == "download.py"
