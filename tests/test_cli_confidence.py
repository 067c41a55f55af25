import json

import pytest
import torch
from idx_helpers import write_idx_folder
from typer.testing import CliRunner

from nnlab.cli import app

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


def test_confidence_from_the_mnist_checkpoint(trained):
    data, out = trained
    result = runner.invoke(app, ["confidence", "--top", "8", "--data-dir", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"model: conv from {out}/mnist/conv.pt" in result.output.replace("\n", "")
    assert "the 8 most confident:" in result.output and "ECE" in result.output
    folder = out / "confidence"
    assert {p.name for p in folder.iterdir()} == {"most_confident.png", "least_confident.png", "calibration.png",
                                                  "per_class.png", "confidence.json"}  # fmt: skip
    report = json.loads((folder / "confidence.json").read_text())
    assert report["command"] == "confidence" and report["model"] == "conv" and report["top"] == 8
    assert len(report["most"]) == len(report["least"]) == 8 and len(report["per_class"]) == 10
    most = [row["log_confidence"] for row in report["most"]]
    least = [row["log_confidence"] for row in report["least"]]
    assert most == sorted(most, reverse=True) and least == sorted(least) and most[-1] >= least[-1]
    assert set(report["most"][0]) == {"index", "label", "prediction", "log_confidence", "probability"}
    assert 0.0 <= report["ece"] <= 1.0


def test_other_model(trained):
    data, out = trained
    result = runner.invoke(app, ["confidence", "--model", "linear", "--top", "4", "--data-dir", str(data),
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((out / "confidence" / "confidence.json").read_text())["model"] == "linear"


def test_trains_when_there_is_no_checkpoint(tmp_path, trained):
    data, _ = trained
    result = runner.invoke(app, ["confidence", "--model", "linear", "--top", "4", "--data-dir", str(data),
                                 "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no checkpoint at" in result.output and "training linear" in result.output
    assert (tmp_path / "mnist" / "linear.pt").is_file()
    again = runner.invoke(app, ["confidence", "--model", "linear", "--top", "4", "--data-dir", str(data),
                                "--out", str(tmp_path)])  # fmt: skip
    assert "model: linear from" in again.output


@pytest.mark.parametrize(
    ("top", "fragment"),
    [("0", "--top 0: must be an integer >= 1"), ("41", "--top 41: must be at most half the test set (40)")],
)
def test_bad_top(tmp_path, trained, top, fragment):
    data, _ = trained
    result = runner.invoke(app, ["confidence", "--top", top, "--data-dir", str(data), "--out", str(tmp_path)])
    assert result.exit_code == 2 and fragment in result.stderr and result.stderr.count("\n") == 1


def test_bad_checkpoints(tmp_path, trained):
    data, out = trained
    cases = {
        "missing.pt": (None, "no such file"),
        "corrupt.pt": (b"\x00garbage", "not a readable weights file"),
        "foreign.pt": ("foreign", "not an nnlab classifier checkpoint"),
        "linear.pt": ((out / "mnist" / "linear.pt").read_bytes(), "holds the 'linear' model, not 'conv'"),
    }
    for name, (content, fragment) in cases.items():
        path = tmp_path / name
        if content == "foreign":
            torch.save({"w": torch.zeros(2)}, path)
        elif content is not None:
            path.write_bytes(content)
        result = runner.invoke(app, ["confidence", "--checkpoint", str(path), "--data-dir", str(data),
                                     "--out", str(tmp_path / "o")])  # fmt: skip
        assert result.exit_code in (1, 2), result.output
        assert fragment in result.output and str(path) in result.output.replace("\n", ""), result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "o" / "confidence" / "confidence.json").exists()


def test_warns_when_the_checkpoint_was_trained_on_other_data(trained):
    _, out = trained
    result = runner.invoke(app, ["confidence", "--top", "4", "--dataset", "mnist-5k", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "was trained on mnist, not on mnist-5k" in " ".join(result.stderr.split())
