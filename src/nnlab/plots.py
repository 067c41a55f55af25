"""Every matplotlib figure nnlab draws (Agg backend). Nothing here trains or decides where files go: each function
writes the path it is given (a temporary file of an output set, see files.OutputSet) and returns it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from nnlab.models import MODELS
from nnlab.tables import counted

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from nnlab.confidence import ConfidenceResult
    from nnlab.moons import MoonsResult
    from nnlab.schema import SweepSummary, TrialRecord

# The lab's two colours: class t = -1 in blue, t = +1 in red; the half-planes lightly in the same colours.
NEGATIVE_COLOUR = "#1f5fbf"
POSITIVE_COLOUR = "#d62728"
DPI = 100


def save_figure(figure: Figure, path: Path, **savefig_kwargs: Any) -> Path:
    """Write ``figure`` as a PNG at ``path``, then close it."""
    try:
        figure.savefig(path, format="png", dpi=DPI, **savefig_kwargs)
    finally:
        plt.close(figure)
    return Path(path)


def _draw_boundary(ax: Axes, result: MoonsResult, iteration: int) -> None:
    grid = result.grid
    values = result.boundaries[iteration]
    extent = (grid[0], grid[-1])
    ax.contourf(
        grid,
        grid,
        values,
        levels=[-np.inf, 0.0, np.inf],
        colors=[NEGATIVE_COLOUR, POSITIVE_COLOUR],
        alpha=0.12,
    )
    if values.min() < 0.0 < values.max():
        ax.contour(grid, grid, values, levels=[0.0], colors="black", linestyles="dashed", linewidths=1.2)
    negative = result.T < 0
    ax.scatter(*result.X[negative].T, s=14, c=NEGATIVE_COLOUR, edgecolors="white", linewidths=0.4)
    ax.scatter(*result.X[~negative].T, s=14, c=POSITIVE_COLOUR, edgecolors="white", linewidths=0.4)
    ax.set_xlim(*extent)
    ax.set_ylim(*extent)
    ax.set_aspect("equal")
    ax.set_xticks([-4, 0, 4])
    ax.set_yticks([-4, 0, 4])
    ax.tick_params(labelsize=7)
    ax.set_title(f"iteration {iteration}   E = {result.error_at(iteration):.4f}", fontsize=9)


# One snapshot tile, in inches, and where its axes sit inside it (left, bottom, width, height as fractions).
_TILE_INCHES = (3.0, 3.2)
_TILE_AXES = (0.14, 0.09, 0.82, 0.80)
_TILE_DPI = 110


def _save_image(pixels: np.ndarray, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(pixels).save(path, format="PNG", optimize=False, compress_level=1)
    return Path(path)


def _render_tiles(figure: Figure, count: int) -> list[np.ndarray]:
    """Draw a figure made of ``count`` equal-width tiles once and return each tile's RGB pixels."""
    try:
        figure.canvas.draw()
        pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]  # (rows, count * tile, 3)
    finally:
        plt.close(figure)
    width = pixels.shape[1] // count
    return [np.ascontiguousarray(pixels[:, i * width : (i + 1) * width]) for i in range(count)]


def _tile_axes(figure: Figure, column: int, columns: int, box: tuple[float, float, float, float]) -> Axes:
    """Axes at ``box`` (left, bottom, width, height as fractions of one tile) inside tile ``column``."""
    left, bottom, width, height = box
    return figure.add_axes(((column + left) / columns, bottom, width / columns, height))


def moons_pictures(
    result: MoonsResult, iterations: Sequence[int], tile_paths: Sequence[Path], overview_path: Path
) -> list[Path]:
    """The decision boundary at each of ``iterations``: one PNG each, and all of them side by side.

    Each picture shows the data, the dashed zero-level contour and the lightly filled half-planes. The figure
    is rendered once; each snapshot's PNG is cut from it, which keeps ``nnlab moons`` fast.
    """
    tile_w, tile_h = _TILE_INCHES
    columns = len(iterations)
    figure = plt.figure(figsize=(tile_w * columns, tile_h), dpi=_TILE_DPI)
    for column, iteration in enumerate(iterations):
        _draw_boundary(_tile_axes(figure, column, columns, _TILE_AXES), result, iteration)
    tiles = _render_tiles(figure, columns)
    written = [_save_image(tile, path) for tile, path in zip(tiles, tile_paths)]
    written.append(_save_image(np.hstack(tiles), overview_path))
    return written


