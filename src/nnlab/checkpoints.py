"""The checkpoint format, written and read here only: weights only on reading (no code runs), every field checked.

A checkpoint holds a header (format, version, the estimator's parameters, its classes, its training history and
metadata such as the dataset; see ``schema.CheckpointHeader``) and the network's state dict. :func:`to_bytes`
writes one; :func:`read` reads one as hostile input and returns a :class:`Checkpoint` whose weights already sit
in a network of the right architecture. Anything that does not fit is a CheckpointError naming the file and the
field. ``NNClassifier.save`` and ``NNClassifier.load`` delegate here.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from nnlab.declarations import check_params
from nnlab.devices import memory_format, resolve_device
from nnlab.errors import CheckpointError, ConfigError, Name, TrainingDiverged, first_line
from nnlab.files import describe_os_error, file_kind, open_file, why_not
from nnlab.networks import build_model
from nnlab.schema import CheckpointHeader, first_problem
from nnlab.settings import ClassifierParams

FORMAT = "nnlab-classifier"
VERSION = 1
# The largest of the lab's networks (full) takes 1.6 MB; anything far larger is not one of its checkpoints.
MAX_CHECKPOINT_BYTES = 64 << 20
RETRAIN = "; retrain with 'nnlab mnist'"


@dataclass
class Checkpoint:
    """A checked checkpoint: the parameters it was trained with, its network (weights loaded, on the device),
    classes, history and metadata."""

    params: ClassifierParams
    module: torch.nn.Module
    classes: list[Any]
    history: list[dict[str, float]]
    metadata: dict[str, Any]


def to_bytes(
    params: dict[str, Any],
    classes: list[Any],
    history: list[dict[str, float]],
    metadata: dict[str, Any],
    module: torch.nn.Module,
) -> bytes:
    """A checkpoint as bytes, serialised in memory (a full disk is then an ordinary write error, not torch's).
    Non-finite weights are refused: such a model is never saved."""
    state = {key: value.detach().cpu() for key, value in module.state_dict().items()}
    for key, tensor in state.items():
        if not torch.isfinite(tensor).all():
            raise TrainingDiverged(f"the {params.get('model')} model's weight {key} is not finite; nothing was saved")
    checkpoint = {
        "format": FORMAT,
        "version": VERSION,
        "params": params,
        "classes": classes,
        "history": history,
        "metadata": dict(metadata),
        "state_dict": state,
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def _load(path: Path) -> dict[str, Any]:
    kind = file_kind(path)
    if kind.missing:
        raise CheckpointError(f"checkpoint {path}: no such file; train one with 'nnlab mnist' first")
    if not kind.is_file:
        raise CheckpointError(f"checkpoint {path}: {why_not(kind, 'checkpoint file')}")
    size = os.stat(path).st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint {path}: {size} bytes, too large to be an nnlab checkpoint")
    try:
        handle = open_file(path)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path}: cannot read it ({describe_os_error(exc)})") from None
    try:
        with handle:
            checkpoint = torch.load(handle, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or damaged files
        raise CheckpointError(
            f"checkpoint {path}: not a readable weights file ({first_line(exc, 100)})", RETRAIN
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: not an nnlab classifier checkpoint", RETRAIN)
    return checkpoint


def _header(path: Path, checkpoint: dict[str, Any]) -> CheckpointHeader:
    try:
        return CheckpointHeader.model_validate({key: value for key, value in checkpoint.items() if key != "state_dict"})
    except ValidationError as exc:
        raise CheckpointError(f"checkpoint {path}: unexpected content in {first_problem(exc)}", RETRAIN) from None


def _params(path: Path, header: CheckpointHeader, model: str | None, device: str) -> ClassifierParams:
    stored = header.params.get("model")
    if stored is None:
        raise CheckpointError(f"checkpoint {path}: it does not say which model it holds (no params.model)", RETRAIN)
    if model is not None and stored != model:
        raise CheckpointError(
            f"checkpoint {path}: holds the {stored!r} model, not {model!r}; pass ",
            Name("model"),
            f" {stored} or another checkpoint",
        )
    try:
        return check_params(ClassifierParams, {**header.params, "device": device})
    except ConfigError as exc:  # a value out of range, or a parameter this version does not know
        raise CheckpointError(f"checkpoint {path}: unexpected content in params: {exc}", RETRAIN) from None


def _shape(tensor: Any) -> str:
    return "(" + ", ".join(map(str, tensor.shape)) + ")"


def _check_state(path: Path, state: Any, model: str) -> dict[str, torch.Tensor]:
    """The state dict, if it fits the architecture tensor by tensor and holds finite numbers."""
    expected = build_model(model).state_dict()
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise CheckpointError(f"checkpoint {path}: its state_dict is not a mapping of names to tensors", RETRAIN)
    for key, reference in expected.items():
        if key not in state:
            raise CheckpointError(f"checkpoint {path}: the {model!r} architecture needs tensor {key}, which is missing")
        tensor = state[key]
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise CheckpointError(f"checkpoint {path}: {key} is not a tensor of floating-point numbers")
        if tensor.shape != reference.shape:
            raise CheckpointError(
                f"checkpoint {path}: tensor {key} has shape {_shape(tensor)}, the {model!r} "
                f"architecture needs {_shape(reference)}"
            )
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"checkpoint {path}: tensor {key} holds NaN or infinite weights", RETRAIN)
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"checkpoint {path}: tensor {extra[0]} is not part of the {model!r} architecture")
    return state


def read(path: Path, model: str | None = None, device: str = "cpu") -> Checkpoint:
    """The checkpoint at ``path``, every field checked; ``model`` checks that it holds that architecture. Its
    network is built, loaded and moved to ``device``."""
    checkpoint = _load(path)
    header = _header(path, checkpoint)
    params = _params(path, header, model, device)
    state = _check_state(path, checkpoint.get("state_dict"), params.model)
    if len(set(header.classes)) != len(header.classes):
        raise CheckpointError(f"checkpoint {path}: its classes repeat ({header.classes})", RETRAIN)
    module = build_model(params.model)
    module.load_state_dict(state, strict=True)
    target = resolve_device(device)
    return Checkpoint(
        params=params,
        module=module.to(target, memory_format=memory_format(params.model, target)),
        classes=list(header.classes),
        history=[row.model_dump(exclude_none=True) for row in header.history],
        metadata=header.metadata.data(),
    )
