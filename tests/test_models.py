import pytest
import torch
from torch import nn

from nnlab.networks import build_model, count_parameters


@pytest.mark.parametrize(("name", "parameters"), [("linear", 7850), ("full", 407050), ("conv", 33482)])
def test_shapes_and_parameter_counts(name, parameters):
    model = build_model(name)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert count_parameters(model) == parameters


def test_layers_are_exactly_the_labs():
    assert [type(m).__name__ for m in build_model("full")] == ["Flatten", "Linear", "ReLU", "Linear"]
    conv = build_model("conv")
    layers = [(type(m).__name__, getattr(m, "out_channels", None), getattr(m, "kernel_size", None)) for m in conv]
    assert layers == [
        ("Conv2d", 8, (5, 5)),
        ("ReLU", None, None),
        ("MaxPool2d", None, 2),
        ("Conv2d", 24, (5, 5)),
        ("ReLU", None, None),
        ("MaxPool2d", None, 2),
        ("Conv2d", 72, (4, 4)),
        ("ReLU", None, None),
        ("Conv2d", 10, (1, 1)),
        ("Flatten", None, None),
    ]


@pytest.mark.parametrize("channels_last", [False, True])
def test_conv_forward_computes_the_plain_sequential_function(channels_last):
    torch.manual_seed(0)
    model = build_model("conv")
    x = torch.randn(17, 1, 28, 28)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fast = model(x)
    plain = nn.Sequential.forward(model, x)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    # and the gradients agree too
    fast.square().sum().backward()
    fast_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    nn.Sequential.forward(model, x).square().sum().backward()
    for a, b in zip(fast_grads, [p.grad for p in model.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_state_dict_keys_are_those_of_a_plain_sequential():
    keys = set(build_model("conv").state_dict())
    assert keys == {"0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias", "8.weight", "8.bias"}


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'big'"):
        build_model("big")