def moons_animation(result: MoonsResult, path: Path, frame_ms: int = 150) -> Path:
    """An animated GIF of the boundary at every iteration (the last frame held longer)."""
    from PIL import Image

    frames = []
    figure = plt.figure(figsize=_TILE_INCHES, dpi=_TILE_DPI)
    ax = figure.add_axes(_TILE_AXES)
    try:
        for iteration in sorted(result.boundaries):
            ax.clear()
            _draw_boundary(ax, result, iteration)
            figure.canvas.draw()
            rgba = np.asarray(figure.canvas.buffer_rgba())
            frames.append(Image.fromarray(rgba[..., :3]).quantize(colors=64))
    finally:
        plt.close(figure)
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 8]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return Path(path)


# ------------------------------------------------------------------------------------------------------ mnist


def learning_curves(histories: dict[str, list[dict[str, float]]], path: Path, title: str = "") -> Path:
    """Training loss and accuracy per epoch for every model: training (running) and held-out."""
    figure, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for name, history in histories.items():
        epochs = [row["epoch"] for row in history]
        colour = MODELS[name].colour if name in MODELS else None
        loss_ax.plot(epochs, [row["loss"] for row in history], "o-", color=colour, label=name)
        acc_ax.plot(
            epochs,
            [row["train_accuracy"] for row in history],
            "o--",
            color=colour,
            alpha=0.6,
            label=f"{name} train",
        )
        if history and "validation_accuracy" in history[0]:
            acc_ax.plot(
                epochs,
                [row["validation_accuracy"] for row in history],
                "o-",
                color=colour,
                label=f"{name} held-out",
            )
    loss_ax.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.86, wspace=0.22)
    return save_figure(figure, path)


_CONFUSION_INCHES = (5.6, 5.0)
_CONFUSION_AXES = (0.2, 0.19, 0.6, 0.7)
_COLORBAR_AXES = (0.83, 0.19, 0.03, 0.7)


def confusion_matrices(
    matrices: Sequence[np.ndarray], classes: Sequence[str], titles: Sequence[str], paths: Sequence[Path]
) -> list[Path]:
    """One confusion matrix per PNG, with counts: rows are true classes, columns predictions, shaded by the
    fraction of the true class. All are rendered in one draw and cut apart."""
    columns = len(matrices)
    size = len(classes)
    figure = plt.figure(figsize=(_CONFUSION_INCHES[0] * columns, _CONFUSION_INCHES[1]), dpi=DPI)
    for column, (matrix, title) in enumerate(zip(matrices, titles)):
        ax = _tile_axes(figure, column, columns, _CONFUSION_AXES)
        normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
        for (row, col), count in np.ndenumerate(matrix):
            if count:
                ax.text(
                    col,
                    row,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if normalised[row, col] > 0.5 else "black",
                )
        ax.set_xticks(range(size), classes, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(size), classes, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=10)
        colorbar_ax = _tile_axes(figure, column, columns, _COLORBAR_AXES)
        figure.colorbar(image, cax=colorbar_ax, label="fraction of the true class")
    return [_save_image(tile, path) for tile, path in zip(_render_tiles(figure, columns), paths)]


# ------------------------------------------------------------------------------------------------- confidence


