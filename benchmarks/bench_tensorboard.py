"""What --tensorboard costs the training it watches, two ways in one run:

- in-process, the time spent inside the logging calls (every 20 steps, each epoch, each finished model) as a
  fraction of the conv net's training time: exact, and what the 2% target is about;
- whole `nnlab mnist` processes with and without --tensorboard, alternating: the conv net's fit seconds (from
  metrics.json) and the wall time, which includes importing TensorBoard's writer; noisier.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ARGS = ["mnist", "--dataset", "mnist-5k", "--models", "conv", "--epochs", "5", "--quiet"]


def in_process(out: Path) -> tuple[float, float]:
    """(seconds inside the logging calls, the conv net's fit seconds) for one 5-epoch run on mnist-5k."""
    from nnlab import tensorboard
    from nnlab.data import load_dataset
    from nnlab.declarations import as_dict
    from nnlab.experiments.mnist import TrainingLog
    from nnlab.mnist import run_mnist
    from nnlab.settings import MnistSettings

    settings = MnistSettings(dataset="mnist-5k", models=("conv",), epochs=5, out=str(out), tensorboard=True)
    dataset = load_dataset("mnist-5k", None)
    spent = [0.0]

    def timed(call: Any) -> Any:
        def wrapper(*args: Any) -> None:
            started = time.perf_counter()
            call(*args)
            spent[0] += time.perf_counter() - started

        return wrapper

    with tensorboard.recording(out, "mnist", as_dict(settings), enabled=True):
        log = TrainingLog.of_active_run(settings)
        assert log is not None
        result = run_mnist(settings, dataset, progress=timed(log.progress), on_model_done=timed(log.model_done))
    return spent[0], result.models["conv"].fit_seconds


def main(rounds: int = 3) -> dict[str, float]:
    nnlab = str(Path(sys.executable).parent / "nnlab")
    fit: dict[str, list[float]] = {"plain": [], "tensorboard": []}
    wall: dict[str, list[float]] = {"plain": [], "tensorboard": []}
    with tempfile.TemporaryDirectory() as scratch:
        logging, training = in_process(Path(scratch) / "in-process")
        for _ in range(rounds):
            for name, extra in (("plain", []), ("tensorboard", ["--tensorboard"])):
                out = Path(scratch) / name
                started = time.perf_counter()
                subprocess.run([nnlab, *ARGS, *extra, "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
                wall[name].append(time.perf_counter() - started)
                metrics = json.loads((out / "mnist" / "metrics.json").read_text())
                fit[name].append(metrics["models"]["conv"]["fit_seconds"])
    fraction = logging / training
    median = {name: sorted(values)[len(values) // 2] for name, values in fit.items()}
    whole = {name: sorted(values)[len(values) // 2] for name, values in wall.items()}
    print("conv on mnist-5k, 5 epochs")
    print(
        f"  in the logging calls: {logging * 1000:.1f} ms of {training:.2f} s training = {fraction:.2%} (target <= 2%)"
    )
    ratio = median["tensorboard"] / median["plain"]
    print(f"  whole runs, median of {rounds} alternating: conv fit {median['plain']:.2f} s plain and")
    print(f"    {median['tensorboard']:.2f} s with --tensorboard ({ratio:.2f}x, within the runs' noise);")
    print(f"    wall {whole['plain']:.2f} s plain and {whole['tensorboard']:.2f} s with --tensorboard")
    return {
        "fraction": fraction,
        **{f"fit_{k}": v for k, v in median.items()},
        **{f"wall_{k}": v for k, v in whole.items()},
    }


if __name__ == "__main__":
    main()
