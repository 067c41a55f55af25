"""--tensorboard: event files read back with TensorBoard's own reader agree with each command's metrics file, a sweep's
HParams sessions with its trials.csv, a real TensorBoard server serves them, and a run that did not finish says so."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from processes import wait_for_output
from typer.testing import CliRunner

from nnlab.cli import app

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata

runner = CliRunner()
TENSORBOARD = str(Path(sys.executable).parent / "tensorboard")
RUN = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def session(accumulator: EventAccumulator) -> tuple[dict, str]:
    """The HParams of the run's session, and its end status."""
    content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    values = {}
    for key, value in start.hparams.items():
        kind = value.WhichOneof("kind")
        values[key] = getattr(value, kind)
    return values, metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG]).status


def the_run(out: Path, command: str) -> Path:
    [run] = (out / "tensorboard" / command).iterdir()
    return run


def close(values: list[tuple[int, float]], expected: list[tuple[int, float]]) -> bool:
    """Steps equal, values equal to float32 precision (what an event file stores)."""
    return [step for step, _ in values] == [step for step, _ in expected] and all(
        value == pytest.approx(want, rel=1e-6, abs=1e-7) for (_, value), (_, want) in zip(values, expected)
    )


def test_moons_logs_every_iteration_the_boundaries_and_its_settings(tmp_path):
    done = runner.invoke(
        app, ["moons", "--iters", "16", "--snapshots", "0,8,16", "--tensorboard", "--out", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    run = the_run(tmp_path, "moons")
    assert RUN.fullmatch(run.name), run.name  # finished: no suffix
    metrics = json.loads((tmp_path / "moons" / "metrics.json").read_text())
    logged = events(run)
    for name in ("error", "accuracy"):
        assert close(scalars(logged, name), [(row["iteration"], row[name]) for row in metrics["history"]])
    assert [event.step for event in logged.Images("decision_boundary")] == [0, 8, 16]
    hparams, _ = session(logged)
    assert hparams["hidden"] == 50 and hparams["iters"] == 16 and "out" not in hparams
    assert f"this run: {run.name}" in done.stdout and f"--logdir {tmp_path / 'tensorboard'}" in done.stdout
    assert f"<code>moons/{run.name}</code>" in (tmp_path / "index.html").read_text()
    assert "<p>1 run (a run that did not finish" in (tmp_path / "index.html").read_text()
    listed = runner.invoke(app, ["index", "--out", str(tmp_path)])
    assert f"TensorBoard: 1 run; tensorboard --logdir {tmp_path / 'tensorboard'}" in listed.stdout


def test_mnist_logs_each_model_as_it_trains(tmp_path):
    args = ["mnist", "--dataset", "mnist-5k", "--models", "linear,conv", "--epochs", "2", "--train-size", "800"]
    done = runner.invoke(app, [*args, "--quiet", "--tensorboard", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    run = the_run(tmp_path, "mnist")
    metrics = json.loads((tmp_path / "mnist" / "metrics.json").read_text())
    assert sorted(path.name for path in run.iterdir()) == ["conv", "linear"]
    for name, model in metrics["models"].items():
        logged = events(run / name)
        for column in ("loss", "train_accuracy", "validation_accuracy"):
            expected = [(row["epoch"], row[column]) for row in model["history"]]
            assert close(scalars(logged, f"epoch/{column}"), expected), (name, column)
        for column in ("train_accuracy", "test_accuracy", "test_accuracy_all"):
            assert close(scalars(logged, f"final/{column}"), [(0, model[column])])
        loss = scalars(logged, "train/loss")  # every 20 steps, by images seen, and at each epoch's end
        steps = [step for step, _ in loss]
        assert steps == sorted(steps) and len(steps) >= 4 and 800 in steps and 1600 in steps
        assert dict(loss)[1600] == pytest.approx(model["history"][-1]["loss"], rel=1e-6)
        assert [lr for _, lr in scalars(logged, "train/lr")][-1] < model["lr"]  # the one-cycle schedule's tail
        assert [event.step for event in logged.Images("confusion_matrix")] == [2]
        hparams, status = session(logged)
        assert hparams["model"] == name and hparams["dataset"] == "mnist-5k" and hparams["epochs"] == 2
        assert status == 1  # STATUS_SUCCESS


@pytest.mark.cluster
def test_a_sweep_logs_every_trial_as_an_hparams_session_like_trials_csv(tmp_path):
    args = ["sweep", "moons", "hidden=1,10", "seed=0-2", "iters=200", "--tensorboard", "--out", str(tmp_path)]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    run = the_run(tmp_path, "sweep/moons")
    with open(tmp_path / "sweep" / "moons" / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    for row in rows:
        logged = events(run / row["trial"])
        hparams, _ = session(logged)
        keys = list(row)[1 : list(row).index("status")]  # the swept keys, the seed last
        assert keys == ["hidden", "iters", "seed"]
        assert hparams == {key: float(row[key]) for key in keys} | {"status": row["status"]}
        for name in ("accuracy", "error"):
            assert close(scalars(logged, name), [(0, float(row[name]))])
    summary = json.loads((tmp_path / "sweep" / "moons" / "summary.json").read_text())
    for group in summary["groups"]:
        assert group["settings"]["iters"] == 200
        logged = events(run / f"group hidden={group['settings']['hidden']} iters=200")
        assert close(scalars(logged, "mean/accuracy"), [(group["n"], group["metrics"]["accuracy"]["mean"])])
    resumed = runner.invoke(app, args)  # a second run: its own folder, the trials finished earlier in it too
    assert resumed.exit_code == 0
    runs = sorted((tmp_path / "tensorboard" / "sweep" / "moons").iterdir())
    assert len(runs) == 2 and len([p for p in runs[1].iterdir() if not p.name.startswith("group")]) == 6


def test_a_run_that_fails_says_so_and_one_that_logged_nothing_leaves_nothing(tmp_path):
    from nnlab import tensorboard

    with pytest.raises(RuntimeError), tensorboard.recording(tmp_path, "toy", {"a": 1}, enabled=True) as run:
        run.writer().add_scalar("x", 1.0, 0)
        assert run.path.name.endswith("-running") and tensorboard.active() is run
        raise RuntimeError("a failure after some events")
    failed = the_run(tmp_path, "toy")
    assert failed.name.endswith("-failed") and scalars(events(failed), "x") == [(0, 1.0)]
    assert tensorboard.active() is None
    missing = runner.invoke(
        app, ["mnist", "--data-dir", str(tmp_path / "none"), "--tensorboard", "--out", str(tmp_path)]
    )
    assert missing.exit_code == 1 and list((tmp_path / "tensorboard" / "mnist").iterdir()) == []


@pytest.mark.slow
def test_an_interrupted_run_says_so_and_keeps_its_events(tmp_path, nnlab_command, spawn):
    args = ["mnist", "--dataset", "mnist-5k", "--models", "linear,conv", "--epochs", "6", "--tensorboard"]
    process = spawn(
        [*nnlab_command, *args, "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_output(process, "linear: test accuracy")  # the first model is done: its events are written
    assert the_run(tmp_path, "mnist").name.endswith("-running")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    run = the_run(tmp_path, "mnist")
    assert run.name.endswith("-interrupted") and RUN.fullmatch(run.name.removesuffix("-interrupted"))
    assert scalars(events(run / "linear"), "epoch/loss")[-1][0] == 6


def test_without_the_package_it_is_one_line_and_nothing_starts(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    result = runner.invoke(app, ["moons", "--tensorboard", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --tensorboard: needs the tensorboard package; install it with pip install 'nnlab[tensorboard]'\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_help_and_moons_never_import_tensorboard_unless_asked(tmp_path):
    code = (
        "import sys\nfrom nnlab.cli import app\n"
        f"try:\n    app(['moons', '--iters', '2', '--out', {str(tmp_path)!r}])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('tensorboard', 'torch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr


@pytest.mark.slow
def test_a_real_tensorboard_serves_the_runs_and_tags(tmp_path, spawn):
    assert runner.invoke(app, ["moons", "--iters", "8", "--tensorboard", "--out", str(tmp_path)]).exit_code == 0
    run = the_run(tmp_path, "moons")
    server = spawn(
        [TENSORBOARD, "--logdir", str(tmp_path / "tensorboard"), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = wait_for_output(server, "http://127.0.0.1:", stream="stderr", timeout=60)
    address = re.search(r"http://127\.0\.0\.1:\d+/", started).group(0)

    def get(path: str) -> object:
        with urllib.request.urlopen(address + path, timeout=30) as response:
            return json.loads(response.read())

    assert get("data/runs") == [f"moons/{run.name}"]
    tags = get("data/plugin/scalars/tags")[f"moons/{run.name}"]
    assert {"error", "accuracy", "final/error", "final/accuracy"} <= tags.keys()
    points = get(f"data/plugin/scalars/scalars?run=moons/{run.name}&tag=error")
    assert [point[1] for point in points] == list(range(9))
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


def test_the_help_says_which_extra_to_install(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    shown = runner.invoke(app, ["moons", "--help"])
    assert "needs nnlab[tensorboard])" in shown.output  # the declared help is text, not rich markup


def test_a_long_moons_run_logs_a_thousand_evenly_spaced_iterations(tmp_path):

    done = runner.invoke(app, ["moons", "--iters", "3000", "--tensorboard", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    history = json.loads((tmp_path / "moons" / "metrics.json").read_text())["history"]
    logged = scalars(events(the_run(tmp_path, "moons")), "error")
    assert len(logged) == 1000 and logged[0][0] == 0 and logged[-1][0] == 3000
    assert close(logged, [(step, history[step]["error"]) for step, _ in logged])