def image_grid(result: ConfidenceResult, images: np.ndarray, indices: np.ndarray, path: Path, title: str) -> Path:
    """The test images at ``indices`` in rows of 8, each with its label, prediction and probability;
    wrong predictions framed and labelled in red."""
    from nnlab.confidence import probability_text

    columns = min(8, len(indices))
    rows = -(-len(indices) // columns)
    tile_w, tile_h, side, header = 1.35, 1.6, 1.1, 0.5  # inches: a tile, its square image, the title band
    width, height = tile_w * columns, header + tile_h * rows
    figure = plt.figure(figsize=(width, height), dpi=DPI)
    for k, i in enumerate(indices):
        row, column = divmod(k, columns)
        left = column * tile_w + (tile_w - side) / 2
        bottom = height - header - (row + 1) * tile_h + 0.1
        ax = figure.add_axes((left / width, bottom / height, side / width, side / height))
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        label, prediction = int(result.labels[i]), int(result.predictions[i])
        wrong = label != prediction
        colour = "#d62728" if wrong else "black"
        names = result.classes
        text = f"#{i}  {names[label]}" + (f"→{names[prediction]}" if wrong else "")
        ax.set_title(f"{text}\np={probability_text(result.log_conf[i])}", fontsize=7, color=colour, pad=2)
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(2.0 if wrong else 0.5)
    figure.suptitle(title, fontsize=10, y=1 - 0.15 / height, va="top")
    return save_figure(figure, path)


def calibration_plot(result: ConfidenceResult, path: Path) -> Path:
    """A reliability diagram (accuracy against confidence per bin) and a histogram of confidences."""
    figure, (diagram, histogram) = plt.subplots(1, 2, figsize=(10, 4))
    bins = result.bins
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    width = bins[0]["high"] - bins[0]["low"]
    filled = [b for b in bins if b["count"]]
    diagram.bar(
        [(b["low"] + b["high"]) / 2 for b in filled],
        [b["accuracy"] for b in filled],
        width=width * 0.95,
        color="#1f77b4",
        alpha=0.8,
        label="accuracy",
    )
    diagram.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    diagram.plot(
        [b["confidence"] for b in filled],
        [b["accuracy"] for b in filled],
        "o",
        color="#d62728",
        markersize=4,
        label="bin mean confidence",
    )
    diagram.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence (largest softmax probability)",
        ylabel="accuracy",
        title=f"reliability: ECE = {result.ece:.4f} ({len(bins)} bins)",
    )
    diagram.legend(fontsize=8, loc="lower right")
    histogram.bar(centres, [b["count"] for b in bins], width=width * 0.95, color="#7f7f7f")
    histogram.set(
        yscale="log",
        xlim=(0, 1),
        xlabel="confidence",
        ylabel="test images",
        title=f"{result.model} on {result.dataset}: confidence histogram",
    )
    for ax in (diagram, histogram):
        ax.grid(alpha=0.3)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    return save_figure(figure, path)


def per_class_plot(result: ConfidenceResult, path: Path) -> Path:
    """Per class: accuracy and mean confidence, and how many are among the most and least confident."""
    figure, (quality, extremes) = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(result.classes))
    rows = result.per_class
    quality.bar(x - 0.2, [r["accuracy"] for r in rows], 0.4, label="accuracy", color="#1f77b4")
    quality.bar(x + 0.2, [r["mean_confidence"] for r in rows], 0.4, label="mean confidence", color="#ff7f0e")
    low = min(min(r["accuracy"] for r in rows), min(r["mean_confidence"] for r in rows))
    quality.set(ylim=(max(0.0, low - 0.05), 1.0), title="per class: accuracy and mean confidence")
    extremes.bar(
        x - 0.2, [r["in_most"] for r in rows], 0.4, label=f"among the {result.top} most confident", color="#2ca02c"
    )
    extremes.bar(
        x + 0.2, [r["in_least"] for r in rows], 0.4, label=f"among the {result.top} least confident", color="#d62728"
    )
    extremes.set(title="per class: the most and least confident test images", ylabel="images")
    for ax in (quality, extremes):
        ax.set_xticks(x, result.classes, rotation=30, ha="right", fontsize=8)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.2, top=0.9, wspace=0.2)
    return save_figure(figure, path)


# ------------------------------------------------------------------------------------------------------ sweeps


def _group_of(record: TrialRecord, keys: Sequence[str]) -> tuple[Any, ...]:
    return tuple(record.swept.get(key) for key in keys if key != "seed")


ELIMINATED_COLOUR = "#9e9e9e"
OUTSIDE_COLOUR = "#ff7f0e"


def _metric_panel(
    ax: Axes,
    summary: SweepSummary,
    records: Sequence[TrialRecord],
    metric: str,
    labels: list[str],
    eliminated: set[int],
    rng: np.random.Generator,
) -> None:
    """One metric: every trial as a dot, each group's mean with its interval; an interval past the metric's range
    drawn in orange (not clipped), an eliminated group's in grey."""
    positions = {tuple(group.settings.values()): row for row, group in enumerate(summary.groups)}
    for record in records:
        value = record.metrics.get(metric)
        row = positions.get(_group_of(record, summary.keys))
        if record.status == "ok" and value is not None and row is not None:
            ax.plot(value, row + rng.uniform(-0.18, 0.18), "o", color="#7f7f7f", alpha=0.5, markersize=3)
    outside = False
    for row, group in enumerate(summary.groups):
        stat = group.metrics[metric]
        if stat.mean is None:
            continue
        error = None if stat.ci95 is None else [[stat.mean - stat.ci95[0]], [stat.ci95[1] - stat.mean]]
        colour = ELIMINATED_COLOUR if row in eliminated else OUTSIDE_COLOUR if stat.outside_range else "#d62728"
        outside |= stat.outside_range
        ax.errorbar(stat.mean, row, xerr=error, fmt="D", color=colour, capsize=4, markersize=5)
    declaration = summary.declaration(metric)
    for bound in (declaration.low, declaration.high) if declaration else ():
        if bound is not None and outside:
            ax.axvline(bound, color=OUTSIDE_COLOUR, linestyle=":", linewidth=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=8 if len(labels) <= 30 else 6)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel(metric)
    ax.grid(alpha=0.3, axis="x")
    kind = "BCa bootstrap" if summary.interval == "bootstrap" else "t"
    note = "\norange: interval past the metric's range" if outside else ""
    ax.set_title(f"{metric}: mean and 95% {kind} interval (dots: trials){note}", fontsize=9)


