"""`make gallery`: run every command on the bundled offline data (and two sweeps of 10 seeds) and copy their
pictures, made small, into docs/.

The README shows these files; the accuracy table it prints is the one in the README.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).parent
OUT = DOCS.parent / "build" / "gallery"
PICTURES = {
    "moons/snapshots.png": ("moons_snapshots.png", 1400),
    "moons/training.gif": ("moons_training.gif", None),
    "mnist/learning_curves.png": ("learning_curves.png", 900),
    "mnist/confusion_conv.png": ("confusion_conv.png", 520),
    "confidence/most_confident.png": ("most_confident.png", 900),
    "confidence/least_confident.png": ("least_confident.png", 900),
    "confidence/calibration.png": ("calibration.png", 900),
    "confidence/per_class.png": ("per_class.png", 900),
    "sweep/mnist/summary.png": ("sweep_mnist.png", 800),
    "sweep/confidence/summary.png": ("sweep_confidence.png", 900),
}


def nnlab(*args: str, out: Path = OUT) -> None:
    subprocess.run([str(Path(sys.executable).parent / "nnlab"), *args, "--out", str(out)], check=True)


def shrink(source: Path, target: Path, width: int | None) -> None:
    if width is None:
        shutil.copyfile(source, target)
        return
    image = Image.open(source).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    nnlab("moons", "--animate")
    nnlab("mnist", "--dataset", "mnist-5k", "--quiet")
    nnlab("mnist", "--dataset", "mnist-5k", "--quiet", "--config", "configs/sheet.toml", out=OUT / "sheet")
    nnlab("confidence", "--dataset", "mnist-5k", "--quiet")
    nnlab("sweep", "mnist", "dataset=mnist-5k", "model=linear,full,conv", "seed=0-9", "epochs=5", "--quiet")
    nnlab("sweep", "confidence", "dataset=mnist-5k", "seed=0-9", "--quiet")
    for relative, (name, width) in PICTURES.items():
        shrink(OUT / relative, DOCS / name, width)
    improved = json.loads((OUT / "mnist" / "metrics.json").read_text())["models"]
    original = json.loads((OUT / "sheet" / "mnist" / "metrics.json").read_text())["models"]
    print("| model | original recipe (configs/sheet.toml) | nnlab defaults |")
    print("|---|---|---|")
    for name in improved:
        print(f"| {name} | {original[name]['test_accuracy_all']:.3f} | {improved[name]['test_accuracy_all']:.3f} |")


if __name__ == "__main__":
    main()
