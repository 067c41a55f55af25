"""The installed `nnlab` command in a subprocess, as a user meets it: one test per exit code. Every foreseeable
problem gives one line on stderr, the documented exit code, no traceback, and leaves earlier results untouched.
(The many ways to get each code are tested in-process, in the test_cli_* modules.)"""

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from processes import temporary_files, wait_for_output

pytestmark = pytest.mark.slow  # real nnlab processes: left out of make test-fast


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def run(nnlab_command, *args, cwd=None):
    return subprocess.run([*nnlab_command, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def start(spawn, nnlab_command, *args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return spawn([*nnlab_command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory, nnlab_command):
    """An output folder with a finished moons run, as a user's earlier results (exit code 0)."""
    out = tmp_path_factory.mktemp("earlier")
    done = run(nnlab_command, "moons", "--iters", "2", "--out", str(out))
    assert done.returncode == 0 and "final error" in done.stdout and done.stderr == ""
    return out


def test_exit_2_a_bad_option(nnlab_command, earlier_run, tmp_path):
    before = snapshot(earlier_run)
    done = run(nnlab_command, "moons", "--iters", "-3", "--out", str(earlier_run), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: --iters -3: must be an integer >= 0 and <= 1000000\n"
    assert snapshot(earlier_run) == before


def test_exit_1_an_unusable_output_folder(nnlab_command, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    done = run(nnlab_command, "moons", "--out", str(blocker / "sub"))
    assert done.returncode == 1
    assert (
        done.stderr
        == f"error: --out {blocker / 'sub'}: a part of this path is a file, not a folder; choose another --out\n"
    )
    assert blocker.read_text() == "mine"


@pytest.mark.slow
def test_exit_130_ctrl_c_keeps_finished_checkpoints_apart_and_earlier_results(tmp_path, nnlab_command, spawn):
    out = tmp_path / "out"
    (out / "mnist").mkdir(parents=True)
    (out / "mnist" / "metrics.json").write_text('{"earlier": true}')
    process = start(
        spawn,
        nnlab_command,
        "mnist",
        "--dataset",
        "mnist-5k",
        "--train-size",
        "400",
        "--models",
        "linear,conv",
        "--epochs",
        "30",
        "--device",
        "cpu",
        "--out",
        str(out),
    )
    wait_for_output(process, "linear: test accuracy")  # linear is finished; conv is training
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 3.0
    assert process.returncode == 130, stderr
    partial = out / "mnist-partial"
    assert stderr == f"error: interrupted; kept the checkpoints of finished models in {partial}: linear.pt\n"
    assert (out / "mnist" / "metrics.json").read_text() == '{"earlier": true}'
    assert [p.name for p in (out / "mnist").iterdir()] == ["metrics.json"]
    assert sorted(p.name for p in partial.iterdir()) == ["linear.pt", "metrics.json"]
    kept = json.loads((partial / "metrics.json").read_text())
    assert kept["status"] == "interrupted" and list(kept["models"]) == ["linear"]
    assert kept["models"]["linear"]["checkpoint"] == str(partial / "linear.pt")
    assert temporary_files(out) == []


@pytest.mark.slow
def test_exit_143_sigterm_is_handled_like_ctrl_c(tmp_path, nnlab_command, spawn):
    out = tmp_path / "out"
    assert run(nnlab_command, "moons", "--iters", "2", "--out", str(out)).returncode == 0
    before = snapshot(out)
    process = start(spawn, nnlab_command, "moons", "--iters", "1000000", "--snapshots", "0", "--out", str(out))
    wait_for_output(process, "training:")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143
    assert stderr == "error: terminated; no output was changed\n"
    assert snapshot(out) == before and temporary_files(out) == []


def test_exit_143_also_for_a_command_without_settings(tmp_path, nnlab_command, spawn):
    # nnlab index is a plain typer command: typer turns the stop into exit code 130, which said "interrupted".
    from nnlab.files import output_lock

    out = tmp_path / "out"
    assert run(nnlab_command, "moons", "--iters", "2", "--out", str(out)).returncode == 0
    with output_lock(out, "the test"):
        process = start(spawn, nnlab_command, "index", "--wait", "--out", str(out))
        wait_for_output(process, "waiting for", stream="stderr")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143 and stderr.endswith("error: terminated; no output was changed\n")


@pytest.mark.slow
def test_exit_0_when_the_reader_of_the_output_goes_away(tmp_path, nnlab_command, spawn):
    process = start(spawn, nnlab_command, "moons", "--iters", "3", "--out", str(tmp_path))
    wait_for_output(process, "training:")
    process.stdout.close()  # `nnlab moons | head -1`
    process.wait(timeout=60)
    assert process.returncode == 0 and process.stderr.read() == ""
    assert json.loads((tmp_path / "moons" / "metrics.json").read_text())["config"]["iters"] == 3
    assert temporary_files(tmp_path) == []
    closed = subprocess.run(
        [*nnlab_command, "moons", "--iters", "3", "--out", str(tmp_path / "b")],
        preexec_fn=lambda: os.close(1),
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )  # `nnlab moons >&-`
    assert closed.returncode == 0 and closed.stderr == ""
    assert (tmp_path / "b" / "moons" / "metrics.json").is_file()
