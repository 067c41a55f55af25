import json
import os
import signal
import subprocess
import time

import pytest
from idx_helpers import write_idx_folder
from typer.testing import CliRunner

from nnlab.classifier import NNClassifier
from nnlab.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    write_idx_folder(folder, n_train=300, n_test=100, gz=True)
    return folder


def test_mnist_writes_checkpoints_curves_confusions_and_metrics(tmp_path, idx_dir):
    result = runner.invoke(
        app, ["mnist", "--epochs", "2", "--data-dir", str(idx_dir), "--eval-size", "50", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "data: mnist: 300 training and 100 test images" in result.output
    for name in ("linear", "full", "conv"):
        assert f"{name:>10} train: " in result.output
    folder = tmp_path / "mnist"
    names = {p.name for p in folder.iterdir()}
    assert names == {"linear.pt", "full.pt", "conv.pt", "learning_curves.png", "confusion_linear.png",
                     "confusion_full.png", "confusion_conv.png", "metrics.json"}  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["command"] == "mnist"
    assert metrics["dataset"] == {"name": "mnist", "source": metrics["dataset"]["source"], "train_size": 300,
                                  "test_size": 100}  # fmt: skip
    conv = metrics["models"]["conv"]
    assert set(conv) >= {"train_accuracy", "test_accuracy", "test_accuracy_all", "fit_seconds", "parameters",
                         "checkpoint", "history"}  # fmt: skip
    assert conv["parameters"] == 33482 and len(conv["history"]) == 2 and set(conv["history"][0]) >= {"epoch", "loss"}
    assert metrics["config"]["epochs"] == 2
    loaded = NNClassifier.load(conv["checkpoint"], model="conv")
    assert loaded.classes_.tolist() == list(range(10))


def test_sheet_preset_runs_the_original_recipe(tmp_path, idx_dir):
    args = ["mnist", "--config", "configs/sheet.toml", "--epochs", "1", "--models", "full", "--data-dir", str(idx_dir)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "mnist" / "metrics.json").read_text())
    config = metrics["config"]
    assert (config["optimizer"], config["lr"], config["momentum"], config["batch_size"], config["shuffle"]) == (
        "sgd", 0.01, 0.9, 100, False)  # fmt: skip
    assert metrics["models"]["full"]["batch_size"] == 100 and metrics["models"]["full"]["lr"] == 0.01


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
        (["--models", "linear,big"], "--models 'big': must be one of linear, full, conv"),
        (["--dataset", "cifar"], "--dataset 'cifar': must be one of mnist, fashion-mnist, kmnist, mnist-5k"),
        (["--batch-size", "0"], "--batch-size 0: must be an integer >= 1"),
        (["--lr", "-1"], "--lr -1.0: must be a finite number > 0"),
        (["--optimizer", "rmsprop"], "--optimizer 'rmsprop': must be one of adam, adamw, sgd"),
        (["--device", "tpu"], "--device 'tpu': must be one of auto, cpu, cuda, mps"),
        (["--train-size", "0"], "--train-size 0: must be an integer >= 1"),
        (["--eval-size", "0"], "--eval-size 0: must be an integer >= 1"),
        (["--precision", "fp8"], "--precision 'fp8': must be one of auto, fp32, bf16"),
        (["--schedule", "cosine"], "--schedule 'cosine': must be one of onecycle, constant"),
    ],
)
def test_bad_options(tmp_path, args, fragment):
    result = runner.invoke(app, ["mnist", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_missing_and_broken_data(tmp_path, idx_dir):
    result = runner.invoke(app, ["mnist", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "no such folder" in result.output and result.output.count("\n") == 1
    broken = tmp_path / "broken"
    write_idx_folder(broken)
    (broken / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 10)
    result = runner.invoke(app, ["mnist", "--data-dir", str(broken), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "t10k-images-idx3-ubyte" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "mnist" / "metrics.json").exists()


def test_fashion_offline_without_copy_says_how_to_get_it(tmp_path):
    result = runner.invoke(app, ["mnist", "--dataset", "fashion-mnist", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "apt-get install dataset-fashion-mnist" in result.output


def test_no_fallback_is_an_error(tmp_path):
    result = runner.invoke(app, ["mnist", "--no-fallback", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "MNIST not available" in result.output


def test_ctrl_c_keeps_finished_checkpoints_and_earlier_results(tmp_path, nnlab_command):
    out = tmp_path / "out"
    (out / "mnist").mkdir(parents=True)
    (out / "mnist" / "metrics.json").write_text('{"earlier": true}')
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*nnlab_command, "mnist", "--dataset", "mnist-5k", "--models", "linear,conv", "--epochs", "40",
         "--device", "cpu", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "mnist" / "linear.pt").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "linear never finished"
        time.sleep(0.1)
    time.sleep(1.0)  # now inside the conv model's training
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 3.0
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "linear.pt" in stderr and "Traceback" not in stderr
    assert (out / "mnist" / "metrics.json").read_text() == '{"earlier": true}'
    assert not (out / "mnist" / "conv.pt").exists()
    assert NNClassifier.load(out / "mnist" / "linear.pt", model="linear").classes_.size == 10
    assert not [p for p in (out / "mnist").iterdir() if p.name.startswith(".")]


def test_installed_command_runs_mnist(tmp_path, idx_dir, nnlab_command):
    done = subprocess.run(
        [*nnlab_command, "mnist", "--epochs", "1", "--models", "linear", "--data-dir", str(idx_dir),
         "--out", str(tmp_path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "linear train:" in done.stdout


def test_help_states_the_real_per_model_defaults():
    from nnlab.classifier import DEFAULT_FREEZE_FIRST, DEFAULT_LR

    output = runner.invoke(app, ["mnist", "--help"], env={"COLUMNS": "300"}).output
    text = " ".join(output.replace("│", " ").split())
    assert ", ".join(f"{model} {lr}" for model, lr in DEFAULT_LR["adam"].items()) in text
    assert f"conv {DEFAULT_FREEZE_FIRST['conv']}, others 1" in text
