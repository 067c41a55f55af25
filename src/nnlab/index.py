"""The output folder's index.html: every picture and table that nnlab wrote there, with what each file is.

Built from the JSON records alone (no torch, no matplotlib): each registered experiment draws its own sections
(experiments/), and every sweep has its section here, with the same tables as the terminal (tables.py). A record
file that is missing, damaged or hand-edited beyond its schema is left out with a warning, so that it never keeps
a later command from refreshing the page.
"""

from __future__ import annotations

import os
from pathlib import Path

from nnlab import registry, tables
from nnlab.errors import first_line
from nnlab.files import write_text_atomic
from nnlab.pages import figure, html_table, link, text
from nnlab.schema import Record, SweepSummary, read_record

MAX_METRICS_BYTES = 32 << 20
SWEEP_FILES = {
    "summary.json": "sweep of {command}: every group's statistics and the paired comparisons",
    "summary.png": "sweep of {command}: each group's mean, 95% interval and trials",
    "trials.csv": "sweep of {command}: one row per trial (settings, status, metrics)",
}


def folders() -> list[str]:
    """The folders under OUT that nnlab writes: each experiment's, then each experiment's sweep."""
    names = registry.names()
    return [*(folder for e in registry.experiments() for folder in e.folders), *(f"sweep/{name}" for name in names)]


def describe(relative: str) -> str:
    """What the output file at ``relative`` (e.g. 'mnist/conv.pt') is."""
    if relative == "index.html":
        return "this page"
    parts = relative.split("/")
    if len(parts) == 3 and parts[0] == "sweep" and parts[2] in SWEEP_FILES:
        return SWEEP_FILES[parts[2]].format(command=parts[1])
    for experiment in registry.experiments():
        found = experiment.describe(relative)
        if found:
            return found
    return "file"


def output_files(out: Path) -> list[str]:
    """Every visible file in nnlab's folders under ``out``, as paths relative to it, in a stable order."""
    found = []
    for folder in folders():
        try:
            entries = sorted(os.scandir(out / folder), key=lambda entry: entry.name)
        except OSError:
            continue
        found += [
            f"{folder}/{entry.name}"
            for entry in entries
            if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False)
        ]
    return found


def _section_record(path: Path, record: type[Record]) -> tuple[Record | None, str | None]:
    """The record for a section of the page, or a warning that the file is left out."""
    found, problem = read_record(path, record, MAX_METRICS_BYTES)
    return found, problem and f"{problem}; left out of index.html"


def sweep_section(summary: SweepSummary, files: list[str]) -> str:
    """A sweep's part of the page: its picture, each group's tables, the race and the comparisons."""
    folder = f"sweep/{summary.command}"
    experiment = registry.find(summary.command)
    parts = [
        f"<h2>Sweep of {text(summary.command)}: {tables.counted(len(summary.trials), 'trial')} in "
        f"{tables.counted(len(summary.groups), 'group')}</h2>",
        figure(f"{folder}/summary.png", files, describe(f"{folder}/summary.png")),
    ]
    if summary.race is not None:
        parts.append(html_table(tables.race_table(summary)))
    if summary.precision is not None:
        parts.append(html_table(tables.precision_table(summary)))
    for group in summary.groups:
        parts.append(html_table(tables.sweep_group_table(summary, group)))
        if experiment is not None and experiment.sweep.group_tables is not None:
            parts += [html_table(extra) for extra in experiment.sweep.group_tables(summary, group)]
    parts.append(html_table(tables.sweep_comparisons_table(summary)))
    return "".join(parts)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
.right{text-align:right}.left{text-align:left}caption{font-weight:bold;text-align:left}code{background:#f3f3f3}"""


def _sections(out: Path, files: list[str]) -> tuple[list[str], list[str]]:
    """Every section of the page, experiments first, then sweeps; and the warnings about files left out."""
    wanted = [
        (section.record_file, section.record(), section.render)
        for experiment in registry.experiments()
        for section in experiment.sections
    ]
    wanted += [(f"sweep/{name}/summary.json", SweepSummary, sweep_section) for name in registry.names()]
    sections, warnings = [], []
    for relative, record, render in wanted:
        found, problem = _section_record(out / relative, record)
        if problem:
            warnings.append(problem)
        if found is None:
            continue
        try:
            sections.append(render(found, files))
        except Exception as exc:  # a file that fits the schema yet contradicts itself never blocks a command
            warnings.append(
                f"{out / relative}: cannot be shown ({type(exc).__name__}: {first_line(exc)}); left out of index.html"
            )
    return sections, warnings


def tensorboard_section(out: Path) -> str:
    """The TensorBoard runs in OUT/tensorboard/ and the command that opens them ('' when there are none)."""
    from nnlab import tensorboard

    runs = tensorboard.runs(out)
    if not runs:
        return ""
    command = f"tensorboard --logdir {Path(out) / tensorboard.FOLDER}"
    items = "".join(f"<li><code>{text(run)}</code></li>" for run in runs)
    return (
        f"<h2>TensorBoard</h2><p>{tables.counted(len(runs), 'run')} (a run that did not finish ends in -interrupted, "
        f"-failed or -running); open them with <code>{text(command)}</code></p><ul>{items}</ul>"
    )


def render_index(out: Path) -> tuple[str, list[str]]:
    """The HTML page for the output folder ``out``, and warnings about files it had to leave out."""
    files = [*output_files(out), "index.html"]
    sections, warnings = _sections(out, files)
    sections.append(tensorboard_section(out))
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
