"""Checkpoints read as hostile input: every field is checked after the weights-only load, and anything unexpected
is a CheckpointError naming the file and the field, never another exception."""

import copy
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnlab.classifier import NNClassifier
from nnlab.errors import CheckpointError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(60, 28, 28), dtype=np.uint8)
    clf = NNClassifier(model="linear", epochs=1, device="cpu").fit(X, np.arange(60) % 10)
    path = tmp_path_factory.mktemp("ckpt") / "linear.pt"
    clf.save(path, {"dataset": {"name": "mnist", "source": "test", "train_size": 60, "test_size": 0}})
    return torch.load(path, weights_only=True)


def write(tmp_path, checkpoint, name="c.pt"):
    path = tmp_path / name
    torch.save(checkpoint, path)
    return path


def test_a_good_checkpoint_loads(saved, tmp_path):
    clf = NNClassifier.load(write(tmp_path, saved), model="linear")
    assert clf.classes_.tolist() == list(range(10)) and clf.metadata_["dataset"]["name"] == "mnist"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["params"].update(epochs="five"), r"params: epochs must be int, not 'five'"),
        (lambda c: c["params"].update(lr=-1.0), r"params: lr must be a finite number > 0"),
        (lambda c: c["params"].update(colour="red"), r"params: unknown setting 'colour'"),
        (lambda c: c["params"].pop("model"), r"it does not say which model it holds \(no params\.model\)"),
        (lambda c: c.update(classes={"a": 1}), r"unexpected content in classes"),
        (lambda c: c.update(classes=[0, 0, 1]), r"its classes repeat"),
        (lambda c: c.update(history=["epoch 1"]), r"unexpected content in history\.0"),
        (lambda c: c.update(history=[{"epoch": "one"}]), r"unexpected content in history\.0\.epoch"),
        (lambda c: c.update(metadata={"dataset": {"name": 3}}), r"unexpected content in metadata\.dataset"),
        (lambda c: c.update(version=7), r"unexpected content in version"),
        (lambda c: c.update(extra=1), r"unexpected content in extra"),
        (lambda c: c.update(state_dict=[1, 2]), r"its state_dict is not a mapping of names to tensors"),
        (lambda c: c["state_dict"].pop("1.bias"), r"the 'linear' architecture needs tensor 1\.bias, which is missing"),
        (
            lambda c: c["state_dict"].update({"1.weight": torch.zeros(10, 783)}),
            r"tensor 1\.weight has shape \(10, 783\), the 'linear' architecture needs \(10, 784\)",
        ),
        (
            lambda c: c["state_dict"].update({"1.weight": torch.zeros(10, 784, dtype=torch.int64)}),
            r"1\.weight is not a tensor of floating-point numbers",
        ),
        (lambda c: c["state_dict"].update({"9.weight": torch.zeros(1)}), r"tensor 9\.weight is not part of"),
        (lambda c: c["state_dict"]["1.bias"].__setitem__(0, float("nan")), r"tensor 1\.bias holds NaN or infinite"),
        (lambda c: c["state_dict"]["1.bias"].__setitem__(0, float("inf")), r"tensor 1\.bias holds NaN or infinite"),
    ],
)
def test_every_field_is_checked(saved, tmp_path, change, message):
    checkpoint = copy.deepcopy(saved)
    change(checkpoint)
    path = write(tmp_path, checkpoint)
    with pytest.raises(CheckpointError, match=message) as error:
        NNClassifier.load(path)
    assert str(error.value).startswith(f"checkpoint {path}: ")


def test_paths_that_are_not_checkpoint_files(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file"):
        NNClassifier.load(tmp_path)
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="is a FIFO, not a checkpoint file"):
        NNClassifier.load(fifo)  # never blocks reading a pipe
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as handle:
        handle.truncate(65 << 20)
    with pytest.raises(CheckpointError, match="too large to be an nnlab checkpoint"):
        NNClassifier.load(huge)


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.sampled_from(["params", "classes", "history", "metadata", "format", "version"]),
    key=st.text(max_size=12),
    value=_values,
)
def test_any_mutation_of_the_header_is_a_checkpoint_error_or_loads(saved, tmp_path, field, key, value):
    checkpoint = copy.deepcopy(saved)
    if isinstance(checkpoint[field], dict) and key:
        checkpoint[field][key] = value
    else:
        checkpoint[field] = value
    path = write(tmp_path, checkpoint, "fuzz.pt")
    try:
        clf = NNClassifier.load(path)
    except CheckpointError:
        return
    assert clf.classes_.size >= 1
