"""scratch.TwoLayerNet.backprop against the same gradient by torch autograd (float64, CPU), same process."""

from __future__ import annotations

import numpy as np
import torch
from common import best_time

from nnlab.scratch import TwoLayerNet


def compare(n: int, hidden: int, repeats: int, inner: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 1.5, size=(n, 2))
    T = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    net = TwoLayerNet(hidden=hidden, seed=0)
    params = [torch.tensor(p, requires_grad=True) for p in net.parameters()]
    X_t, T_t = torch.tensor(X), torch.tensor(T)

    def autograd() -> None:
        for p in params:
            p.grad = None
        W, B, V = params
        loss = torch.clamp(-(torch.relu(X_t @ W + B) @ V) * T_t, min=0.0).mean()
        loss.backward()

    ours = best_time(lambda: net.backprop(X, T), repeats, inner)
    theirs = best_time(autograd, repeats, inner)
    return {"n": n, "hidden": hidden, "numpy_s": ours, "torch_s": theirs, "speedup": theirs / ours}


def main() -> list[dict[str, float]]:
    torch.set_num_threads(torch.get_num_threads())
    rows = [compare(100, 50, repeats=20, inner=200), compare(100_000, 1000, repeats=5, inner=1)]
    print("backprop, hand-written NumPy vs torch autograd (float64, CPU, same process, best of N)")
    for row in rows:
        print(
            f"  N={row['n']:>7} H={row['hidden']:>5}: numpy {row['numpy_s'] * 1e6:10.1f} us   "
            f"torch {row['torch_s'] * 1e6:10.1f} us   speedup {row['speedup']:.2f}x"
        )
    return rows


if __name__ == "__main__":
    main()
