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

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        super()._resize(shape, dtype)
        self.a = self._buffer("a", shape, dtype)

    def forward(self, a_prev: Array, training: bool = False) -> Array:
        if a_prev.shape != self._shape or a_prev.dtype is not self._dtype:
            self._resize(a_prev.shape, a_prev.dtype)
        self.z = a_prev
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

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        super()._resize(shape, dtype)
        self._one_minus_a = self._buffer("1-a", shape, dtype)

    def _times_derivative(self, grad: Array) -> None:
        one_minus_a = np.subtract(1, self.a, out=self._one_minus_a)
        grad *= self.a
        grad *= one_minus_a


class Tanh(Activation):
    """a = tanh(z), σ'(z) = 1 − a²."""

    name = "tanh"

    def _sigma(self, z: Array, out: Array) -> None:
        np.tanh(z, out=out)

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        super()._resize(shape, dtype)
        self._d = self._buffer("1-a2", shape, dtype)

    def _times_derivative(self, grad: Array) -> None:
        d = np.multiply(self.a, self.a, out=self._d)
        np.subtract(1, d, out=d)
        grad *= d


class ReLU(Activation):
    """a = max(z, 0), σ'(z) = 1 if z > 0 else 0."""

    name = "relu"

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        super()._resize(shape, dtype)
        self._zeros = self._buffer("0", shape[1:], dtype, fill=0)  # a row of zeros
        self._on = self._buffer("z>0", shape, _BOOL)

    def _sigma(self, z: Array, out: Array) -> None:
        np.maximum(z, self._zeros, out=out)  # max(z, 0): numpy's maximum is 2× slower with a scalar 0

    def _times_derivative(self, grad: Array) -> None:
        # z > 0 exactly where a > 0; a is warm in the cache (the layer above just read it for ∂L/∂W)
        on = np.greater(self.a, 0, out=self._on)
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

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        super()._resize(shape, dtype)
        self._d = self._buffer("d", shape, dtype)

    def _times_derivative(self, grad: Array) -> None:
        d = np.greater(self.z, 0, out=self._d)  # 1 where z > 0, else 0
        d *= 1 - self.alpha
        d += self.alpha  # σ'(z) = α + (1 − α) [z > 0]
        grad *= d


class Exp(Activation):
    """a = e^z, σ'(z) = a: the output of a Poisson network (the inverse of the log link)."""

    name = "exp"

    def _sigma(self, z: Array, out: Array) -> None:
        np.exp(z, out=out)

    def _times_derivative(self, grad: Array) -> None:
        grad *= self.a


class Softmax(Activation):
    """a_k = e^(z_k) / Σ_j e^(z_j), row by row.

    Its Jacobian is ∂a_k/∂z_j = a_k (1[k = j] − a_j), so δ = a ⊙ (∂C/∂a − Σ_j a_j ∂C/∂a_j).
    With cross entropy that collapses to δ = a − y, which `CrossEntropy` uses directly.
    Keeps ``log_sum_exp`` = log Σ_j e^(z_j) per row, for a loss that never takes log(0).
    """

    name = "softmax"
    log_sum_exp: Array

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        super()._resize(shape, dtype)
        n, k = shape
        self._m, self.log_sum_exp = self._buffer("max", (n,), dtype), self._buffer("lse", (n,), dtype)
        self._ones = self._buffer("ones", (k,), dtype, fill=1)
        # for a few classes, zᵀ as a contiguous (k, n) array (a view of the buffer): see _row_max
        self._zT = self._buffer("zT", shape, dtype).reshape(k, n) if k <= 64 else None
        self._dot = self._buffer("dot", (n,), dtype)

    def _sigma(self, z: Array, out: Array) -> None:
        m, s = self._m, self.log_sum_exp
        self._row_max(z, m)  # subtracting the row max m: e^(z − m) never overflows
        np.subtract(z, m[:, None], out=out)
        np.exp(out, out=out)
        np.matmul(out, self._ones, out=s)  # s = Σ_j e^(z_j − m)
        out /= s[:, None]
        np.log(s, out=s)
        s += m  # log Σ_j e^(z_j) = m + log s

    def _row_max(self, z: Array, out: Array) -> None:
        """max_j z_nj. NumPy reduces short rows slowly (8× slower than needed for 10 classes):
        with a few columns, take the max down the rows of a contiguous copy of zᵀ instead."""
        if self._zT is None:
            z.max(axis=1, out=out)
            return
        np.copyto(self._zT, z.T)
        self._zT.max(axis=0, out=out)

    def derivative(self) -> Array:
        """The diagonal ∂a_k/∂z_k = a_k (1 − a_k) of the Jacobian (its off-diagonal is −a_k a_j)."""
        return self.a * (1 - self.a)

    def _times_derivative(self, grad: Array) -> None:
        s = self._dot
        np.einsum("ij,ij->i", grad, self.a, out=s)
        grad -= s[:, None]
        grad *= self.a


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, Exp, Softmax)
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
