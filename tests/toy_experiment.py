"""A toy experiment, defined here and nowhere under src/: one setting, one metric, one file written. Registered by
naming this module in $NNLAB_EXPERIMENTS (test_registry.py), it gets a command, a preset table, sweeps and its
section of index.html."""

import json
import random
from pathlib import Path
from typing import ClassVar

from nnlab import report
from nnlab.declarations import setting
from nnlab.experiment import Experiment, Metric, Outcome, Section, SweepPlan
from nnlab.files import OutputSet
from nnlab.running import finish
from nnlab.schema import Record
from nnlab.settings import OutputSettings


class ToySettings(OutputSettings):
    """Settings of ``nnlab toy``."""

    panel: ClassVar[str] = "Toy"
    seed: int = setting(0, "Seed of the draw.", ge=0, le=1000)


class ToyRecord(Record):
    seed: int
    score: float


def score(settings: ToySettings) -> float:
    return random.Random(settings.seed).random()


def command(settings: ToySettings) -> None:
    """Draw a score from the seed.

    Example: nnlab toy --seed 3
    """
    with OutputSet(Path(settings.out) / "toy", lambda name: name == "toy.json") as outputs:
        outputs.write_json("toy.json", {"seed": settings.seed, "score": score(settings)})
        files = outputs.commit(last="toy.json")
    report.line(f"score {json.loads(files[0].read_text())['score']:.4f}")
    finish(settings.out, files)


EXPERIMENT = Experiment(
    name="toy",
    order=90,
    settings=ToySettings,
    command=command,
    metrics=(Metric("score", "higher", 0.0, 1.0, main=True),),
    trial=lambda settings: Outcome({"score": score(settings)}),
    sweep=SweepPlan(cost=lambda settings: 1.0, batched=True),
    folders=("toy",),
    describe=lambda relative: "the toy's score" if relative == "toy/toy.json" else None,
    sections=(Section("toy/toy.json", lambda: ToyRecord, lambda r, files: f"<h2>Toy</h2><p>score {r.score:.4f}</p>"),),
)
