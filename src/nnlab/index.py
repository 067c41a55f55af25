"""The output folder's index.html: every picture and table that nnlab wrote there, with what each file is.

Built from the JSON results alone (no torch, no matplotlib), rewritten atomically after every command.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from nnlab.files import write_text_atomic

# What each kind of file is, by name pattern; {model} and {i} are filled in.
DESCRIPTIONS = {
    "moons/snapshots.png": "decision boundary of the NumPy network at every snapshot iteration, side by side",
    "moons/iteration_{i}.png": "decision boundary at iteration {i}: data, dashed zero contour, filled half-planes",
    "moons/training.gif": "the boundary at every iteration, animated",
    "moons/metrics.json": "moons: resolved config, error and accuracy at every iteration",
    "mnist/learning_curves.png": "training loss and accuracy per epoch for every model",
    "mnist/confusion_{model}.png": "confusion matrix of {model} on the whole test set",
    "mnist/{model}.pt": "checkpoint of {model}: weights, settings, history (load with NNClassifier.load)",
    "mnist/metrics.json": "mnist: dataset, config, accuracies, timings and per-epoch history of every model",
    "confidence/most_confident.png": "the test images the network is most sure of",
    "confidence/least_confident.png": "the test images the network is least sure of",
    "confidence/calibration.png": "reliability diagram and confidence histogram, with the ECE",
    "confidence/per_class.png": "accuracy, mean confidence and extreme images per class",
    "confidence/confidence.json": "confidence: ranked images, per-class table, calibration bins",
    "index.html": "this page",
}


def describe(relative: str) -> str:
    """What the output file at ``relative`` (e.g. 'mnist/conv.pt') is."""
    if relative in DESCRIPTIONS:
        return DESCRIPTIONS[relative]
    folder, _, name = relative.partition("/")
    stem = Path(name).stem
    if folder == "moons" and stem.startswith("iteration_"):
        iteration = str(int(stem.removeprefix("iteration_")))
        return DESCRIPTIONS["moons/iteration_{i}.png"].format(i=iteration)
    if folder == "mnist" and name.endswith(".pt"):
        return DESCRIPTIONS["mnist/{model}.pt"].format(model=stem)
    if folder == "mnist" and stem.startswith("confusion_"):
        return DESCRIPTIONS["mnist/confusion_{model}.png"].format(model=stem.removeprefix("confusion_"))
    return "file"


def output_files(out: Path) -> list[str]:
    """Every nnlab output under ``out``, as paths relative to it, in a stable order."""
    found = []
    for folder in ("moons", "mnist", "confidence"):
        if (out / folder).is_dir():
            found += sorted(
                f"{folder}/{p.name}" for p in (out / folder).iterdir() if p.is_file() and not p.name.startswith(".")
            )
    return found


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(relative: str, files: list[str]) -> str:
    if relative not in files:
        return ""
    caption = html.escape(describe(relative))
    return f'<figure><img src="{relative}" alt="{caption}"><figcaption>{relative}: {caption}</figcaption></figure>'


def _moons_section(out: Path, files: list[str]) -> str:
    metrics = _read_json(out / "moons" / "metrics.json")
    if metrics is None:
        return ""
    history = metrics["history"]
    final = history[-1]
    config = metrics["config"]
    summary = (f"{config['samples']} points, {config['hidden']} hidden units, learning rate {config['lr']}: "
               f"error {history[0]['error']:.4f} → {final['error']:.4f}, accuracy {final['accuracy']:.3f} "
               f"after {final['iteration']} iterations.")  # fmt: skip
    parts = [f"<h2>Two moons (NumPy network)</h2><p>{html.escape(summary)}</p>", _image("moons/snapshots.png", files)]
    parts.append(_image("moons/training.gif", files))
    return "".join(parts)


def _mnist_section(out: Path, files: list[str]) -> str:
    metrics = _read_json(out / "mnist" / "metrics.json")
    if metrics is None:
        return ""
    dataset = metrics["dataset"]
    rows = [
        [name, f"{m['train_accuracy']:.3f}", f"{m['test_accuracy']:.3f}", f"{m['test_accuracy_all']:.4f}",
         f"{m['parameters']:,}", f"{m['fit_seconds']:.1f}"]
        for name, m in metrics["models"].items()
    ]  # fmt: skip
    eval_size = min(metrics["config"]["eval_size"], dataset["test_size"])
    parts = [
        "<h2>Linear, full and conv networks</h2>",
        f"<p>{html.escape(dataset['name'])}: {dataset['train_size']} training and {dataset['test_size']} test "
        f"images ({html.escape(dataset['source'])}); {metrics['config']['epochs']} epochs.</p>",
        _table(
            [
                "model",
                f"train acc (first {eval_size})",
                f"test acc (first {eval_size})",
                "test acc (all)",
                "parameters",
                "fit seconds",
            ],
            rows,
        ),
        _image("mnist/learning_curves.png", files),
    ]
    parts += [_image(f"mnist/confusion_{name}.png", files) for name in metrics["models"]]
    return "".join(parts)


def _confidence_section(out: Path, files: list[str]) -> str:
    report = _read_json(out / "confidence" / "confidence.json")
    if report is None:
        return ""
    rows = [
        [r["name"], r["count"], f"{r['accuracy']:.3f}", f"{r['mean_confidence']:.4f}", r["in_most"], r["in_least"]]
        for r in report["per_class"]
    ]
    top = report["top"]
    most = ", ".join(f"{n} × {name}" for name, n in report.get("most_classes", {}).items())
    return "".join(
        [
            f"<h2>Confidence of the {html.escape(report['model'])} network</h2>",
            f"<p>Expected calibration error {report['ece']:.4f}. Classes of the {top} most confident test images: "
            f"{html.escape(most)}.</p>",
            _table(["class", "count", "accuracy", "mean confidence", f"in top {top}", f"in bottom {top}"], rows),
            _image("confidence/most_confident.png", files),
            _image("confidence/least_confident.png", files),
            _image("confidence/calibration.png", files),
            _image("confidence/per_class.png", files),
        ]
    )


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}code{background:#f3f3f3}"""


def render_index(out: Path) -> str:
    """The HTML page for the output folder ``out``."""
    files = [*output_files(out), "index.html"]
    listing = "".join(
        f'<tr><td><a href="{f}"><code>{html.escape(f)}</code></a></td><td>{html.escape(describe(f))}</td></tr>'
        for f in files
    )
    sections = _moons_section(out, files) + _mnist_section(out, files) + _confidence_section(out, files)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>nnlab results</title>'
        f"<style>{STYLE}</style></head><body><h1>nnlab results</h1>{sections or '<p>No results yet.</p>'}"
        f"<h2>Files</h2><table>{listing}</table></body></html>\n"
    )


def write_index(out: Path) -> Path:
    """(Re)write ``out/index.html`` atomically."""
    return write_text_atomic(Path(out) / "index.html", render_index(Path(out)))
