import os
import shutil
import sys
from pathlib import Path

import pytest

# Tests never touch the network and never read a user's cache.
os.environ.setdefault("NNLAB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNLAB_DATA_DIR", str(tmp_path_factory.mktemp("nnlab-data")))


@pytest.fixture(scope="session")
def nnlab_command() -> list[str]:
    """The installed console script, as a user would run it."""
    script = Path(sys.executable).parent / "nnlab"
    found = str(script) if script.exists() else shutil.which("nnlab")
    assert found, "the nnlab console script is not installed; run make install"
    return [found]
