import json

import pytest
from idx_helpers import write_idx_folder
from typer.testing import CliRunner

from nnlab.cli import app

pytestmark = pytest.mark.slow  # trains networks through the command: left out of make test-fast

runner = CliRunner()


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    write_idx_folder(folder, n_train=300, n_test=100, gz=True)
    return folder


def test_mnist_writes_checkpoints_curves_confusions_and_metrics(tmp_path, idx_dir):
    from nnlab.classifier import NNClassifier

    result = runner.invoke(
        app, ["mnist", "--epochs", "2", "--data-dir", str(idx_dir), "--eval-size", "50", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "data: mnist: 300 training and 100 test images" in result.output
    for name in ("linear", "full", "conv"):
        assert f"{name:>10} train: " in result.output
        assert f"{name}: test accuracy " in result.output
    folder = tmp_path / "mnist"
    names = {p.name for p in folder.iterdir()}
    assert names == {
        "linear.pt",
        "full.pt",
        "conv.pt",
        "learning_curves.png",
        "confusion_linear.png",
        "confusion_full.png",
        "confusion_conv.png",
        "metrics.json",
    }
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["command"] == "mnist" and metrics["status"] == "complete"
    assert metrics["dataset"] == {
        "name": "mnist",
        "source": metrics["dataset"]["source"],
        "train_size": 300,
        "test_size": 100,
    }
    assert metrics["eval"] == {"train": 50, "test": 50}
    assert sorted(p.rsplit("/", 1)[1] for p in metrics["files"]) == sorted(names)
    conv = metrics["models"]["conv"]
    assert set(conv) >= {
        "train_accuracy",
        "test_accuracy",
        "test_accuracy_all",
        "fit_seconds",
        "parameters",
        "checkpoint",
        "history",
    }
    assert conv["parameters"] == 33482 and len(conv["history"]) == 2 and set(conv["history"][0]) >= {"epoch", "loss"}
    assert metrics["config"]["epochs"] == 2 and metrics["config"]["label_smoothing"] == 0.0
    loaded = NNClassifier.load(conv["checkpoint"], model="conv")
    assert loaded.classes_.tolist() == list(range(10))
    assert loaded.metadata_["dataset"]["train_size"] == 300


def test_sheet_preset_runs_the_original_recipe(tmp_path, idx_dir):
    args = ["mnist", "--config", "configs/sheet.toml", "--epochs", "1", "--models", "full", "--data-dir", str(idx_dir)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "mnist" / "metrics.json").read_text())
    config = metrics["config"]
    assert (config["optimizer"], config["lr"], config["momentum"], config["batch_size"], config["shuffle"]) == (
        "sgd",
        0.01,
        0.9,
        100,
        False,
    )
    assert metrics["models"]["full"]["batch_size"] == 100 and metrics["models"]["full"]["lr"] == 0.01


def test_label_smoothing_reaches_training(tmp_path, idx_dir):
    args = ["mnist", "--epochs", "1", "--models", "linear", "--data-dir", str(idx_dir), "--out"]
    plain = runner.invoke(app, [*args, str(tmp_path / "a")])
    smoothed = runner.invoke(app, [*args, str(tmp_path / "b"), "--label-smoothing", "0.2"])
    assert plain.exit_code == smoothed.exit_code == 0, smoothed.output
    loss = {
        run: json.loads((tmp_path / run / "mnist" / "metrics.json").read_text())["models"]["linear"]["history"][0]
        for run in ("a", "b")
    }
    assert loss["b"]["loss"] > loss["a"]["loss"]  # smoothed targets cannot be fitted as tightly
    assert json.loads((tmp_path / "b" / "mnist" / "metrics.json").read_text())["config"]["label_smoothing"] == 0.2


def test_train_size_above_the_data_is_said_and_headers_count_real_images(tmp_path, idx_dir):
    args = ["mnist", "--epochs", "1", "--models", "linear", "--train-size", "1000", "--data-dir", str(idx_dir)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--train-size 1000 is more than the 300 training images of mnist; trained on all 300" in result.stderr
    assert "train acc (first 300)" in result.stdout and "test acc (first 100)" in result.stdout


BAD_OPTIONS = [
    (["--epochs", "0"], "--epochs 0: must be an integer >= 1"),
    (["--epochs", "100000"], "--epochs 100000: must be an integer >= 1 and <= 1000"),
    (["--models", "linear,big"], "--models 'big': must be one of linear, full, conv"),
    (["--models", "cnn"], "--models 'cnn': must be one of linear, full, conv"),
    (["--models", "linear,linear"], "--models 'linear,linear': must be a list without repeats"),
    (["--models", ""], "--models '': must be a non-empty list of names, each one of linear, full, conv"),
    (["--dataset", "cifar"], "--dataset 'cifar': must be one of mnist, fashion-mnist, kmnist, mnist-5k"),
    (["--batch-size", "0"], "--batch-size 0: must be an integer >= 1"),
    (["--batch-size", "-1"], "--batch-size -1: must be an integer >= 1"),
    (["--lr", "-1"], "--lr -1.0: must be a finite number > 0"),
    (["--lr", "inf"], "--lr inf: must be a finite number > 0"),
    (["--optimizer", "rmsprop"], "--optimizer 'rmsprop': must be one of adam, adamw, sgd"),
    (["--momentum", "1.5"], "--momentum 1.5: must be a finite number >= 0 and < 1"),
    (["--weight-decay", "-1"], "--weight-decay -1.0: must be a finite number >= 0"),
    (["--label-smoothing", "1"], "--label-smoothing 1.0: must be a finite number >= 0 and < 1"),
    (["--schedule", "cosine"], "--schedule 'cosine': must be one of onecycle, constant"),
    (["--precision", "fp8"], "--precision 'fp8': must be one of auto, fp32, bf16"),
    (["--freeze-first", "2"], "--freeze-first 2.0: must be a finite number >= 0 and <= 1"),
    (["--seed", "x"], "Invalid value for '--seed'"),
    (["--seed", "-1"], "--seed -1: must be an integer >= 0"),
    (["--device", "tpu"], "--device 'tpu': must be one of auto, cpu, cuda, mps"),
    (["--train-size", "0"], "--train-size 0: must be an integer >= 1"),
    (["--eval-size", "0"], "--eval-size 0: must be an integer >= 1"),
    (["--eval-size", "-5"], "--eval-size -5: must be an integer >= 1"),
    (["--data-dir", "a\x00b"], "--data-dir 'a\\x00b': must be a path without NUL characters"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_options(tmp_path, args, fragment):
    result = runner.invoke(app, ["mnist", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and fragment in result.stderr and result.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_missing_and_broken_data(tmp_path):
    result = runner.invoke(app, ["mnist", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert f"--data-dir {tmp_path / 'none'}: no such folder" in result.stderr
    broken = tmp_path / "broken"
    write_idx_folder(broken)
    (broken / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 10)
    result = runner.invoke(app, ["mnist", "--data-dir", str(broken), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "t10k-images-idx3-ubyte" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "mnist" / "metrics.json").exists()


def test_data_dir_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["mnist", "--data-dir", str(tmp_path / "file"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and f"--data-dir {tmp_path / 'file'}: is a file, not a folder" in result.stderr


def test_fashion_offline_without_copy_says_how_to_get_it(tmp_path):
    result = runner.invoke(app, ["mnist", "--dataset", "fashion-mnist", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "apt-get install dataset-fashion-mnist, then --data-dir" in result.stderr


def test_no_fallback_is_an_error(tmp_path):
    result = runner.invoke(app, ["mnist", "--no-fallback", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "MNIST not available" in result.stderr and "drop --no-fallback" in result.stderr


def test_diverging_training_is_exit_1_and_keeps_earlier_results(tmp_path, idx_dir):
    out = tmp_path / "out"
    (out / "mnist").mkdir(parents=True)
    (out / "mnist" / "metrics.json").write_text('{"earlier": true}')
    args = [
        "mnist",
        "--models",
        "full",
        "--epochs",
        "1",
        "--lr",
        "1e9",
        "--optimizer",
        "sgd",
        "--schedule",
        "constant",
        "--data-dir",
        str(idx_dir),
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "the full model's loss" in result.stderr and "try a smaller --lr (it was 1e+09)" in result.stderr
    assert [p.name for p in (out / "mnist").iterdir()] == ["metrics.json"]
    assert (out / "mnist" / "metrics.json").read_text() == '{"earlier": true}'


def test_help_states_the_real_per_model_defaults():
    from nnlab.models import MODELS

    output = runner.invoke(app, ["mnist", "--help"], env={"COLUMNS": "300"}).output
    text = " ".join(output.replace("│", " ").split())
    assert ", ".join(f"{model} {spec.lr['adam']}" for model, spec in MODELS.items()) in text
    assert "per model: " + ", ".join(f"{m} {spec.freeze_first:g}" for m, spec in MODELS.items()) in text
    assert "--label-smoothing" in text and "(default: 0.0)" in text


def test_a_full_disk_while_writing_the_outputs_changes_nothing(tmp_path, idx_dir, monkeypatch):
    import errno

    from matplotlib.figure import Figure

    args = ["mnist", "--epochs", "1", "--models", "linear", "--data-dir", str(idx_dir), "--out", str(tmp_path)]
    assert runner.invoke(app, args).exit_code == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "mnist").iterdir()}

    def full(self, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(Figure, "savefig", full)
    result = runner.invoke(app, [*args, "--seed", "1"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot write {tmp_path / 'mnist' / 'learning_curves.png'}: no space left on the "
        "device; free some space or choose another --out\n"
    )
    assert {p.name: p.read_bytes() for p in (tmp_path / "mnist").iterdir()} == before  # old set, no temporaries


def test_exactly_four_optimizer_steps(tmp_path):
    args = ["mnist", "--dataset", "mnist-5k", "--batch-size", "1000", "--epochs", "1", "--models", "linear"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", ["mnist", "confidence"])
def test_a_model_that_learned_nothing_is_exit_1_and_keeps_earlier_results(tmp_path, idx_dir, command):
    out = tmp_path / "out"
    (out / command).mkdir(parents=True)
    (out / command / "metrics.json").write_text('{"earlier": true}')
    model = ["--models", "full"] if command == "mnist" else ["--model", "full"]
    args = [*model, "--epochs", "1", "--lr", "1e-9", "--optimizer", "sgd", "--schedule", "constant"]
    result = runner.invoke(app, [command, *args, "--data-dir", str(idx_dir), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: the full model learned nothing: it is right on ")
    assert "try a smaller --lr (it was 1e-09) or more --epochs" in result.stderr and result.stderr.count("\n") == 1
    assert [p.name for p in (out / command).iterdir()] == ["metrics.json"]
    assert (out / command / "metrics.json").read_text() == '{"earlier": true}'
