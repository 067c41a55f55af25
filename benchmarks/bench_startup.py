"""Whole-process wall time of `nnlab moons --iters 32` against only importing what it cannot avoid."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import alternate_processes

BASELINE = "import sklearn.datasets, matplotlib.pyplot, typer, rich"


def main(rounds: int = 7) -> dict[str, float]:
    nnlab = str(Path(sys.executable).parent / "nnlab")
    with tempfile.TemporaryDirectory() as out:
        times = alternate_processes(
            {
                "imports": [sys.executable, "-c", BASELINE],
                "moons": [nnlab, "moons", "--iters", "32", "--out", out],
                "help": [nnlab, "--help"],
            },
            rounds,
        )
    ratio = times["moons"] / times["imports"]
    print(f"whole-process wall time, median of {rounds} alternating runs")
    print(f"  python -c '{BASELINE}': {times['imports']:.3f} s")
    print(f"  nnlab moons --iters 32: {times['moons']:.3f} s   ratio {ratio:.2f}x (target <= 1.25x)")
    print(f"  nnlab --help:           {times['help']:.3f} s")
    return {**times, "ratio": ratio}


if __name__ == "__main__":
    main()
