"""The model table: every network nnlab trains, one row each, read without importing torch.

A row says everything the rest of nnlab needs to know about a network: where its builder is (networks.py), its
default peak learning rate per optimizer, when its first layer is frozen, how it is laid out in memory and trained
in which precision, what it costs to train (for scheduling sweeps) and its colour in plots. Adding a network is
its builder in networks.py plus its row here; settings, checkpoints, sweeps, plots and the index read the table.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ModelSpec:
    """One network of the lab."""

    name: str
    builder: str  # the function in nnlab.networks that builds it: input (N, 1, 28, 28), output (N, 10) logits
    description: str
    lr: dict[str, float]  # default peak learning rate of the one-cycle schedule, per optimizer
    freeze_first: float  # fraction of the training steps after which the first layer is frozen (1: never)
    channels_last: bool  # channels-last memory format on the CPU (convolutions run faster so)
    bf16: bool  # bf16 autocast under precision "auto", where the hardware has bf16 units
    cost: float  # rough training time per image relative to linear, to start a sweep's longest trials first
    colour: str  # in learning curves and other plots

    one_layer: bool = False  # its first layer is all of it: never frozen, whatever freeze_first says


# Learning rates: tuned per model and optimizer (5 epochs, mnist-5k and Fashion-MNIST).
# Freezing (FreezeOut, Brock et al. 2017): late in the one-cycle schedule the conv net's first layer barely moves,
# and freezing it skips the backward pass through the first convolution and max-pool: about 15% of the conv net's
# training time for no measurable loss of accuracy. For full it costs accuracy; linear has one layer.
# bf16: pays off for conv and full; the linear model is too small to gain from it.
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "linear",
            "linear",
            "Linear(784,10)",
            {"adam": 0.015, "adamw": 0.015, "sgd": 0.2},
            freeze_first=1.0,
            channels_last=False,
            bf16=False,
            cost=1.0,
            colour="#7f7f7f",
            one_layer=True,
        ),
        ModelSpec(
            "full",
            "full",
            "Linear(784,512) ReLU Linear(512,10)",
            {"adam": 0.005, "adamw": 0.005, "sgd": 0.1},
            freeze_first=1.0,
            channels_last=False,
            bf16=True,
            cost=3.0,
            colour="#1f77b4",
        ),
        ModelSpec(
            "conv",
            "conv",
            "four convolutions (8, 24, 72, 10 channels), ReLU, two 2x2 max-pools",
            {"adam": 0.016, "adamw": 0.016, "sgd": 0.1},
            freeze_first=0.5,
            channels_last=True,
            bf16=True,
            cost=6.0,
            colour="#d62728",
        ),
    )
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
ModelName = Literal[MODEL_NAMES]  # type: ignore[valid-type]
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
OptimizerName = Literal[OPTIMIZERS]  # type: ignore[valid-type]
assert all(set(spec.lr) == set(OPTIMIZERS) for spec in MODELS.values()), "every model needs a rate per optimizer"
assert typing.get_args(ModelName) == MODEL_NAMES


def model_spec(name: str) -> ModelSpec:
    """The row of the network ``name``; ValueError naming the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}") from None
