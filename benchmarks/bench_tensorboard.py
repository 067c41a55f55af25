"""What --tensorboard costs: the conv net's training time (fit seconds, from metrics.json) and the whole process,
with and without event files, alternating runs of `nnlab mnist` on mnist-5k."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARGS = ["mnist", "--dataset", "mnist-5k", "--models", "conv", "--epochs", "3", "--quiet"]


def main(rounds: int = 5) -> dict[str, float]:
    nnlab = str(Path(sys.executable).parent / "nnlab")
    fit: dict[str, list[float]] = {"plain": [], "tensorboard": []}
    wall: dict[str, list[float]] = {"plain": [], "tensorboard": []}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(rounds):
            for name, extra in (("plain", []), ("tensorboard", ["--tensorboard"])):
                out = Path(scratch) / name
                started = time.perf_counter()
                subprocess.run([nnlab, *ARGS, *extra, "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
                wall[name].append(time.perf_counter() - started)
                metrics = json.loads((out / "mnist" / "metrics.json").read_text())
                fit[name].append(metrics["models"]["conv"]["fit_seconds"])
    median = {name: sorted(values)[len(values) // 2] for name, values in fit.items()}
    whole = {name: sorted(values)[len(values) // 2] for name, values in wall.items()}
    ratio = median["tensorboard"] / median["plain"]
    print(f"conv on mnist-5k, 3 epochs: median of {rounds} alternating runs of each")
    print(f"  training (fit s): {median['plain']:.2f} s plain, {median['tensorboard']:.2f} s with --tensorboard")
    print(f"  ratio {ratio:.3f}x (target <= 1.02x)")
    print(f"  whole process: {whole['plain']:.2f} s plain, {whole['tensorboard']:.2f} s with --tensorboard")
    return {"ratio": ratio, **{f"fit_{k}": v for k, v in median.items()}, **{f"wall_{k}": v for k, v in whole.items()}}


if __name__ == "__main__":
    main()
