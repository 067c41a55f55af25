import json

import numpy as np
import pytest
import torch
from idx_helpers import write_idx_folder
from typer.testing import CliRunner

from nnlab.cli import app

pytestmark = pytest.mark.slow  # trains networks through the command: left out of make test-fast

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny data folder and an output folder holding an 'nnlab mnist' run of conv and linear."""
    data = tmp_path_factory.mktemp("idx")
    write_idx_folder(data, n_train=300, n_test=80)
    out = tmp_path_factory.mktemp("out")
    args = ["mnist", "--epochs", "2", "--models", "conv,linear", "--data-dir", str(data), "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    return data, out


def confidence(*args: str):
    return runner.invoke(app, ["confidence", *args])


def test_confidence_from_the_mnist_checkpoint(trained):
    data, out = trained
    result = confidence("--top", "8", "--data-dir", str(data), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"model: conv from {out}/mnist/conv.pt" in result.output.replace("\n", "")
    assert "the 8 most confident:" in result.output and "ECE" in result.output
    folder = out / "confidence"
    assert {p.name for p in folder.iterdir()} == {
        "most_confident.png",
        "least_confident.png",
        "calibration.png",
        "per_class.png",
        "confidence.json",
    }
    report = json.loads((folder / "confidence.json").read_text())
    assert report["command"] == "confidence" and report["model"] == "conv" and report["top"] == 8
    assert report["checkpoint"] == str(out / "mnist" / "conv.pt") and report["trained_now"] is False
    assert len(report["most"]) == len(report["least"]) == 8 and len(report["per_class"]) == 10
    most = [row["log_confidence"] for row in report["most"]]
    least = [row["log_confidence"] for row in report["least"]]
    assert most == sorted(most, reverse=True) and least == sorted(least) and most[-1] >= least[-1]
    assert set(report["most"][0]) == {"index", "label", "prediction", "log_confidence", "probability"}
    assert 0.0 <= report["ece"] <= 1.0 and 0.0 <= report["test_accuracy_all"] <= 1.0


def test_other_model(trained):
    data, out = trained
    result = confidence("--model", "linear", "--top", "4", "--data-dir", str(data), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "confidence" / "confidence.json").read_text())["model"] == "linear"


def test_trains_when_there_is_no_checkpoint_and_keeps_it_in_its_own_folder(tmp_path, trained):
    data, _ = trained
    args = ["--model", "linear", "--top", "4", "--epochs", "2", "--data-dir", str(data), "--out", str(tmp_path)]
    result = confidence(*args)
    assert result.exit_code == 0, result.output
    assert "no checkpoint at" in result.output and "training linear (2 epochs, seed 0)" in result.output
    kept = tmp_path / "confidence" / "linear.pt"
    assert kept.is_file() and f"saved {kept} for next time" in result.output
    report = json.loads((tmp_path / "confidence" / "confidence.json").read_text())
    assert report["trained_now"] is True and report["checkpoint"] == str(kept) and str(kept) in report["files"]
    again = confidence(*args)
    assert again.exit_code == 0 and f"model: linear from {kept}" in again.output.replace("\n", "")
    assert kept.is_file()  # the checkpoint it read stays part of the folder's set


@pytest.mark.parametrize(
    ("top", "fragment"),
    [
        ("0", "--top 0: must be an integer >= 1"),
        ("41", "--top 41: must be at most half the test set (40)"),
        ("501", "--top 501: must be an integer >= 1 and <= 500"),
    ],
)
def test_bad_top(tmp_path, trained, top, fragment):
    data, _ = trained
    result = confidence("--top", top, "--data-dir", str(data), "--out", str(tmp_path))
    assert result.exit_code == 2 and fragment in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model", "big"], "--model 'big': must be one of linear, full, conv"),
        (["--dataset", "x"], "--dataset 'x': must be one of"),
        (["--device", "gpu"], "--device 'gpu': must be one of auto, cpu, cuda, mps"),
        (["--checkpoint", "nope.pt"], "--checkpoint 'nope.pt': must be an existing checkpoint file (no such file)"),
        (["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
    ],
)
def test_bad_options(tmp_path, args, fragment):
    result = confidence(*args, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and fragment in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_bad_checkpoints(tmp_path, trained):
    data, out = trained
    cases = {
        "corrupt.pt": (b"\x00garbage", "not a readable weights file"),
        "foreign.pt": ("foreign", "not an nnlab classifier checkpoint"),
        "linear.pt": ((out / "mnist" / "linear.pt").read_bytes(), "holds the 'linear' model, not 'conv'; pass --model"),
    }
    for name, (content, fragment) in cases.items():
        path = tmp_path / name
        if content == "foreign":
            torch.save({"w": torch.zeros(2)}, path)
        else:
            path.write_bytes(content)
        result = confidence("--checkpoint", str(path), "--data-dir", str(data), "--out", str(tmp_path / "o"))
        assert result.exit_code == 1, result.output
        assert fragment in result.stderr and str(path) in result.stderr.replace("\n", ""), result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "o" / "confidence" / "confidence.json").exists()


def test_a_checkpoint_of_other_classes_is_refused(tmp_path, trained):
    from nnlab.classifier import NNClassifier

    data, _ = trained
    X = np.random.default_rng(0).integers(0, 255, size=(40, 28, 28), dtype=np.uint8)
    two_classes = NNClassifier(model="conv", epochs=1, device="cpu").fit(X, np.arange(40) % 2)
    path = two_classes.save(tmp_path / "two.pt")
    result = confidence("--checkpoint", str(path), "--data-dir", str(data), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "trained on classes [0, 1], but mnist has classes 0..9" in result.stderr
    assert not (tmp_path / "o" / "confidence").exists() or not list((tmp_path / "o" / "confidence").iterdir())


def test_warns_when_the_checkpoint_was_trained_on_other_data(trained):
    _, out = trained
    result = confidence("--top", "4", "--dataset", "mnist-5k", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "was trained on mnist, not on mnist-5k" in " ".join(result.stderr.split())


def test_a_checkpoint_with_nan_weights_changes_nothing(tmp_path, trained):
    data, out = trained
    assert confidence("--top", "4", "--data-dir", str(data), "--out", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in (out / "confidence").iterdir()}
    checkpoint = torch.load(out / "mnist" / "conv.pt", weights_only=True)
    checkpoint["state_dict"]["0.weight"][0, 0, 0, 0] = float("nan")
    torch.save(checkpoint, tmp_path / "nan.pt")
    result = confidence("--checkpoint", str(tmp_path / "nan.pt"), "--data-dir", str(data), "--out", str(out))
    assert result.exit_code == 1 and "tensor 0.weight holds NaN or infinite weights" in result.stderr
    assert {p.name: p.read_bytes() for p in (out / "confidence").iterdir()} == before
