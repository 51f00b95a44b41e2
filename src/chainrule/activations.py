"""Activation functions a = σ(z), each with its derivative σ'(z) written beside it.

In the backward pass an activation receives ∂C/∂a from the layer above and returns

    δ = ∂C/∂z = σ'(z) ⊙ ∂C/∂a                                  (seeds 001, 003)

σ'(z) acts as a constant amplifier: z is known from the forward pass. The product is taken in
place on the incoming array, which the layer above owns for exactly this purpose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.base import Array, Layer

_BOOL = np.dtype(bool)


class Activation(Layer):
    """a = σ(z), element-wise (Softmax: row-wise). Keeps ``z`` and ``a`` of the last forward pass."""

    name: str = ""
    z: Array
    a: Array

    def forward(self, a_prev: Array, training: bool = False) -> Array:
        self.z = a_prev
        self.a = self._buffer("a", a_prev.shape, a_prev.dtype)
        self._sigma(a_prev, self.a)
        return self.a

    def backward(self, grad: Array, need_input_grad: bool = True) -> Array:
        """δ = σ'(z) ⊙ ∂C/∂a, computed in place in ``grad``."""
        self._times_derivative(grad)
        return grad

    def derivative(self) -> Array:
        """σ'(z) of the last forward pass, as a new array (what `explain` and the playground show)."""
        d = np.ones_like(self.z)
        self._times_derivative(d)
        return d

    def _sigma(self, z: Array, out: Array) -> None:
        raise NotImplementedError

    def _times_derivative(self, grad: Array) -> None:
        raise NotImplementedError


class Identity(Activation):
    """a = z, σ'(z) = 1 (the output of a regression network)."""

    name = "identity"

    def forward(self, a_prev: Array, training: bool = False) -> Array:
        self.z = self.a = a_prev
        return a_prev

    def _times_derivative(self, grad: Array) -> None:
        pass


class Sigmoid(Activation):
    """a = 1 / (1 + e^(−z)), σ'(z) = a (1 − a)."""

    name = "sigmoid"

    def _sigma(self, z: Array, out: Array) -> None:
        # σ(z) = ½ (1 + tanh(z/2)): the same function, and it cannot overflow for any z.
        np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5

    def _times_derivative(self, grad: Array) -> None:
        one_minus_a = self._buffer("1-a", self.a.shape, self.a.dtype)
        np.subtract(1, self.a, out=one_minus_a)
        grad *= self.a
        grad *= one_minus_a


class Tanh(Activation):
    """a = tanh(z), σ'(z) = 1 − a²."""

    name = "tanh"

    def _sigma(self, z: Array, out: Array) -> None:
        np.tanh(z, out=out)

    def _times_derivative(self, grad: Array) -> None:
        d = self._buffer("1-a2", self.a.shape, self.a.dtype)
        np.multiply(self.a, self.a, out=d)
        np.subtract(1, d, out=d)
        grad *= d


class ReLU(Activation):
    """a = max(z, 0), σ'(z) = 1 if z > 0 else 0."""

    name = "relu"

    def _sigma(self, z: Array, out: Array) -> None:
        # max(z, 0), against a row of zeros: numpy's maximum is 2× slower with the scalar 0
        np.maximum(z, self._buffer("0", z.shape[1:], z.dtype, fill=0), out=out)

    def _times_derivative(self, grad: Array) -> None:
        on = self._buffer("z>0", self.z.shape, _BOOL)
        np.greater(self.z, 0, out=on)
        np.multiply(grad, on, out=grad)  # 20× faster than np.copyto(grad, 0, where=~on)


class LeakyReLU(Activation):
    """a = z if z > 0 else α z, σ'(z) = 1 if z > 0 else α."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        if not 0 <= alpha < 1:
            raise ValueError(f"LeakyReLU alpha must be in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "alpha": self.alpha}

    def _sigma(self, z: Array, out: Array) -> None:
        np.multiply(z, self.alpha, out=out)  # max(z, α z) is z for z > 0 and α z below, as 0 ≤ α < 1
        np.maximum(z, out, out=out)

    def _times_derivative(self, grad: Array) -> None:
        d = self._buffer("d", self.z.shape, self.z.dtype)
        np.greater(self.z, 0, out=d)  # 1 where z > 0, else 0
        d *= 1 - self.alpha
        d += self.alpha  # σ'(z) = α + (1 − α) [z > 0]
        grad *= d


class Softmax(Activation):
    """a_k = e^(z_k) / Σ_j e^(z_j), row by row.

    Its Jacobian is ∂a_k/∂z_j = a_k (1[k = j] − a_j), so δ = a ⊙ (∂C/∂a − Σ_j a_j ∂C/∂a_j).
    With cross entropy that collapses to δ = a − y, which `CrossEntropy` uses directly.
    Keeps ``log_sum_exp`` = log Σ_j e^(z_j) per row, for a loss that never takes log(0).
    """

    name = "softmax"
    log_sum_exp: Array

    def _sigma(self, z: Array, out: Array) -> None:
        n, k = z.shape
        m = self._buffer("max", (n,), z.dtype)
        s = self.log_sum_exp = self._buffer("lse", (n,), z.dtype)
        self._row_max(z, m)  # subtracting the row max m: e^(z − m) never overflows
        np.subtract(z, m[:, None], out=out)
        np.exp(out, out=out)
        np.matmul(out, self._buffer("ones", (k,), z.dtype, fill=1), out=s)  # s = Σ_j e^(z_j − m)
        out /= s[:, None]
        np.log(s, out=s)
        s += m  # log Σ_j e^(z_j) = m + log s

    def _row_max(self, z: Array, out: Array) -> None:
        """max_j z_nj. NumPy reduces short rows slowly (8× slower than needed for 10 classes):
        with a few columns, take the max down the rows of a contiguous copy of zᵀ instead."""
        n, k = z.shape
        if k > 64:
            z.max(axis=1, out=out)
            return
        zT = self._buffer("zT", (n, k), z.dtype).reshape(k, n)  # contiguous: a view, no copy
        np.copyto(zT, z.T)
        zT.max(axis=0, out=out)

    def derivative(self) -> Array:
        """The diagonal ∂a_k/∂z_k = a_k (1 − a_k) of the Jacobian (its off-diagonal is −a_k a_j)."""
        return self.a * (1 - self.a)

    def _times_derivative(self, grad: Array) -> None:
        s = self._buffer("dot", (grad.shape[0],), grad.dtype)
        np.einsum("ij,ij->i", grad, self.a, out=s)
        grad -= s[:, None]
        grad *= self.a


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax)
}
ACTIVATIONS["linear"] = Identity
ACTIVATIONS["logistic"] = Sigmoid  # scikit-learn's name


def activation(name: str | Activation) -> Activation:
    """An activation layer from its name (``"relu"``, ``"sigmoid"``, ...) or the layer itself."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: use one of {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name.lower()]()
