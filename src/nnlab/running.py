"""The steps every command's body shares: load the data it names, say its warnings, refresh the index page and list
what it wrote. Command bodies live with their experiments (experiments/); this is what they have in common."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnlab import report
from nnlab.commandline import flag
from nnlab.errors import Message, OutputError


def warn(messages: list[Message]) -> None:
    """Show each warning, settings named as flags."""
    for warning in messages:
        report.warning(warning.render(flag))


def finish(out: str, files: list[Path]) -> None:
    """Refresh the index page and list what the command wrote. The results are in place already: an index that
    cannot be written (a full disk) is a warning, not a failure of the command."""
    from nnlab import tensorboard
    from nnlab.index import write_index

    run = tensorboard.active()
    if run is not None:  # its work is done: the index lists it under its final name
        run.close("complete")
    try:
        page, warnings = write_index(Path(out))
    except OutputError as exc:
        page, warnings = None, [f"{exc.render(flag)}; the results are complete; run 'nnlab index' later"]
    for warning in warnings:
        report.warning(warning)
    report.files([*files, *([page] if page else [])])
    if run is not None:
        report.line(f"TensorBoard: tensorboard --logdir {Path(out) / tensorboard.FOLDER} (this run: {run.path.name})")


def load_data(settings: Any) -> Any:
    """The dataset the settings name (dataset, data_dir, fallback), loaded while torch is imported and the device
    checked; says what it is."""
    from nnlab.data import load_while

    def check_device() -> None:
        from nnlab.devices import resolve_device

        resolve_device(settings.device)

    dataset = load_while(settings.dataset, settings.data_dir, settings.fallback, check_device)
    warn(dataset.warnings)
    report.line(f"data: {dataset.summary()}")
    return dataset
