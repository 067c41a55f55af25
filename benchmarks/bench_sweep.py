"""`nnlab sweep` against what a user does without it, on this machine, runs alternated:

1. 12 mnist trials (mnist-5k, linear/full/conv, seeds 0-3, 2 epochs): the sweep's wall time against the same 12
   trials as separate `nnlab mnist --models M --seed S` processes one after another (a shell loop).
2. The same sweep's wall time against the trials' own compute seconds divided by the workers, plus the cluster's
   start-up (workers started and torch imported).
3. 300 moons trials (seeds 0-99, hidden 10/50/200): the sweep's wall time against one `nnlab moons` run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import alternate_processes

NNLAB = str(Path(sys.executable).parent / "nnlab")
MNIST_GRID = ["dataset=mnist-5k", "model=linear,full,conv", "seed=0-3", "epochs=2"]


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def mnist_sweep_against_a_shell_loop(out: str, rounds: int) -> dict[str, float]:
    sweep, loop = [], []
    for _ in range(rounds):
        sweep.append(_timed([NNLAB, "sweep", "mnist", *MNIST_GRID, "--fresh", "--quiet", "--out", out]))
        started = time.perf_counter()
        for model in ("linear", "full", "conv"):
            for seed in range(4):
                subprocess.run(
                    [
                        NNLAB,
                        "mnist",
                        "--dataset",
                        "mnist-5k",
                        "--models",
                        model,
                        "--seed",
                        str(seed),
                        "--epochs",
                        "2",
                        "--quiet",
                        "--out",
                        f"{out}/loop",
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        loop.append(time.perf_counter() - started)
    return {"sweep_s": sorted(sweep)[rounds // 2], "loop_s": sorted(loop)[rounds // 2]}


def sweep_against_its_compute(out: str) -> dict[str, float]:
    """The sweep in this process, timed in parts: start-up (cluster and warm-up), then the trials."""
    from nnlab.sweep.cluster import connect, default_workers, results
    from nnlab.sweep.grid import parse_grid, plan

    workers = default_workers()
    grid = parse_grid("mnist", MNIST_GRID)
    pending = plan(grid, Path(out) / "in-process", fresh=True).pending
    started = time.perf_counter()
    with connect(None, workers, "mnist") as client:
        ready = time.perf_counter()
        records = [record for _, record in results(client, grid, pending)]
        done = time.perf_counter()
    compute = sum(record.seconds for record in records)
    return {"startup_s": ready - started, "trials_wall_s": done - ready, "compute_s": compute, "workers": workers}


def main(rounds: int = 2) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        loop = mnist_sweep_against_a_shell_loop(out, rounds)
        parts = sweep_against_its_compute(out)
        moons = alternate_processes(
            {
                "one moons run": [NNLAB, "moons", "--out", out],
                "300 moons trials": [
                    NNLAB,
                    "sweep",
                    "moons",
                    "seed=0-99",
                    "hidden=10,50,200",
                    "--fresh",
                    "--quiet",
                    "--out",
                    out,
                ],
            },
            rounds=5,
        )
        summary = json.loads((Path(out) / "sweep" / "mnist" / "summary.json").read_text())
    ideal = parts["compute_s"] / parts["workers"]
    loop_ratio = loop["sweep_s"] / loop["loop_s"]
    accuracies = ", ".join(
        f"{group['settings']['model']} {group['metrics']['test_accuracy_all']['mean']:.3f}"
        for group in summary["groups"]
    )
    print(f"12 mnist trials ({' '.join(MNIST_GRID)}), median of {rounds} alternating rounds")
    print(f"  nnlab sweep:                       {loop['sweep_s']:6.1f} s")
    print(f"  12 nnlab mnist processes in a row: {loop['loop_s']:6.1f} s   ratio {loop_ratio:.2f}x (target <= 0.35x)")
    print(
        f"  the same trials in this process: start-up {parts['startup_s']:.1f} s, then "
        f"{parts['trials_wall_s']:.1f} s for {parts['compute_s']:.1f} s of trial compute on {parts['workers']} "
        f"workers: {parts['trials_wall_s'] / ideal:.2f}x the compute / workers (target <= 1.15x)"
    )
    print(f"  test accuracy (mean of 4 seeds): {accuracies}")
    ratio = moons["300 moons trials"] / moons["one moons run"]
    print("300 moons trials against one nnlab moons run, median of 5 alternating runs")
    print(f"  nnlab moons:                         {moons['one moons run']:.2f} s")
    print(
        f"  nnlab sweep moons (300 trials):      {moons['300 moons trials']:.2f} s   ratio {ratio:.2f}x (target <= 3x)"
    )
    return {**loop, **parts, **moons}


if __name__ == "__main__":
    main()
