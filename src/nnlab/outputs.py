"""What a sweep writes into its output folder: each trial's record the moment it finishes
(``OUT/sweep/<command>/trials/``, where later sweeps find it), and its summary files as one consistent set at the end
(a :class:`~nnlab.files.OutputSet`: written under temporary names, then put in place together with summary.json,
which comes last). Each experiment writes its own output set (experiments/); :class:`Written` is what every writer
returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from nnlab import schema
from nnlab.errors import Stopped
from nnlab.files import OutputSet, prepare_output_dir, remove_temporary_files, write_json_atomic
from nnlab.settings import SweepSettings

if TYPE_CHECKING:
    from nnlab.sweep.adaptive import Schedule
    from nnlab.sweep.grid import Grid, Plan, Trial

SWEEP_FILES = re.compile(r"trials\.csv|summary\.json|summary\.png")

RecordT = TypeVar("RecordT", bound=schema.Record)


@dataclass
class Written(Generic[RecordT]):
    """What a command wrote: its metrics record and every file of the set (the metrics file last)."""

    metrics: RecordT
    files: list[Path]


def sweep_folder(out: str | Path, command: str) -> Path:
    """Where a sweep of ``command`` writes: ``OUT/sweep/<command>/``."""
    return Path(out) / "sweep" / command


def run_sweep(
    settings: SweepSettings,
    plan: Plan,
    workers: int,
    on_record: Callable[[schema.TrialRecord], None] | None = None,
    schedule: Schedule | None = None,
) -> dict[str, schema.TrialRecord]:
    """Run the plan's pending trials (sweep.run), or those ``schedule`` wants as results arrive, on ``workers``
    local workers or on the settings' scheduler, writing ``trials/<trial>.json`` the moment each finishes; returns
    every trial's record. Interrupted, it raises Stopped saying how many trials are kept for the next run."""
    from nnlab.sweep.cluster import run

    trials_folder = prepare_output_dir(sweep_folder(settings.out, plan.grid.command) / "trials")
    remove_temporary_files(trials_folder)  # what a killed run (kill -9, power loss) was writing; we hold the lock
    # Noted before each write: a Ctrl-C can land between a file's rename into place and anything after it, so what
    # was kept is counted from the files there, not from a counter.
    writing: list[str] = []

    def keep(record: schema.TrialRecord) -> None:
        writing.append(record.trial)
        write_json_atomic(trials_folder / f"{record.trial}.json", record.data())
        log_trial(record)
        if on_record is not None:
            on_record(record)

    for record in plan.finished.values():  # the HParams view shows the whole sweep, resumed or not
        log_trial(record)

    try:
        return run(plan, settings.scheduler, workers, keep, meanwhile=_prepare_summary, schedule=schedule)
    except KeyboardInterrupt as interrupt:
        written = sum((trials_folder / f"{trial}.json").exists() for trial in writing)
        trials = "the trial" if written == 1 else f"the {written} trials"
        kept = f"kept {trials} finished in {trials_folder}; run the same command again to resume"
        raise Stopped.from_interrupt(interrupt, kept if written else "") from None


def log_trial(record: schema.TrialRecord) -> None:
    """TensorBoard (--tensorboard): the trial as one HParams session, a run sub-folder of its own named by its id:
    its swept values and status, its metrics."""
    from nnlab import tensorboard

    run = tensorboard.active()
    if run is not None:
        writer = run.writer(record.trial)
        tensorboard.add_session(writer, {**record.swept, "status": record.status}, record.metrics)
        run.done_with(record.trial)


def log_groups(summary: schema.SweepSummary) -> None:
    """TensorBoard (--tensorboard): each group's mean of each metric, as scalars at step n (its trials), in a run
    sub-folder per group."""
    from nnlab import tensorboard
    from nnlab.tables import group_label

    run = tensorboard.active()
    if run is None:
        return
    for group in summary.groups:
        sub = f"group {group_label(group.settings)}"
        for name, metric in group.metrics.items():
            if metric.mean is not None:
                run.writer(sub).add_scalar(f"mean/{name}", metric.mean, metric.n)
        run.done_with(sub)


def _prepare_summary() -> None:
    """Import what the summary needs (matplotlib, scipy) while the workers run the trials."""
    import scipy.special  # noqa: F401

    from nnlab import plots  # noqa: F401


def sweep(
    settings: SweepSettings, plan: Plan, summary: schema.SweepSummary, records: dict[str, schema.TrialRecord]
) -> Written[schema.SweepSummary]:
    """``OUT/sweep/<command>/``: trials.csv (a row per trial run), summary.png, summary.json (every trial file stays
    in trials/, where later sweeps find it)."""
    from nnlab import plots

    grid = plan.grid
    folder = sweep_folder(settings.out, grid.command)
    ran = [(trial, records[trial.id]) for trial in plan.trials if trial.id in records]
    with OutputSet(folder, SWEEP_FILES.fullmatch) as outputs:
        text = trials_csv(grid, summary.metrics, ran)
        outputs.write_bytes("trials.csv", lambda handle: handle.write(text.encode("utf-8")))
        plots.sweep_summary(
            summary,
            [rec for _, rec in ran],
            outputs.path("summary.png"),
            extra_panel=grid.experiment.sweep.figure_panel,
        )
        files = outputs.listing(last="summary.json")
        final = summary.model_copy(update={"files": files})
        log_groups(final)
        outputs.write_json("summary.json", final.data())
        return Written(final, outputs.commit(last="summary.json"))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets run as a formula (OWASP: CSV injection)


def spreadsheet_safe(cell: object) -> str:
    """A text cell that a spreadsheet will show, not run: a leading ' before a formula character (OWASP)."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def trials_csv(grid: Grid, metrics: list[str], ran: list[tuple[Trial, schema.TrialRecord]]) -> str:
    """One row per trial: its id, every swept key (the trial's own values, also for a trial an earlier, smaller
    sweep ran), the seed, its status, each metric (empty where there is none), seconds, worker and reason: tidy
    data that pandas or a spreadsheet reads directly. Text cells that a spreadsheet would run as a formula start
    with a '."""
    import csv
    import io

    keys = [*grid.group_keys, "seed"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", *keys, "status", *metrics, "seconds", "worker", "reason"])
    for trial, rec in ran:
        values = [rec.metrics.get(name) for name in metrics]
        writer.writerow(
            [
                rec.trial,
                *(spreadsheet_safe(trial.swept.get(key)) for key in keys),
                rec.status,
                *("" if value is None else repr(value) for value in values),
                f"{rec.seconds:.3f}",
                spreadsheet_safe(rec.worker),
                spreadsheet_safe(rec.reason),
            ]
        )
    return buffer.getvalue()
