"""The lab's two-layer ReLU network in pure NumPy, with backpropagation written by hand.

    z_j = x_1 w_1j + x_2 w_2j + b_j      Z = X @ W + B            # (N, H)
    a_j = max(0, z_j)                    A = relu(Z)              # (N, H)
    y   = sum_j a_j v_j                  y = A @ V                # (N,)
    E   = mean_k max(0, -y_k t_k)        t_k in {-1, +1}

Only misclassified samples (y_k t_k < 0) have a non-zero error gradient, dE/dy_k = -t_k / N, so the backward
pass runs on those rows alone. Large inputs are processed in row blocks that keep the (rows, H) activations in
cache instead of streaming N x H arrays through memory several times. No I/O, no printing, no torch.
"""

from __future__ import annotations

import numpy as np

# Rows per block are chosen so that one block of activations is about this many float64 values (~1 MiB):
# large enough for efficient BLAS calls, small enough to stay in a core's L2 cache.
_BLOCK_VALUES = 1 << 17


def _block_rows(hidden: int) -> int:
    return max(64, _BLOCK_VALUES // max(hidden, 1))


class TwoLayerNet:
    """The lab's network: 2 inputs, ``hidden`` ReLU units, one linear output; float64 throughout.

    Initialisation follows the lab: ``W ~ N(0, 1/sqrt(2))`` (2, H), ``B ~ N(0, 1)`` (H,),
    ``V ~ N(0, 1/sqrt(H))`` (H,), where the second argument of N is the standard deviation.
    """

    def __init__(self, hidden: int = 50, seed: int | None = 0) -> None:
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        rng = np.random.default_rng(seed)
        self.W = rng.normal(0.0, 1.0 / np.sqrt(2.0), size=(2, hidden))  # (2, H)
        self.B = rng.normal(0.0, 1.0, size=hidden)  # (H,)
        self.V = rng.normal(0.0, 1.0 / np.sqrt(hidden), size=hidden)  # (H,)

    @property
    def hidden(self) -> int:
        return self.V.shape[0]

    def parameters(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.W, self.B, self.V

    def all_finite(self) -> bool:
        """True while every weight is a finite number."""
        return all(np.isfinite(p).all() for p in self.parameters())

    def _hidden_activations(self, X: np.ndarray) -> np.ndarray:
        A = X @ self.W  # (n, H)
        A += self.B
        np.maximum(A, 0.0, out=A)  # relu in place: A is Z no longer
        return A

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Network outputs y (N,) for inputs X (N, 2)."""
        X = np.asarray(X, dtype=np.float64)
        step = _block_rows(self.hidden)
        if X.shape[0] <= step:
            return self._hidden_activations(X) @ self.V
        y = np.empty(X.shape[0])
        for start in range(0, X.shape[0], step):
            y[start : start + step] = self._hidden_activations(X[start : start + step]) @ self.V
        return y

    def loss(self, X: np.ndarray, T: np.ndarray) -> float:
        """The error E = mean_k max(0, -y_k t_k) with labels T in {-1, +1}."""
        y = self.forward(X)
        return float(np.maximum(0.0, -y * np.asarray(T, dtype=np.float64)).mean())

    def loss_and_gradients(
        self, X: np.ndarray, T: np.ndarray
    ) -> tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """E and its exact gradient (DW, DB, DV) in one forward and one backward pass."""
        error, _, gradients = self._forward_backward(X, T)
        return error, gradients

    def _forward_backward(
        self, X: np.ndarray, T: np.ndarray
    ) -> tuple[float, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """E, the margins -y_k t_k (N,) and the gradient (DW, DB, DV), in one forward and one backward pass."""
        X = np.asarray(X, dtype=np.float64)
        T = np.asarray(T, dtype=np.float64)
        n = X.shape[0]
        step = _block_rows(self.hidden)
        if n <= step:  # small problems: one block, activations reused by the backward pass
            A = self._hidden_activations(X)  # (N, H)
            margin = -(A @ self.V) * T  # (N,)
            wrong = margin > 0.0  # where max(0, .) has slope 1; 0 at the kink, like autograd
            G = np.where(wrong, -T / n, 0.0)  # (N,) dE/dy
            return float(margin[wrong].sum() / n), margin, self._gradients(X, G, A)
        margin = -self.forward(X) * T  # (N,)
        wrong = margin > 0.0
        Xw = X[wrong]  # (M, 2) the only rows with a non-zero gradient
        G = -T[wrong] / n  # (M,)
        DW, DB, DV = np.zeros_like(self.W), np.zeros_like(self.B), np.zeros_like(self.V)
        for start in range(0, Xw.shape[0], step):
            xb = Xw[start : start + step]
            dW, dB, dV = self._gradients(xb, G[start : start + step], self._hidden_activations(xb))
            DW += dW
            DB += dB
            DV += dV
        return float(margin[wrong].sum() / n), margin, (DW, DB, DV)

    def _gradients(self, X: np.ndarray, G: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Backward pass for rows X with output gradients G and hidden activations A = relu(Z)."""
        DV = G @ A  # (H,) dE/dV = A^T G
        # dE/dZ_kj = G_k V_j [Z_kj > 0]; V_j factors out of the sums over k, so it is applied once at the end.
        active = np.sign(A)  # (n, H) 1.0 where Z > 0, else 0.0 (A = relu(Z) is never negative)
        DW = (X * G[:, None]).T @ active  # (2, H)
        DB = G @ active  # (H,)
        DW *= self.V
        DB *= self.V
        return DW, DB, DV

    def backprop(self, X: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The exact gradient (DW, DB, DV) of :meth:`loss`, shaped like (W, B, V)."""
        return self.loss_and_gradients(X, T)[1]

    def step(self, X: np.ndarray, T: np.ndarray, lr: float) -> tuple[float, float]:
        """One step of full-batch gradient descent; returns the error and the accuracy before the step (the
        accuracy from the same forward pass: y_k t_k > 0 where the margin -y_k t_k < 0)."""
        error, margin, (DW, DB, DV) = self._forward_backward(X, T)
        self.W -= lr * DW
        self.B -= lr * DB
        self.V -= lr * DV
        return error, float(np.mean(margin < 0.0))

    def accuracy(self, X: np.ndarray, T: np.ndarray) -> float:
        """Fraction of samples whose output has the sign of their label (y = 0 counts as wrong)."""
        return float(np.mean(self.forward(X) * np.asarray(T) > 0))
