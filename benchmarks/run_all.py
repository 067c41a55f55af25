"""`make bench`: every benchmark, each comparing against a baseline measured in the same run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

BENCHMARKS = [
    "bench_scratch",
    "bench_startup",
    "bench_data",
    "bench_mnist",
    "bench_sweep",
    "bench_race",
    "bench_tensorboard",
]


def main() -> None:
    only = sys.argv[1:]
    for name in BENCHMARKS:
        if only and name not in only:
            continue
        if not (Path(__file__).parent / f"{name}.py").exists():
            continue
        print(f"\n== {name}")
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
