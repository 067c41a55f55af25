"""The lab's networks as torch modules, exactly as in the original: input (N, 1, 28, 28), output (N, 10) logits.

Each builder is named by its row in the model table (models.py), which says everything else about it.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from nnlab.models import model_spec

IMAGE_SHAPE = (28, 28)
OUTPUTS = 10  # every network of the lab has ten outputs


def linear() -> nn.Sequential:
    """Linear(784,10): multinomial logistic regression."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def full() -> nn.Sequential:
    """Linear(784,512) ReLU Linear(512,10)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))


def conv() -> nn.Sequential:
    """Four convolutions (8, 24, 72 and 10 channels) with ReLU and two 2x2 max-pools, ending in a 1x1 convolution."""
    return LabConvNet(
        nn.Conv2d(1, 8, 5),  # (N, 8, 24, 24)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 8, 12, 12)
        nn.Conv2d(8, 24, 5),  # (N, 24, 8, 8)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 24, 4, 4)
        nn.Conv2d(24, 72, 4),  # (N, 72, 1, 1)
        nn.ReLU(),
        nn.Conv2d(72, 10, 1),  # (N, 10, 1, 1)
        nn.Flatten(),  # (N, 10)
    )


def build_model(name: str) -> nn.Sequential:
    """The network of the model table's row ``name``, freshly initialised (torch's default initialisation)."""
    return globals()[model_spec(name).builder]()


class LabConvNet(nn.Sequential):
    """The lab's convolutional network: its layers, parameters and checkpoints are those of the plain
    ``nn.Sequential``; only the forward pass computes the same function in fewer operations."""

    def forward(self, x: Tensor) -> Tensor:
        conv1, _, _, conv2, _, _, conv3, _, conv4, _ = self
        # max-pool and ReLU commute (ReLU is monotonic); pooling first runs ReLU and its backward on 4x fewer values
        x = F.relu(F.max_pool2d(conv1(x), 2))  # (N, 8, 12, 12)
        x = F.relu(F.max_pool2d(conv2(x), 2))  # (N, 24, 4, 4)
        # a 4x4 kernel over a 4x4 map and a 1x1 kernel over a 1x1 map are plain matrix products
        x = F.relu(F.linear(x.flatten(1), conv3.weight.flatten(1), conv3.bias))  # (N, 72)
        return F.linear(x, conv4.weight.flatten(1), conv4.bias)  # (N, 10)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (frozen ones included)."""
    return sum(p.numel() for p in model.parameters())