def sweep_summary(
    summary: SweepSummary,
    records: Sequence[TrialRecord],
    path: Path,
    extra_panel: Callable[[Axes, SweepSummary, list[str]], None] | None = None,
) -> Path:
    """One panel per main metric: each group's mean with its 95% interval as an error bar and every trial's value
    as a dot; groups run down the page, so 1 or 100 read alike (the figure grows with them). A race's eliminated
    groups are grey and say so. ``extra_panel`` draws an experiment's own row below (a confidence sweep's digit
    counts)."""
    from nnlab.tables import group_label, varied_keys

    varied = varied_keys(summary)
    eliminated = _eliminated_rows(summary)
    labels = [
        group_label(group.settings, varied) + (" (eliminated)" if row in eliminated else "")
        for row, group in enumerate(summary.groups)
    ]
    metrics = summary.main_metrics or summary.metrics[:1]
    height = max(2.6, 0.3 * len(labels) + 1.6)
    extra = 3.6 if extra_panel is not None else 0.0
    figure = plt.figure(figsize=(4.8 * len(metrics) + 2.4, height + extra + 0.6))
    grid = figure.add_gridspec(2 if extra else 1, len(metrics), height_ratios=[height, extra] if extra else None)
    rng = np.random.default_rng(0)  # jitter of the dots, the same in every run
    for column, metric in enumerate(metrics):
        ax = figure.add_subplot(grid[0, column])
        _metric_panel(ax, summary, records, metric, labels if column == 0 else [""] * len(labels), eliminated, rng)
    if extra_panel is not None:
        extra_panel(figure.add_subplot(grid[1, :]), summary, varied)
    raced = f"; race on {summary.race.metric}" if summary.race is not None else ""
    trials, groups = counted(len(records), "trial"), counted(len(labels), "group")
    figure.suptitle(f"sweep of {summary.command}: {trials} in {groups}{raced}", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (height + extra + 0.6)))
    return save_figure(figure, path)


def _eliminated_rows(summary: SweepSummary) -> set[int]:
    if summary.race is None:
        return set()
    out = {tuple(sorted(g.settings.items())) for g in summary.race.groups if g.status == "eliminated"}
    return {row for row, group in enumerate(summary.groups) if tuple(sorted(group.settings.items())) in out}


def count_panel(
    ax: Axes,
    summary: SweepSummary,
    varied: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    xlabel: str,
    ylabel: str,
    title: str,
    most_groups: int = 6,
) -> None:
    """Per category (x), two count metrics of each group (solid and dashed) with their intervals: a confidence
    sweep's digits among the most and least confident images."""
    from nnlab.tables import group_label

    shown = summary.groups[:most_groups]
    colours = plt.get_cmap("tab10")
    for index, group in enumerate(shown):
        offset = (index - (len(shown) - 1) / 2) * 0.1
        for which, style, kind in ((0, "-", "most"), (1, "--", "least")):
            stats = [group.metrics[pair[which]] for pair in pairs]
            means = np.array([np.nan if s.mean is None else s.mean for s in stats])
            low = np.array([0.0 if s.ci95 is None or s.mean is None else s.mean - s.ci95[0] for s in stats])
            high = np.array([0.0 if s.ci95 is None or s.mean is None else s.ci95[1] - s.mean for s in stats])
            ax.errorbar(
                np.arange(len(pairs)) + offset,
                means,
                yerr=[low, high],
                fmt="o" + style,
                color=colours(index),
                capsize=2,
                markersize=3,
                linewidth=1,
                label=f"{kind}: {group_label(group.settings, varied)}",
            )
    ax.set_xticks(range(len(pairs)))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    more = f" (the first {most_groups} groups)" if len(summary.groups) > most_groups else ""
    ax.set_title(title + more, fontsize=9)
