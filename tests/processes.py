"""Helpers for tests that run real processes: wait for what they print, never for a fixed time."""

from __future__ import annotations

import os
import selectors
import subprocess
import time


def wait_for_output(process: subprocess.Popen, marker: str, timeout: float = 120.0) -> str:
    """Read the process's stdout until a line contains ``marker``; returns everything read. Fails if the process
    ends first or ``timeout`` seconds pass."""
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    try:
        while marker not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{marker!r} never appeared; output so far: {seen!r}"
            if selector.select(timeout=remaining):
                chunk = process.stdout.read()
                if chunk == "" and process.poll() is not None:
                    raise AssertionError(f"the process ended before {marker!r}: {seen!r} {process.stderr.read()!r}")
                seen += chunk or ""
    finally:
        selector.close()
        os.set_blocking(process.stdout.fileno(), True)
    return seen


def temporary_files(folder) -> list[str]:
    """Hidden temporary files nnlab would leave behind if it failed to clean up."""
    return sorted(str(p) for p in folder.rglob(".*") if ".tmp" in p.name or p.name.startswith(".download-"))
