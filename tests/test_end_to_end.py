"""The installed `nnlab` command in a subprocess, as a user meets it: every foreseeable problem gives one line on
stderr, the documented exit code, no traceback, and leaves earlier results untouched."""

import hashlib
import subprocess
from pathlib import Path

import pytest
from idx_helpers import write_idx_folder

BAD_OPTIONS = {
    "moons": [
        (["--iters", "-3"], "--iters -3"), (["--iters", "x"], "--iters"), (["--lr", "0"], "--lr 0.0"),
        (["--lr", "nan"], "--lr nan"), (["--hidden", "0"], "--hidden 0"), (["--samples", "1"], "--samples 1"),
        (["--noise", "-1"], "--noise -1.0"), (["--seed", "1.5"], "--seed"), (["--snapshots", "0,99"], "--snapshots 99"),
        (["--snapshots", "one"], "--snapshots 'one'"), (["--config", "missing.toml"], "--config missing.toml"),
        (["--wrong"], "--wrong"),
    ],
    "mnist": [
        (["--epochs", "0"], "--epochs 0"), (["--models", "cnn"], "--models 'cnn'"),
        (["--dataset", "x"], "--dataset 'x'"), (["--batch-size", "-1"], "--batch-size -1"),
        (["--lr", "inf"], "--lr inf"), (["--optimizer", "x"], "--optimizer"),
        (["--momentum", "1.5"], "--momentum 1.5"), (["--weight-decay", "-1"], "--weight-decay -1.0"),
        (["--schedule", "x"], "--schedule 'x'"), (["--precision", "x"], "--precision 'x'"),
        (["--seed", "x"], "--seed"), (["--device", "gpu"], "--device 'gpu'"), (["--train-size", "0"], "--train-size 0"),
        (["--eval-size", "-5"], "--eval-size -5"), (["--freeze-first", "2"], "--freeze-first 2.0"),
    ],
    "confidence": [
        (["--top", "0"], "--top 0"), (["--model", "big"], "--model 'big'"), (["--dataset", "x"], "--dataset 'x'"),
        (["--device", "gpu"], "--device 'gpu'"), (["--checkpoint", "nope.pt"], "--checkpoint nope.pt"),
    ],
}  # fmt: skip
CASES = [(command, args, fragment) for command, cases in BAD_OPTIONS.items() for args, fragment in cases]


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory, nnlab_command):
    """An output folder with a finished moons run, as a user's earlier results."""
    out = tmp_path_factory.mktemp("earlier")
    subprocess.run([*nnlab_command, "moons", "--iters", "2", "--out", str(out)], check=True, capture_output=True)
    return out


def run(nnlab_command, *args, cwd=None):
    return subprocess.run([*nnlab_command, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize(("command", "args", "fragment"), CASES, ids=[f"{c}{' '.join(a)}" for c, a, _ in CASES])
def test_bad_option_values(nnlab_command, earlier_run, tmp_path, command, args, fragment):
    before = snapshot(earlier_run)
    done = run(nnlab_command, command, *args, "--out", str(earlier_run), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr + done.stdout
    assert snapshot(earlier_run) == before


def test_config_typo_names_the_key(nnlab_command, tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text("[mnist]\nepoch = 3\n")
    done = run(nnlab_command, "moons", "--config", str(preset), "--out", str(tmp_path))
    assert done.returncode == 2 and "unknown key 'epoch'" in done.stderr and "did you mean 'epochs'" in done.stderr


@pytest.mark.parametrize("command", ["moons", "mnist", "confidence"])
def test_unwritable_output_folder(nnlab_command, tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    done = run(nnlab_command, command, "--out", str(blocker / "sub"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "--out" in done.stderr
    assert blocker.read_text() == "mine"


def test_broken_data_folder(nnlab_command, tmp_path, earlier_run):
    data = tmp_path / "data"
    write_idx_folder(data)
    (data / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x3c" + bytes([12] * 60))
    before = snapshot(earlier_run)
    for command in ("mnist", "confidence"):
        done = run(nnlab_command, command, "--data-dir", str(data), "--out", str(earlier_run))
        assert done.returncode == 1, done.stderr
        assert "train-labels-idx1-ubyte: label 12 is not a digit" in done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert snapshot(earlier_run) == before


def test_corrupt_checkpoint(nnlab_command, tmp_path):
    data = tmp_path / "data"
    write_idx_folder(data, n_train=40, n_test=20)
    bad = tmp_path / "conv.pt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    args = ["confidence", "--top", "4", "--checkpoint", str(bad), "--data-dir", str(data), "--out", str(tmp_path)]
    done = run(nnlab_command, *args)
    assert done.returncode == 1 and str(bad) in done.stderr and "not a readable weights file" in done.stderr
    assert not (tmp_path / "confidence").exists() or not list((tmp_path / "confidence").iterdir())


def test_help_of_every_command_shows_an_example(nnlab_command):
    for command in ("moons", "mnist", "confidence", "info", "index"):
        done = run(nnlab_command, command, "--help")
        assert done.returncode == 0 and "Example: nnlab" in done.stdout, command
    top = run(nnlab_command, "--help")
    assert top.returncode == 0 and all(c in top.stdout for c in ("moons", "mnist", "confidence", "info"))


def test_info_reports_versions_and_datasets(nnlab_command):
    done = run(nnlab_command, "info")
    assert done.returncode == 0, done.stderr
    for word in ("torch", "numpy", "device (auto)", "mnist-5k", "downloads", "off (NNLAB_OFFLINE is set)"):
        assert word in done.stdout, word


def test_unavailable_device_is_an_option_error(nnlab_command, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    data = tmp_path / "data"
    write_idx_folder(data, n_train=40, n_test=20)
    done = run(nnlab_command, "mnist", "--device", "cuda", "--data-dir", str(data), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "--device cuda: no CUDA device is available" in done.stderr
    assert done.stderr.count("\n") == 1
