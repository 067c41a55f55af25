"""Reading a checkpoint as hostile input: weights only (no code runs), every field checked, errors named.

A checkpoint is what :meth:`NNClassifier.checkpoint_bytes` writes: a header (format, version, parameters, classes,
history, metadata; see ``schema.CheckpointHeader``) and the network's state dict. Anything that does not fit is a
CheckpointError naming the file and the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import ValidationError

from nnlab.errors import CheckpointError, ConfigError, Name
from nnlab.files import file_kind, why_not
from nnlab.models import build_model
from nnlab.schema import CheckpointHeader, first_problem
from nnlab.settings import ClassifierParams, check_params

if TYPE_CHECKING:
    from nnlab.classifier import NNClassifier

# The largest of the lab's networks (full) takes 1.6 MB; anything far larger is not one of its checkpoints.
MAX_CHECKPOINT_BYTES = 64 << 20
RETRAIN = "; retrain with 'nnlab mnist'"


def _read(path: Path) -> dict[str, Any]:
    kind = file_kind(path)
    if kind.startswith("missing"):
        raise CheckpointError(f"checkpoint {path}: no such file; train one with 'nnlab mnist' first")
    if kind != "file":
        raise CheckpointError(f"checkpoint {path}: {why_not(kind, 'checkpoint file')}")
    size = os.stat(path).st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint {path}: {size} bytes, too large to be an nnlab checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or damaged files
        text = str(exc).strip()
        reason = text.splitlines()[0][:100] if text else type(exc).__name__
        raise CheckpointError(f"checkpoint {path}: not a readable weights file ({reason})", RETRAIN) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != "nnlab-classifier":
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
        raise CheckpointError(f"checkpoint {path}: holds the {stored!r} model, not {model!r}; pass ", Name("model"),
                              f" {stored} or another checkpoint")  # fmt: skip
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
            raise CheckpointError(f"checkpoint {path}: tensor {key} has shape {_shape(tensor)}, the {model!r} "
                                  f"architecture needs {_shape(reference)}")  # fmt: skip
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"checkpoint {path}: tensor {key} holds NaN or infinite weights", RETRAIN)
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"checkpoint {path}: tensor {extra[0]} is not part of the {model!r} architecture")
    return state


def load(cls: type[NNClassifier], path: Path, model: str | None, device: str) -> NNClassifier:
    """The classifier stored at ``path`` (see :meth:`NNClassifier.load`)."""
    from nnlab.classifier import IMAGE_SHAPE, resolve_device

    checkpoint = _read(path)
    header = _header(path, checkpoint)
    params = _params(path, header, model, device)
    state = _check_state(path, checkpoint.get("state_dict"), params.model)
    if len(set(header.classes)) != len(header.classes):
        raise CheckpointError(f"checkpoint {path}: its classes repeat ({header.classes})", RETRAIN)
    estimator = cls(**params.model_dump())
    module = build_model(params.model)
    module.load_state_dict(state, strict=True)
    target = resolve_device(device)
    memory_format = torch.channels_last if params.model == "conv" and target.type == "cpu" else torch.contiguous_format
    estimator.module_ = module.to(target, memory_format=memory_format)
    estimator.classes_ = np.asarray(header.classes)
    estimator.history_ = [row.model_dump(exclude_none=True) for row in header.history]
    estimator.metadata_ = header.metadata.data()
    estimator.n_features_in_ = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    return estimator
