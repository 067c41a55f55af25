"""`nnlab sweep --race` against the same grid in full, in one run: the conv net's learning rate on mnist-5k.

    nnlab sweep mnist dataset=mnist-5k model=conv lr=0.002,0.005,0.01,0.016,0.03,0.06 seed=0-9 [--race]

Reports the trials and wall time of the race as fractions of the grid's, whether the grid's best group (best mean
test_accuracy_all over its ok trials) is among the race's survivors, and each group's numbers from both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NNLAB = str(Path(sys.executable).parent / "nnlab")
GRID = ["dataset=mnist-5k", "model=conv", "lr=0.002,0.005,0.01,0.016,0.03,0.06", "seed=0-9"]
METRIC = "test_accuracy_all"


def _sweep(out: str, *extra: str) -> tuple[float, dict]:
    started = time.perf_counter()
    subprocess.run(
        [NNLAB, "sweep", "mnist", *GRID, *extra, "--fresh", "--quiet", "--out", out],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    return seconds, json.loads((Path(out) / "sweep" / "mnist" / "summary.json").read_text())


def _groups(summary: dict) -> dict[float, dict]:
    return {
        group["settings"]["lr"]: {
            "n": group["n"],
            "diverged": group["diverged"],
            "mean": group["metrics"][METRIC]["mean"],
            "ci95": group["metrics"][METRIC]["ci95"],
        }
        for group in summary["groups"]
    }


def main() -> dict:
    with tempfile.TemporaryDirectory() as grid_out, tempfile.TemporaryDirectory() as race_out:
        grid_seconds, grid = _sweep(grid_out)
        race_seconds, raced = _sweep(race_out, "--race")
    full = _groups(grid)
    best = max((lr for lr in full if full[lr]["mean"] is not None), key=lambda lr: full[lr]["mean"])
    race = raced["race"]
    survivors = [group["settings"]["lr"] for group in race["groups"] if group["status"] != "eliminated"]
    result = {
        "grid_trials": race["grid_trials"],
        "race_trials": race["trials_run"],
        "trials_fraction": round(race["trials_run"] / race["grid_trials"], 3),
        "grid_s": round(grid_seconds, 1),
        "race_s": round(race_seconds, 1),
        "time_fraction": round(race_seconds / grid_seconds, 3),
        "grid_best_lr": best,
        "race_survivors": survivors,
        "grid_best_among_survivors": best in survivors,
        "race": [
            {key: group[key] for key in ("settings", "status", "seeds", "eliminated_after", "p_holm", "reason")}
            for group in race["groups"]
        ],
        "grid": full,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
