"""The output folder's index.html: every picture and table that nnlab wrote there, with what each file is.

Built from the JSON records alone (no torch, no matplotlib), with the same tables as the terminal (tables.py).
A metrics file that is missing, damaged or hand-edited beyond its schema is left out with a warning, so that it
never keeps a later command from refreshing the page. Every name is escaped: the page never runs a file's name.
"""

from __future__ import annotations

import html
import os
import urllib.parse
from pathlib import Path

from nnlab import tables
from nnlab.files import write_text_atomic
from nnlab.schema import ConfidenceMetrics, MnistMetrics, MoonsMetrics, Record, SweepSummary, read_record

SWEEPS = ("moons", "mnist", "confidence")
FOLDERS = ("moons", "mnist", "mnist-partial", "confidence", *(f"sweep/{command}" for command in SWEEPS))
MAX_METRICS_BYTES = 32 << 20

# What each kind of file is, by name pattern; {model} and {i} are filled in.
DESCRIPTIONS = {
    "moons/snapshots.png": "decision boundary of the NumPy network at every snapshot iteration, side by side",
    "moons/iteration_{i}.png": "decision boundary at iteration {i}: data, dashed zero contour, filled half-planes",
    "moons/training.gif": "the boundary at every iteration, animated",
    "moons/metrics.json": "moons: resolved settings, error and accuracy at every iteration",
    "mnist/learning_curves.png": "training loss and accuracy per epoch for every model",
    "mnist/confusion_{model}.png": "confusion matrix of {model} on the whole test set",
    "mnist/{model}.pt": "checkpoint of {model}: weights, settings, history (load with NNClassifier.load)",
    "mnist/metrics.json": "mnist: dataset, settings, accuracies, timings and per-epoch history of every model",
    "mnist-partial/{model}.pt": "checkpoint of {model}, finished by an interrupted nnlab mnist",
    "mnist-partial/metrics.json": "mnist: the models an interrupted run finished",
    "confidence/most_confident.png": "the test images the network is most sure of",
    "confidence/least_confident.png": "the test images the network is least sure of",
    "confidence/calibration.png": "reliability diagram and confidence histogram, with the ECE",
    "confidence/per_class.png": "accuracy, mean confidence and extreme images per class",
    "confidence/confidence.json": "confidence: ranked images, per-class table, calibration bins",
    "confidence/{model}.pt": "checkpoint of {model}, trained by nnlab confidence when there was none",
    "sweep/{command}/summary.json": "sweep of {command}: every group's statistics and the paired comparisons",
    "sweep/{command}/summary.png": "sweep of {command}: each group's mean, 95% interval and trials",
    "sweep/{command}/trials.csv": "sweep of {command}: one row per trial (settings, status, metrics)",
    "index.html": "this page",
}


def describe(relative: str) -> str:
    """What the output file at ``relative`` (e.g. 'mnist/conv.pt') is."""
    if relative in DESCRIPTIONS:
        return DESCRIPTIONS[relative]
    if relative.startswith("sweep/") and relative.count("/") == 2:
        _, command, name = relative.split("/")
        pattern = DESCRIPTIONS.get(f"sweep/{{command}}/{name}")
        return pattern.format(command=command) if pattern else "file"
    folder, _, name = relative.partition("/")
    stem = Path(name).stem
    if folder == "moons" and stem.startswith("iteration_") and stem[10:].isdigit():
        return DESCRIPTIONS["moons/iteration_{i}.png"].format(i=int(stem[10:]))
    if name.endswith(".pt") and f"{folder}/{{model}}.pt" in DESCRIPTIONS:
        return DESCRIPTIONS[f"{folder}/{{model}}.pt"].format(model=stem)
    if folder == "mnist" and stem.startswith("confusion_"):
        return DESCRIPTIONS["mnist/confusion_{model}.png"].format(model=stem.removeprefix("confusion_"))
    return "file"


def output_files(out: Path) -> list[str]:
    """Every visible file in nnlab's folders under ``out``, as paths relative to it, in a stable order."""
    found = []
    for folder in FOLDERS:
        try:
            entries = sorted(os.scandir(out / folder), key=lambda entry: entry.name)
        except OSError:
            continue
        found += [f"{folder}/{entry.name}" for entry in entries
                  if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False)]  # fmt: skip
    return found


def _section_record(path: Path, record: type[Record]) -> tuple[Record | None, str | None]:
    """The record for a section of the page, or a warning that the file is left out."""
    found, problem = read_record(path, record, MAX_METRICS_BYTES)
    return found, problem and f"{problem}; left out of index.html"


def text(value: str) -> str:
    """``value`` as HTML text; names that are not valid UTF-8 are shown with replacement characters."""
    return html.escape(value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), quote=True)


def link(relative: str) -> str:
    """``relative`` as a URL path, with every special character percent-encoded."""
    return urllib.parse.quote(os.fsencode(relative))


