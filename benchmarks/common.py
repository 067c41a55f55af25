"""Helpers shared by the benchmarks: best-of-N timing and alternating whole-process runs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence


def best_time(function: Callable[[], object], repeats: int, inner: int = 1) -> float:
    """The best wall time of ``inner`` calls over ``repeats`` trials, per call, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(inner):
            function()
        best = min(best, (time.perf_counter() - started) / inner)
    return best


def alternate_processes(commands: dict[str, Sequence[str]], rounds: int) -> dict[str, float]:
    """Run each command once per round, alternating, and return each one's median wall time."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - started)
    return {name: sorted(values)[len(values) // 2] for name, values in times.items()}
