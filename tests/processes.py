"""Helpers for tests that run real processes: wait for what they print, never for a fixed time."""

from __future__ import annotations

import os
import selectors
import subprocess
import time


def wait_for_output(process: subprocess.Popen, marker: str, timeout: float = 120.0, stream: str = "stdout") -> str:
    """Read the process's stdout (or ``stream``) until it contains ``marker``; returns everything read. Fails if
    the process ends first or ``timeout`` seconds pass."""
    pipe = getattr(process, stream)
    assert pipe is not None
    os.set_blocking(pipe.fileno(), False)
    selector = selectors.DefaultSelector()
    selector.register(pipe, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    try:
        while marker not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{marker!r} never appeared; output so far: {seen!r}"
            if selector.select(timeout=remaining):
                chunk = pipe.read()
                if chunk == "" and process.poll() is not None:
                    raise AssertionError(f"the process ended before {marker!r}: {seen!r}")
                seen += chunk or ""
    finally:
        selector.close()
        os.set_blocking(pipe.fileno(), True)
    return seen


def temporary_files(folder) -> list[str]:
    """Hidden temporary files nnlab would leave behind if it failed to clean up."""
    return sorted(str(p) for p in folder.rglob(".*") if ".tmp" in p.name or p.name.startswith(".download-"))


def wait_for_text(path, marker: str, process: subprocess.Popen, timeout: float = 120.0) -> str:
    """Wait until the file at ``path`` (a process's log) contains ``marker``; returns its text."""
    deadline = time.monotonic() + timeout
    while marker not in (text := path.read_text() if path.exists() else ""):
        assert process.poll() is None, f"the process ended before {marker!r}: {text!r}"
        assert time.monotonic() < deadline, f"{marker!r} never appeared in {path}: {text!r}"
        time.sleep(0.02)
    return text
