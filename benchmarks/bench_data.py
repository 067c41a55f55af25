"""Loading full Fashion-MNIST from its .gz files against only decompressing them, same process."""

from __future__ import annotations

import gzip
from pathlib import Path

from common import best_time

from nnlab.data import load_dataset

FOLDER = Path("/usr/share/datasets/fashion-mnist")


def main() -> dict[str, float] | None:
    files = sorted(FOLDER.glob("*-ubyte.gz"))
    if len(files) != 4:
        print(f"skipped: {FOLDER} lacks the four .gz files (apt-get install dataset-fashion-mnist)")
        return None

    def decompress_only() -> None:
        for path in files:
            gzip.decompress(path.read_bytes())

    decompress = best_time(decompress_only, repeats=5)
    load = best_time(lambda: load_dataset("fashion-mnist", FOLDER), repeats=5)
    ratio = load / decompress
    print("full Fashion-MNIST (60k/10k) from .gz, best of 5")
    print(f"  only decompressing the files: {decompress:.3f} s")
    print(f"  load_dataset (parse, validate): {load:.3f} s   ratio {ratio:.2f}x (target <= 1.5x)")
    return {"decompress_s": decompress, "load_s": load, "ratio": ratio}


if __name__ == "__main__":
    main()
