"""An experiment for the tests of sweeps under signals, killed processes and resumes, whose trials finish when the test
says so instead of racing trials that take a while: the first ``free`` trials to start (whichever they are) finish at
once, every other one waits until the gate opens (a file ``open`` in the folder ``gate``). Each trial leaves a file
``started-*`` in the gate as it starts. So a test stops a sweep at a point it chose, with a known number of trials
finished and the workers busy. Registered by naming this module in $NNLAB_EXPERIMENTS, with this folder on PYTHONPATH
(``GATED``, the environment for such processes)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import ClassVar

from nnlab.declarations import setting
from nnlab.experiment import Experiment, Metric, Outcome, SweepPlan
from nnlab.settings import OutputSettings

# The environment of a process (a sweep, a dask worker) that knows this experiment.
GATED = {
    "NNLAB_EXPERIMENTS": __name__,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])),
}
OPEN = "open"  # the file in the gate that lets the waiting trials finish
STARTED = "started-*"  # the marks trials leave in the gate as they start (one more for a trial run again)
GIVE_UP_SECONDS = 120  # a gate never opened fails its trial instead of holding a worker for ever


class GatedSettings(OutputSettings):
    """Settings of ``nnlab gated``."""

    panel: ClassVar[str] = "Gated"
    seed: int = setting(0, "Seed of the score.", ge=0, le=10_000)
    shift: float = setting(0.0, "Added to every score: groups a race can tell apart.", ge=0.0, le=0.9)
    free: int = setting(0, "How many trials finish at once (the first to start); the others wait for the gate.", ge=0)
    gate: str = setting("", "The folder whose file 'open' lets the waiting trials finish ('': none wait).")


def score(seed: int, shift: float) -> float:
    """A draw in [shift, shift + 0.1): noise of its own per group, so that paired differences vary."""
    return shift + 0.1 * random.Random(f"{seed}/{shift}").random()


def open_gate(gate: Path) -> None:
    (gate / OPEN).touch()


def _ticket(gate: Path, free: int) -> bool:
    """Whether this trial is one of the first ``free`` to start, across every process of the sweep."""
    for number in range(free):
        try:
            os.close(os.open(gate / f"ticket-{number}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        return True
    return False


def trial(settings: GatedSettings) -> Outcome:
    if settings.gate:
        gate = Path(settings.gate)
        mark = f"{settings.seed}-{settings.shift}-{os.getpid()}-{time.monotonic_ns()}"
        (gate / STARTED.replace("*", mark)).touch()
        deadline = time.monotonic() + GIVE_UP_SECONDS
        if not _ticket(gate, settings.free):
            while not (gate / OPEN).exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the gate {gate} was never opened")
                time.sleep(0.01)
    return Outcome({"score": score(settings.seed, settings.shift)})


def command(settings: GatedSettings) -> None:
    """Print the score of a seed (the sweeps are what this experiment is for).

    Example: nnlab gated --seed 3
    """
    print(f"score {score(settings.seed, settings.shift):.4f}")


EXPERIMENT = Experiment(
    name="gated",
    order=91,
    settings=GatedSettings,
    command=command,
    metrics=(Metric("score", "higher", 0.0, 1.0, main=True),),
    trial=trial,
    sweep=SweepPlan(cost=lambda settings: 1.0, worker_memory=200 << 20),  # one trial per task: each waits alone
    folders=(),
    describe=lambda relative: None,
    sections=(),
)