def html_table(data: tables.Table) -> str:
    """A :class:`~nnlab.tables.Table` as an HTML table (the same one the terminal shows)."""
    head = "".join(f'<th class="{c.align}">{text(c.header)}</th>' for c in data.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{c.align}">{text(cell)}</td>' for c, cell in zip(data.columns, row)) + "</tr>"
        for row in data.rows
    )
    note = f"<p>{text(data.note)}</p>" if data.note else ""
    return f"<table><caption>{text(data.title)}</caption><tr>{head}</tr>{body}</table>{note}"


def _image(relative: str, files: list[str]) -> str:
    if relative not in files:
        return ""
    caption = text(describe(relative))
    return (f'<figure><img src="{link(relative)}" alt="{caption}"><figcaption>{text(relative)}: {caption}'
            "</figcaption></figure>")  # fmt: skip


def _moons_section(metrics: MoonsMetrics, files: list[str]) -> str:
    first, final = metrics.history[0], metrics.history[-1]
    summary = (f"Error {first.error:.4f} → {final.error:.4f}, accuracy {final.accuracy:.3f} after {final.iteration} "
               "iterations.")  # fmt: skip
    heading = f"<h2>Two moons (NumPy network)</h2><p>{text(summary)}</p>"
    return "".join([heading, html_table(tables.moons_table(metrics)), _image("moons/snapshots.png", files),
                    _image("moons/training.gif", files)])  # fmt: skip


def _mnist_section(metrics: MnistMetrics, files: list[str], folder: str = "mnist") -> str:
    dataset = metrics.dataset
    heading = "Linear, full and conv networks" if folder == "mnist" else "Models an interrupted run finished"
    parts = [
        f"<h2>{heading}</h2>",
        f"<p>{text(dataset.name)}: {dataset.train_size} training and {dataset.test_size} test images "
        f"({text(dataset.source)}).</p>",
        html_table(tables.mnist_table(metrics)),
        _image(f"{folder}/learning_curves.png", files),
    ]
    parts += [_image(f"{folder}/confusion_{name}.png", files) for name in metrics.models]
    return "".join(parts)


def _confidence_section(metrics: ConfidenceMetrics, files: list[str]) -> str:
    most = tables.describe_classes(metrics.most_classes)
    return "".join(
        [
            f"<h2>Confidence of the {text(metrics.model)} network</h2>",
            f"<p>Expected calibration error {metrics.ece:.4f}. Classes of the {metrics.top} most confident test "
            f"images: {text(most)}.</p>",
            html_table(tables.confidence_table(metrics)),
            *(_image(f"confidence/{name}.png", files)
              for name in ("most_confident", "least_confident", "calibration", "per_class")),
        ]
    )  # fmt: skip


def _sweep_section(metrics: SweepSummary, files: list[str]) -> str:
    folder = f"sweep/{metrics.command}"
    parts = [f"<h2>Sweep of {text(metrics.command)}: {len(metrics.trials)} trials in {len(metrics.groups)} groups</h2>",
             _image(f"{folder}/summary.png", files)]  # fmt: skip
    for group in metrics.groups:
        parts.append(html_table(tables.sweep_group_table(metrics, group)))
        if metrics.command == "confidence":
            parts.append(html_table(tables.sweep_digits_table(metrics, group)))
    parts.append(html_table(tables.sweep_comparisons_table(metrics)))
    return "".join(parts)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
.right{text-align:right}.left{text-align:left}caption{font-weight:bold;text-align:left}code{background:#f3f3f3}"""


def render_index(out: Path) -> tuple[str, list[str]]:
    """The HTML page for the output folder ``out``, and warnings about files it had to leave out."""
    files = [*output_files(out), "index.html"]
    warnings: list[str] = []
    sections = []
    for relative, record, render in (
        ("moons/metrics.json", MoonsMetrics, _moons_section),
        ("mnist/metrics.json", MnistMetrics, _mnist_section),
        ("mnist-partial/metrics.json", MnistMetrics, lambda m, f: _mnist_section(m, f, "mnist-partial")),
        ("confidence/confidence.json", ConfidenceMetrics, _confidence_section),
        *((f"sweep/{command}/summary.json", SweepSummary, _sweep_section) for command in SWEEPS),
    ):
        metrics, problem = _section_record(out / relative, record)
        if problem:
            warnings.append(problem)
        if metrics is not None:
            sections.append(render(metrics, files))  # type: ignore[operator]
    listing = "".join(
        f'<tr><td><a href="{link(f)}"><code>{text(f)}</code></a></td><td>{text(describe(f))}</td></tr>' for f in files
    )
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>nnlab results</title>'
        f"<style>{STYLE}</style></head><body><h1>nnlab results</h1>{''.join(sections) or '<p>No results yet.</p>'}"
        f"<h2>Files</h2><table>{listing}</table></body></html>\n"
    )
    return page, warnings


def write_index(out: Path) -> tuple[Path, list[str]]:
    """(Re)write ``out/index.html`` atomically; returns its path and the warnings of :func:`render_index`."""
    page, warnings = render_index(Path(out))
    return write_text_atomic(Path(out) / "index.html", page), warnings
