"""`nnlab mnist --epochs 5` against the original lab's recipe run as a script, on full Fashion-MNIST.

Both are whole processes (same start-up and data-loading costs), run alternately on the same machine. Prints
the wall-time ratio, both sets of accuracies, and the conv net's achieved FLOP/s next to this machine's
matrix-multiply FLOP/s, measured in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import best_time

from nnlab.networks import build_model

FOLDER = "/usr/share/datasets/fashion-mnist"
HERE = Path(__file__).parent


def training_flops_per_image(batch: int = 512, first_layer_frozen: bool = False) -> float:
    """FLOPs of one conv-net training step (forward and backward), per image, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model("conv")
    model[0].requires_grad_(not first_layer_frozen)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / batch


def matmul_flops(dtype: torch.dtype, n: int = 2048) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    seconds = best_time(lambda: a @ b, repeats=5, inner=3)
    return 2 * n**3 / seconds


def run_pair(out: str) -> tuple[float, dict, float, dict]:
    started = time.perf_counter()
    original = subprocess.run(
        [sys.executable, str(HERE / "original_lab.py"), "--dataset", "fashion-mnist", "--data-dir", FOLDER, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    original_s = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "nnlab"),
            "mnist",
            "--epochs",
            "5",
            "--dataset",
            "fashion-mnist",
            "--data-dir",
            FOLDER,
            "--quiet",
            "--out",
            out,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ours_s = time.perf_counter() - started
    ours = json.loads((Path(out) / "mnist" / "metrics.json").read_text())
    return original_s, json.loads(original.stdout.strip().splitlines()[-1]), ours_s, ours


def main(rounds: int = 3) -> dict | None:
    if not Path(FOLDER, "train-images-idx3-ubyte.gz").exists():
        print(f"skipped: no Fashion-MNIST in {FOLDER} (apt-get install dataset-fashion-mnist)")
        return None
    runs = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(rounds):
            runs.append(run_pair(out))
    original_s = sorted(r[0] for r in runs)[rounds // 2]
    ours_s = sorted(r[2] for r in runs)[rounds // 2]
    _, original, _, ours = runs[-1]
    print(f"full Fashion-MNIST, 5 epochs, whole process, median of {rounds} alternating runs")
    print(f"  original recipe (benchmarks/original_lab.py): {original_s:6.1f} s")
    print(
        f"  nnlab mnist (defaults):                       {ours_s:6.1f} s   ratio {ours_s / original_s:.2f}x "
        "(target <= 0.5x)"
    )
    print("  test accuracy, whole test set      original   nnlab   (first 2500: original / nnlab)")
    for name in ("linear", "full", "conv"):
        mine = ours["models"][name]
        first = f"({original[name]['test']:.3f} / {mine['test_accuracy']:.3f})"
        print(f"  {name:>8}{original[name]['test_all']:32.4f}   {mine['test_accuracy_all']:.4f}   {first}")
    flops = training_flops_per_image()
    conv = ours["models"]["conv"]
    images = ours["dataset"]["train_size"] * len(conv["history"])
    frozen = 1.0 - conv["freeze_first"]  # the share of training with the first layer frozen: fewer FLOPs
    done = images * ((1 - frozen) * flops + frozen * training_flops_per_image(first_layer_frozen=True))
    achieved = done / conv["fit_seconds"]
    original_achieved = flops * ours["dataset"]["train_size"] * 5 / original["conv"]["fit_seconds"]
    fp32, bf16 = matmul_flops(torch.float32), matmul_flops(torch.bfloat16)
    print(
        f"  conv training: {flops / 1e6:.2f} MFLOP per image (forward + backward, torch.utils.flop_counter), "
        f"{done / images / 1e6:.2f} on average with the first layer frozen for {frozen:.0%} of it"
    )
    print(
        f"  conv achieved: nnlab {achieved / 1e9:.0f} GFLOP/s ({'bf16' if conv['bf16'] else 'fp32'}), "
        f"original {original_achieved / 1e9:.0f} GFLOP/s; this machine's 2048^2 matmul: "
        f"fp32 {fp32 / 1e9:.0f} GFLOP/s, bf16 {bf16 / 1e9:.0f} GFLOP/s"
    )
    return {"original_s": original_s, "ours_s": ours_s, "ratio": ours_s / original_s}


if __name__ == "__main__":
    main()
