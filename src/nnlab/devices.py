"""Where torch computes, how a network is laid out there, and whether bfloat16 training is fast there."""

from __future__ import annotations

import functools

import torch

from nnlab.errors import ConfigError, Name
from nnlab.models import model_spec


def resolve_device(device: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device that is not available is a ConfigError."""
    mps = getattr(torch.backends, "mps", None)
    mps_available = mps is not None and mps.is_available()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_available else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(Name("device"), " cuda: no CUDA device is available; use ", Name("device"), " auto or cpu")
    if device == "mps" and not mps_available:
        raise ConfigError(
            Name("device"), " mps: no Apple MPS device is available; use ", Name("device"), " auto or cpu"
        )
    return torch.device(device)


def memory_format(model: str, device: torch.device) -> torch.memory_format:
    """The memory format the network ``model`` trains and predicts in on ``device`` (the model table's policy)."""
    channels_last = model_spec(model).channels_last and device.type == "cpu"
    return torch.channels_last if channels_last else torch.contiguous_format


def trains_in_bf16(model: str, precision: str, device: torch.device) -> bool:
    """Whether ``model`` trains in bfloat16 autocast: always with precision "bf16"; with "auto" where the model
    table says it pays off and the hardware has bf16 units."""
    return precision == "bf16" or (precision == "auto" and model_spec(model).bf16 and bf16_is_fast(device))


# CPU features that compute bfloat16 products in hardware: Intel's AMX tiles, and the AVX-512 BF16 dot products of
# AMD Zen 4 and Intel Cooper Lake and later. On a Zen 4 core, bf16 autocast trains full 1.7x and conv 1.25x faster
# with no measurable change in accuracy (nnlab sweep over 3 seeds on Fashion-MNIST, README).
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def bf16_is_fast(device: torch.device) -> bool:
    """True where bfloat16 training runs on dedicated hardware: CUDA with bf16 support, or a CPU with AMX or
    AVX-512 BF16."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(BF16_CPU_FLAGS & _cpu_flags())
    return False


@functools.cache
def _cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()
