"""Every matplotlib figure nnlab draws (Agg backend), each written atomically. Nothing here trains."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from nnlab.files import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from nnlab.moons import MoonsResult

# The lab's two colours: class t = -1 in blue, t = +1 in red; the half-planes lightly in the same colours.
NEGATIVE_COLOUR = "#1f5fbf"
POSITIVE_COLOUR = "#d62728"
DPI = 100


def save_figure(figure: Figure, path: Path, **savefig_kwargs: Any) -> Path:
    """Write ``figure`` as a PNG at ``path`` atomically, then close it."""
    try:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=DPI, **savefig_kwargs)
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

    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG", optimize=False, compress_level=1)
    return Path(path)


def moons_pictures(
    result: MoonsResult, iterations: Sequence[int], tile_paths: Sequence[Path], overview_path: Path
) -> list[Path]:
    """The decision boundary at each of ``iterations``: one PNG each, and all of them side by side.

    Each picture shows the data, the dashed zero-level contour and the lightly filled half-planes. The figure
    is rendered once; each snapshot's PNG is cut from it, which keeps ``nnlab moons`` fast.
    """
    tile_w, tile_h = _TILE_INCHES
    left, bottom, width, height = _TILE_AXES
    columns = len(iterations)
    figure = plt.figure(figsize=(tile_w * columns, tile_h), dpi=_TILE_DPI)
    try:
        for column, iteration in enumerate(iterations):
            ax = figure.add_axes(((column + left) / columns, bottom, width / columns, height))
            _draw_boundary(ax, result, iteration)
        figure.canvas.draw()
        pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]  # (rows, columns * tile, 3)
    finally:
        plt.close(figure)
    tile_pixels = pixels.shape[1] // columns
    written = [
        _save_image(np.ascontiguousarray(pixels[:, column * tile_pixels : (column + 1) * tile_pixels]), path)
        for column, path in enumerate(tile_paths)
    ]
    written.append(_save_image(np.ascontiguousarray(pixels), overview_path))
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
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return Path(path)
