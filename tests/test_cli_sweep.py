"""`nnlab sweep` end to end, with real processes on loopback: a local cluster, an external `dask scheduler` with two
`dask worker`s (one killed mid-sweep), Ctrl-C, resuming, failures, and the same numbers wherever a trial runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from gated_experiment import GATED, STARTED, open_gate, score
from idx_helpers import write_idx_folder
from processes import temporary_files, wait_for_output
from typer.testing import CliRunner

from nnlab.cli import app
from nnlab.sweep import cluster as sweep_module

runner = CliRunner()
DASK = str(Path(sys.executable).parent / "dask")


def nnlab(nnlab_command, *args, env=None):
    return subprocess.run(
        [*nnlab_command, "sweep", *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def wait_for_files(folder: Path, pattern: str, count: int = 1, timeout: float = 120.0) -> list[Path]:
    """Wait until ``count`` files matching ``pattern`` exist in ``folder`` (they appear as trials finish; a hidden
    temporary file being written does not count)."""
    deadline = time.monotonic() + timeout
    while len(found := sorted(path for path in folder.glob(pattern) if not path.name.startswith("."))) < count:
        assert time.monotonic() < deadline, f"only {len(found)} of {count} {pattern} in {folder}"
        time.sleep(0.02)
    return found


def gated(gate: Path, *grid: str) -> list[str]:
    """The arguments of a sweep of the gated experiment (gated_experiment.py) whose trials wait at ``gate``; run it
    with GATED in the environment."""
    gate.mkdir(exist_ok=True)
    return ["gated", *grid, f"gate={gate}"]


def metrics_by_trial(folder: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text())["metrics"] for path in (folder / "trials").glob("*.json")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cifar"], "unknown command 'cifar' to sweep; choose one of moons, mnist, confidence"),
        (["mnist", "lrr=0.1"], "unknown key 'lrr' for a sweep of mnist; did you mean 'lr'?"),
        (["mnist", "models=conv"], "use model=conv"),
        (["moons", "hidden=big"], "hidden=big: 'big' is not a number"),
        (["moons", "seed="], "seed=: give at least one value"),
        (["moons", "seed=5-1"], "seed=5-1: the range 5-1 is reversed"),
        (["moons", "lr=0.1-0.2"], "only integer keys take ranges"),
        (["moons", "seed=0-999", "hidden=1-11"], "the grid has 11000 trials; a sweep runs at most 10000"),
        (["moons", "--workers", "0"], "--workers 0: must be an integer >= 1 and <= 1024"),
        (["moons", "--scheduler", "not an address"], "--scheduler 'not an address': must be a Dask scheduler address"),
        (["moons", "--scheduler", "tcp://127.0.0.1:99999"], "(tcp, tls, ws or wss; a port from 1 to 65535)"),
        (["moons", "--scheduler", "http://127.0.0.1:8787"], "must be a Dask scheduler address like tcp://host:8786"),
    ],
)
def test_a_bad_sweep_is_refused_before_anything_starts(tmp_path, args, message):
    assert_refused(tmp_path, args, message)


def assert_refused(tmp_path: Path, args: list[str], message: str) -> None:
    """``nnlab sweep ARGS`` exits 2 with the one-line ``message`` and creates nothing."""
    result = runner.invoke(app, ["sweep", *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.cluster
def test_an_unreachable_scheduler_is_one_line_within_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_module, "CONNECT_SECONDS", 1)
    started = time.monotonic()
    result = runner.invoke(app, ["sweep", "moons", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path)])
    elapsed = time.monotonic() - started
    # against a baseline in the same run: a client's connection to a scheduler that is there
    from distributed import Client, LocalCluster

    started = time.monotonic()
    # on loopback only, no dashboard (dashboard_address=None means Dask's default, port 8787 on every interface)
    quiet = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0", "scheduler_kwargs": {"dashboard": False}}
    with LocalCluster(n_workers=0, **quiet) as cluster, Client(cluster):
        baseline = time.monotonic() - started
    assert result.exit_code == 1 and elapsed < 1 + 2 + 50 * baseline, (elapsed, baseline)  # 1: CONNECT_SECONDS
    assert result.stderr.startswith("error: tcp://127.0.0.1:9: cannot reach the Dask scheduler (")
    assert result.stderr.count("\n") == 1 and "drop --scheduler" in result.stderr


@pytest.fixture
def web_server():
    """A plain HTTP server on loopback (what a dashboard's port is), stopped after the test."""
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("scheme", "problem"),
    [
        ("tcp", "no Dask scheduler answered within 2 s (is it the scheduler's address, not its dashboard's?)"),
        ("ws", "cannot reach the Dask scheduler (Non-websocket response)"),
    ],
)
def test_a_web_server_is_no_scheduler_in_one_line_within_seconds(tmp_path, monkeypatch, web_server, scheme, problem):
    # Dask's handshake with a web server waited for an answer for ever (tcp) or crashed (ws).
    monkeypatch.setattr(sweep_module, "CONNECT_SECONDS", 1)
    monkeypatch.setattr(sweep_module, "HANDSHAKE_SECONDS", 1)
    started = time.monotonic()
    address = f"{scheme}://127.0.0.1:{web_server}"
    result = runner.invoke(app, ["sweep", "moons", "--scheduler", address, "--out", str(tmp_path)])
    assert result.exit_code == 1 and time.monotonic() - started < 15
    assert result.stderr.startswith(f"error: {address}: {problem}; start one with") and result.stderr.count("\n") == 1


