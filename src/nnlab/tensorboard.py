"""TensorBoard event files (``--tensorboard``): each run of a command writes into its own folder,
``OUT/tensorboard/<command>/<run>/``, so that runs accumulate and ``tensorboard --logdir OUT/tensorboard`` shows them
side by side. ``<run>`` is the start time and a short id of the settings (``20261202-153000-3fa2c1``); while the run
goes on its folder ends in ``-running``, and it is renamed when the run ends: without the suffix when it finished,
with ``-interrupted`` or ``-failed`` when it did not, so that nothing in the log folder looks like a finished run that
was not one.

The writer is TensorBoard's own (``torch.utils.tensorboard.SummaryWriter``, from the ``nnlab[tensorboard]`` extra),
imported only when a run asks for it. Each experiment decides what it logs (experiments/); this module gives them
the run (:func:`active`), its writers (one per model or trial, a sub-folder each) and the few ways of logging that
TensorBoard lacks: a PNG nnlab drew as an image, and an HParams session in a run's own folder.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnlab.errors import ConfigError, Name, OutputError

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

FOLDER = "tensorboard"
OUTCOME_SUFFIXES = ("-running", "-interrupted", "-failed")
RUN_NAME = re.compile(rf"\d{{8}}-\d{{6}}-[0-9a-f]{{6}}(-\d+)?({'|'.join(OUTCOME_SUFFIXES)})?")
INSTALL = "pip install 'nnlab[tensorboard]'"


def require() -> None:
    """Raise ConfigError (exit 2, before anything starts) when the tensorboard package is not installed."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(Name("tensorboard"), f": needs the tensorboard package; install it with {INSTALL}")


def run_name(settings: Mapping[str, Any], now: datetime.datetime) -> str:
    """The start time to the second and a short id of the resolved ``settings``: runs sort by time, and two
    runs with the same settings share the id."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:6]
    return f"{now:%Y%m%d-%H%M%S}-{digest}"


class Run:
    """One run's event files: a writer per sub-folder (``writer("conv")``), all closed and the folder renamed by
    outcome when the run ends (see the module's docstring)."""

    def __init__(self, root: Path, command: str, name: str) -> None:
        self.folder = root / command
        self.name = self._free_name(name)
        self.path = self.folder / f"{self.name}-running"
        try:
            self.path.mkdir(parents=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path} ({exc.strerror}); choose another ", Name("out")) from None
        self._writers: dict[str, SummaryWriter] = {}
        self.logged = False  # whether any writer was opened: a run that logged nothing leaves no folder
        self.closed = False

    def _free_name(self, name: str) -> str:
        """``name``, or ``name-2``, ``name-3``...: two runs in the same second with the same settings."""
        candidate, count = name, 1
        while any((self.folder / f"{candidate}{end}").exists() for end in ("", *OUTCOME_SUFFIXES)):
            count += 1
            candidate = f"{name}-{count}"
        return candidate

    def writer(self, sub: str = "") -> SummaryWriter:
        """The writer of the sub-folder ``sub`` of this run (the run's own folder for "")."""
        if sub not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[sub] = SummaryWriter(log_dir=str(self.path / sub) if sub else str(self.path), flush_secs=5)
            self.logged = True
        return self._writers[sub]

    def done_with(self, sub: str) -> None:
        """Close the writer of ``sub`` now: a sweep logs each of up to 10,000 trials once, and an open writer holds
        a file and a thread."""
        writer = self._writers.pop(sub, None)
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()

    def close(self, outcome: str) -> Path:
        """Flush and close every writer, then give the folder its final name: the run's name for ``complete``,
        followed by ``-interrupted`` or ``-failed`` otherwise. Returns the final path; closing again changes
        nothing."""
        if self.closed:
            return self.path
        self.closed = True
        if not self.logged:  # nothing logged (bad input found before any work): no run to show
            with contextlib.suppress(OSError):
                self.path.rmdir()
            return self.path
        for writer in self._writers.values():
            with contextlib.suppress(OSError):
                writer.close()
        self._writers.clear()
        final = self.folder / (self.name if outcome == "complete" else f"{self.name}-{outcome}")
        with contextlib.suppress(OSError):
            os.replace(self.path, final)
            self.path = final
        return self.path


_active: list[Run] = []


def active() -> Run | None:
    """The TensorBoard run of the command running now, or None when it writes none."""
    return _active[-1] if _active else None


@contextlib.contextmanager
def recording(out: str | Path, command: str, settings: Mapping[str, Any], enabled: bool) -> Iterator[Run | None]:
    """For the duration: the run of ``command`` in ``OUT/tensorboard/`` when ``enabled`` (see :func:`active`),
    renamed by how the block ends (complete, interrupted by Ctrl-C or SIGTERM, failed)."""
    if not enabled:
        yield None
        return
    run = Run(Path(out) / FOLDER, command, run_name(settings, datetime.datetime.now()))
    _active.append(run)
    outcome = "failed"
    try:
        yield run
        outcome = "complete"
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    finally:
        _active.remove(run)
        run.close(outcome)


# ------------------------------------------------------------------------------------------ what TensorBoard lacks


def add_png(writer: SummaryWriter, tag: str, path: Path, step: int) -> None:
    """Log the PNG at ``path`` (a figure nnlab drew) as the image ``tag`` at ``step``."""
    import matplotlib.image

    pixels = matplotlib.image.imread(str(path))  # (H, W, 3 or 4), floats in [0, 1]
    writer.add_image(tag, pixels[..., :3], step, dataformats="HWC")


def add_session(writer: SummaryWriter, hparams: Mapping[str, Any], metrics: Mapping[str, float | None]) -> None:
    """Make the writer's run one HParams session: ``hparams`` (numbers, text, booleans; anything else as text) and
    the final ``metrics`` as scalars of the same names at step 0, which TensorBoard's HParams table and
    parallel-coordinates view show. In the run's own folder, unlike SummaryWriter.add_hparams, which makes a new
    one per call."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    from nnlab.sweep.grid import NOT_SWEPT  # where files go and what is shown: not what a run computed

    values = {
        key: value if isinstance(value, int | float | str | bool) else str(value)
        for key, value in hparams.items()
        if key not in NOT_SWEPT
    }
    present = {name: value for name, value in metrics.items() if value is not None}
    experiment, start, end = hparams_summary(values, present)
    for summary in (experiment, start, end):
        writer.file_writer.add_summary(summary)
    for name, value in present.items():
        writer.add_scalar(name, value, 0)


def runs(out: Path) -> list[str]:
    """The TensorBoard runs in ``OUT/tensorboard/``, as ``<command>/<run>`` (``sweep/<command>/<run>``) relative
    to it, sorted."""
    root = Path(out) / FOLDER
    found = []
    for folder, subfolders, _ in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        for name in subfolders:
            if RUN_NAME.fullmatch(name):
                found.append((Path(folder) / name).relative_to(root).as_posix())
        subfolders[:] = [name for name in subfolders if depth < 2 and not RUN_NAME.fullmatch(name)]
    return sorted(found)
