import numpy as np
import pytest
import torch

from nnlab.scratch import TwoLayerNet


def _random_problem(n: int, hidden: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.5, size=(n, 2))
    T = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return TwoLayerNet(hidden=hidden, seed=seed), X, T


def _torch_loss_and_grads(net: TwoLayerNet, X: np.ndarray, T: np.ndarray):
    W, B, V = (torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in net.parameters())
    y = torch.relu(torch.tensor(X) @ W + B) @ V
    loss = torch.clamp(-y * torch.tensor(T), min=0.0).mean()
    loss.backward()
    return loss.item(), (W.grad.numpy(), B.grad.numpy(), V.grad.numpy())


def test_parameter_shapes_and_init_scales():
    net = TwoLayerNet(hidden=4000, seed=3)
    assert net.W.shape == (2, 4000) and net.B.shape == (4000,) and net.V.shape == (4000,)
    assert net.W.std() == pytest.approx(1 / np.sqrt(2), rel=0.05)
    assert net.B.std() == pytest.approx(1.0, rel=0.05)
    assert net.V.std() == pytest.approx(1 / np.sqrt(4000), rel=0.05)


def test_forward_matches_the_equations():
    net, X, _ = _random_problem(7, 5, 0)
    expected = np.array(
        [sum(max(0.0, x1 * net.W[0, j] + x2 * net.W[1, j] + net.B[j]) * net.V[j] for j in range(5)) for x1, x2 in X]
    )
    np.testing.assert_allclose(net.forward(X), expected, rtol=1e-12)


@pytest.mark.parametrize(("n", "hidden", "seed"), [(1, 1, 0), (5, 3, 1), (100, 50, 2), (257, 17, 3), (3000, 200, 4)])
def test_backprop_matches_torch_autograd(n, hidden, seed):
    net, X, T = _random_problem(n, hidden, seed)
    torch_loss, torch_grads = _torch_loss_and_grads(net, X, T)
    assert net.loss(X, T) == pytest.approx(torch_loss, rel=1e-12, abs=1e-15)
    for ours, theirs in zip(net.backprop(X, T), torch_grads):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)


def test_backprop_matches_autograd_across_row_blocks():
    # Enough rows and units that the blocked path runs over several blocks.
    net, X, T = _random_problem(20000, 300, 5)
    _, torch_grads = _torch_loss_and_grads(net, X, T)
    for ours, theirs in zip(net.backprop(X, T), torch_grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(
        net.forward(X),
        torch.relu(torch.tensor(X) @ torch.tensor(net.W) + torch.tensor(net.B)).numpy() @ net.V,
        rtol=1e-12,
    )


def test_backprop_matches_central_finite_differences():
    net, X, T = _random_problem(40, 6, 7)
    grads = net.backprop(X, T)
    eps = 1e-6
    for parameter, gradient in zip(net.parameters(), grads):
        numeric = np.zeros_like(parameter)
        for index in np.ndindex(parameter.shape):
            saved = parameter[index]
            parameter[index] = saved + eps
            plus = net.loss(X, T)
            parameter[index] = saved - eps
            minus = net.loss(X, T)
            parameter[index] = saved
            numeric[index] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)


def test_step_returns_loss_before_and_moves_against_the_gradient():
    net, X, T = _random_problem(50, 8, 1)
    before = [p.copy() for p in net.parameters()]
    grads = net.backprop(X, T)
    loss = net.loss(X, T)
    accuracy = net.accuracy(X, T)
    assert net.step(X, T, lr=0.1) == (pytest.approx(loss), accuracy)
    for old, new, gradient in zip(before, net.parameters(), grads):
        np.testing.assert_allclose(new, old - 0.1 * gradient)


def test_correctly_classified_data_has_zero_loss_and_gradient():
    net, X, _ = _random_problem(30, 4, 2)
    T = np.sign(net.forward(X))
    assert net.loss(X, T) == 0.0
    assert all(not g.any() for g in net.backprop(X, T))


def test_same_seed_same_weights_different_seed_different_weights():
    a, b, c = TwoLayerNet(50, seed=0), TwoLayerNet(50, seed=0), TwoLayerNet(50, seed=1)
    assert all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not np.array_equal(a.W, c.W)


def test_rejects_empty_hidden_layer():
    with pytest.raises(ValueError, match="hidden"):
        TwoLayerNet(hidden=0)