@pytest.mark.cluster
def test_a_local_sweep_writes_its_results_resumes_and_grows(tmp_path, nnlab_command):
    out = tmp_path / "out"
    grid = ["iters=8", "hidden=10,50", "seed=0-3"]
    first = nnlab(nnlab_command, "moons", *grid, "--workers", "2", "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "sweep of moons: 8 trials; 0 finished earlier, running 8 on a local cluster of 2 workers" in first.stdout
    assert "hidden=10: 4 of 4 trials" in first.stdout and "paired comparisons" in first.stdout
    folder = out / "sweep" / "moons"
    assert len(list((folder / "trials").glob("*.json"))) == 8
    rows = (folder / "trials.csv").read_text().splitlines()
    assert rows[0] == "trial,iters,hidden,seed,status,accuracy,error,zero_error_iteration,seconds,worker,reason"
    assert len(rows) == 9 and all(",ok," in row for row in rows[1:])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["command"] == "moons" and summary["metrics"] == ["accuracy", "error", "zero_error_iteration"]
    group = summary["groups"][0]
    assert group["settings"] == {"iters": 8, "hidden": 10} and group["n"] == 4
    assert set(group["metrics"]["accuracy"]) == {"n", "mean", "std", "ci95", "note", "outside_range"}
    comparison = summary["comparisons"][0]
    assert {k: comparison[k] for k in ("key", "a", "b", "test")} == {
        "key": "hidden",
        "a": 10,
        "b": 50,
        "test": "paired t",
    }
    assert set(comparison) >= {"metric", "n_pairs", "mean_difference", "ci95", "p_value"}
    assert (folder / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Sweep of moons: 8 trials in 2 groups" in (out / "index.html").read_text()
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("nnlab-sweep-*"))  # the cluster's scratch space

    again = nnlab(nnlab_command, "moons", *grid, "--out", str(out))
    assert again.returncode == 0 and "8 finished earlier, running 0" in again.stdout
    repeated = json.loads((folder / "summary.json").read_text())
    assert repeated["groups"] == summary["groups"] and repeated["comparisons"] == summary["comparisons"]

    grown = nnlab(nnlab_command, "moons", "iters=8", "hidden=10,50", "seed=0-5", "--out", str(out))
    assert grown.returncode == 0 and "12 trials; 8 finished earlier, running 4" in grown.stdout
    fresh = nnlab(nnlab_command, "moons", *grid, "--fresh", "--out", str(out))
    assert fresh.returncode == 0 and "0 finished earlier, running 8" in fresh.stdout


@pytest.mark.cluster
def test_an_external_cluster_survives_a_killed_worker_with_the_same_numbers(
    tmp_path, nnlab_command, dask_cluster, spawn
):
    address, (doomed, survivor) = dask_cluster
    gate, out = tmp_path / "gate", tmp_path / "external"
    grid = gated(gate, "shift=0,0.5", "seed=0-11")
    process = spawn(
        [*nnlab_command, "sweep", *grid, "--scheduler", address, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **GATED},
    )
    wait_for_files(gate, STARTED, count=2)  # each worker in a trial
    doomed.kill()  # mid-trial: its trials run again on the other worker
    open_gate(gate)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert f"24 trials; 0 finished earlier, running 24 on {address}" in stdout
    summary = json.loads((out / "sweep" / "gated" / "summary.json").read_text())
    assert len(set(summary["trials"])) == 24 and [g["n"] for g in summary["groups"]] == [12, 12]
    rows = (out / "sweep" / "gated" / "trials.csv").read_text().splitlines()[1:]
    assert len(rows) == 24 and len({row.split(",")[0] for row in rows}) == 24  # every trial exactly once
    assert len(list(gate.glob(STARTED))) >= 25  # the killed worker's trial started twice
    assert survivor.poll() is None
    records = [json.loads(path.read_text()) for path in (out / "sweep" / "gated" / "trials").glob("*.json")]
    scores = sorted((r["settings"]["shift"], r["settings"]["seed"], r["metrics"]["score"]) for r in records)
    assert scores == [(shift, seed, score(seed, shift)) for shift in (0.0, 0.5) for seed in range(12)]


@pytest.mark.cluster
def test_ctrl_c_stops_the_cluster_keeps_finished_trials_and_resumes(tmp_path, nnlab_command, spawn):
    out, scratch, gate = tmp_path / "out", tmp_path / "tmp", tmp_path / "gate"
    scratch.mkdir()
    grid = gated(gate, "free=2", "seed=0-15")  # two trials finish, then each worker waits in one
    process = spawn(
        [*nnlab_command, "sweep", *grid, "--workers", "2", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **GATED, "TMPDIR": str(scratch)},
    )
    trials = out / "sweep" / "gated" / "trials"
    wait_for_files(trials, "*.json", count=2)
    wait_for_files(gate, STARTED, count=4)
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 2  # the workers
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    kept = f"kept the 2 trials finished in {trials}"
    assert stderr == f"error: interrupted; {kept}; run the same command again to resume\n"
    assert len(list(trials.glob("*.json"))) == 2
    psutil.wait_procs(children, timeout=10)
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert list(scratch.iterdir()) == [] and temporary_files(out) == []
    open_gate(gate)
    resumed = nnlab(nnlab_command, *grid, "--out", str(out), env=GATED)
    assert resumed.returncode == 0 and "16 trials; 2 finished earlier, running 14" in resumed.stdout


def processes_started_with(scratch: Path) -> list[psutil.Process]:
    """Every process still alive whose TMPDIR is ``scratch``: the sweep's and everything it started."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("TMPDIR") == str(scratch) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("stage", "signals", "code"),
    [
        ("starting", [signal.SIGTERM], 143),  # while the workers start
        ("running", [signal.SIGTERM], 143),
        ("running", [signal.SIGINT, signal.SIGINT], 130),  # a second Ctrl-C while the cluster is stopping
    ],
)
def test_a_stopped_sweep_leaves_no_process_and_no_scratch_file(tmp_path, nnlab_command, spawn, stage, signals, code):
    out, scratch, gate = tmp_path / "out", tmp_path / "tmp", tmp_path / "gate"
    scratch.mkdir()
    process = spawn(
        [*nnlab_command, "sweep", *gated(gate, "free=1", "seed=0-15"), "--workers", "2", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **GATED, "TMPDIR": str(scratch)},
    )
    if stage == "starting":
        wait_for_output(process, "on a local cluster of 2 workers")
    else:
        wait_for_files(out / "sweep" / "gated" / "trials", "*.json")
        wait_for_files(gate, STARTED, count=3)  # one trial finished, each worker in the next
    for signum in signals:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code and stderr.count("\n") == 1, stderr
    assert stderr.startswith("error: terminated;" if code == 143 else "error: interrupted;")
    if stage == "running":
        assert "; kept the trial finished in " in stderr
    assert processes_started_with(scratch) == [] and list(scratch.iterdir()) == [] and temporary_files(out) == []


@pytest.mark.cluster
def test_workers_end_by_themselves_when_their_client_is_killed(tmp_path, nnlab_command, spawn):
    out, scratch, gate = tmp_path / "out", tmp_path / "tmp", tmp_path / "gate"
    scratch.mkdir()
    args = ["sweep", *gated(gate, "free=1", "seed=0-15"), "--workers", "2", "--out", str(out)]
    env = {**os.environ, **GATED, "TMPDIR": str(scratch)}
    process = spawn([*nnlab_command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_for_files(gate, STARTED, count=3)  # each worker in a trial
    workers = psutil.Process(process.pid).children(recursive=True)
    assert len(workers) >= 2
    process.kill()
    process.wait()
    _, alive = psutil.wait_procs(workers, timeout=60)  # they lose their scheduler and close
    assert alive == []
    [left] = scratch.iterdir()  # kill -9 leaves the scratch folder; the next sweep removes it
    open_gate(gate)
    done = subprocess.run([*nnlab_command, *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not left.exists() and list(scratch.iterdir()) == []


@pytest.mark.cluster
def test_failed_trials_are_recorded_the_rest_summarised_and_exit_1(tmp_path, nnlab_command):
    from nnlab.sweep.grid import parse_grid, trials
    from nnlab.trials import run_trial

    good, broken = tmp_path / "good", tmp_path / "broken"
    write_idx_folder(good, n_train=100, n_test=40)
    broken.mkdir()
    (broken / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03 not an IDX file")
    grid = ["model=linear", "epochs=1", "seed=0-1", f"data_dir={good},{broken}"]
    done = nnlab(nnlab_command, "mnist", *grid, "--workers", "1", "--out", str(tmp_path / "out"))  # one torch start
    assert done.returncode == 1
    assert done.stderr.startswith("error: 2 of 4 trials failed (the first: DataError: ")
    folder = tmp_path / "out" / "sweep" / "mnist"
    summary = json.loads((folder / "summary.json").read_text())
    assert [(g["n"], g["failed"]) for g in summary["groups"]] == [(2, 0), (0, 2)]
    assert "2 failed: left out of the statistics" in done.stdout
    # a trial computes the same numbers on a worker as anywhere else (one torch thread, same seed)
    import torch

    threads = torch.get_num_threads()
    try:
        for trial in trials(parse_grid("mnist", [*grid[:3], f"data_dir={good}"])):
            recorded = json.loads((folder / "trials" / f"{trial.id}.json").read_text())
            here = run_trial("mnist", trial.settings)["metrics"]
            assert {k: v for k, v in recorded["metrics"].items() if k != "fit_seconds"} == {
                k: v for k, v in here.items() if k != "fit_seconds"
            }
    finally:
        torch.set_num_threads(threads)


@pytest.mark.cluster
def test_more_workers_than_cores_start_as_many_as_cores_with_a_warning(tmp_path):
    from nnlab.sweep.cluster import default_workers

    cores = default_workers()
    result = runner.invoke(app, ["sweep", "moons", "seed=0-1", "iters=5", "--workers", "500", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"warning: --workers 500: more than the {cores} CPU cores here (each worker runs one trial at a time on one "
        f"core); starting {cores}\n"
    )
    assert f"on a local cluster of {cores} workers" in result.stdout
