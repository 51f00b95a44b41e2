"""The layers a network is built from: `Dense`, `Dropout` and the activations.

Dense:      z = a_prev @ W + b                       (seed 002, with w_ij from neuron i below to j)
activation: a = σ(z)                                 (see `chainrule.activations`)
Dropout:    a_out = a ⊙ m / (1 − p),  m_i ~ Bernoulli(1 − p), only while training
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from chainrule.activations import (
    ACTIVATIONS,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    activation,
)
from chainrule.base import Array, Layer
from chainrule.initializers import initializer

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Dense",
    "Dropout",
    "Identity",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "activation",
    "layer_from_config",
]


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


class Dense(Layer):
    """A fully connected layer: z = a_prev @ W + b, with W of shape (n_in, n_out).

    Forward pass:  ∂z_j/∂w_ij = a_prev_i, the value of the input the weight is connected to.
    Backward pass: given δ = ∂C/∂z from above,
        ∂L/∂W = a_prevᵀ δ       (= Σ_n a · δ: forward value times backward value)
        ∂L/∂b = Σ_n δ
        ∂C/∂a_prev = δ Wᵀ       (the same network with its connections reversed, chain rule case 2)
    """

    params = ("W", "b")

    def __init__(
        self,
        n_in: int,
        n_out: int,
        init: str = "auto",
        *,
        W: ArrayLike | None = None,
        b: ArrayLike | None = None,
    ) -> None:
        """``init`` names the initialiser (``auto``: He before ReLU, else Glorot), drawn when the
        `Network` is built; explicit ``W`` (n_in, n_out) and ``b`` (n_out,) are kept instead."""
        super().__init__()
        self.n_in = _positive_int(n_in, "Dense n_in")
        self.n_out = _positive_int(n_out, "Dense n_out")
        if init != "auto":
            initializer(init)  # fail early on an unknown name
        self.init = init
        self.W = np.zeros((self.n_in, self.n_out))
        self.b = np.zeros(self.n_out)
        self.initialized = W is not None
        for name, value in (("W", W), ("b", b)):
            if value is not None:
                value = np.asarray(value, dtype=float)
                if value.shape != getattr(self, name).shape or not np.isfinite(value).all():
                    raise ValueError(
                        f"Dense {name} must be a finite array of shape {getattr(self, name).shape}, "
                        f"got shape {value.shape}"
                    )
                getattr(self, name)[...] = value
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    def initialize(self, rng: np.random.Generator, scheme: str = "glorot") -> None:
        """Draw W from ``scheme`` (glorot or he), in place; b keeps its value (0 unless given)."""
        self.W[...] = initializer(scheme)(rng, self.n_in, self.n_out)
        self.initialized = True

    def config(self) -> dict[str, Any]:
        return {**super().config(), "n_in": self.n_in, "n_out": self.n_out}

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        super()._resize(shape, dtype)
        n, dtype = shape[0], self.W.dtype
        self.z = self._buffer("z", (n, self.n_out), dtype)
        self._grad_in: Array | None = None  # ∂C/∂a_prev, made when first asked (never for x)
        self._ones = self._buffer("ones", (n,), dtype, fill=1)

    def forward(self, a_prev: Array, training: bool = False) -> Array:
        if a_prev.shape != self._shape or a_prev.dtype is not self._dtype:
            self._resize(a_prev.shape, a_prev.dtype)
        self.a_prev, z = a_prev, self.z
        if isinstance(a_prev, np.ndarray):
            np.matmul(a_prev, self.W, out=z)  # z = a_prev W + b
        else:  # a sparse x (first layer): the product on its stored entries only
            z[...] = a_prev @ self.W
        z += self.b
        return z

    def backward(self, grad: Array, need_input_grad: bool = True) -> Array | None:
        self.delta = grad  # δ = ∂C/∂z of this layer's neurons
        if isinstance(self.a_prev, np.ndarray):
            np.matmul(self.a_prev.T, grad, out=self.dW)  # ∂L/∂W = a_prevᵀ δ
        else:
            self.dW[...] = self.a_prev.T @ grad  # xᵀ δ, sparse x
        np.matmul(self._ones, grad, out=self.db)  # ∂L/∂b = Σ_n δ = 1ᵀ δ: BLAS, 2× faster than a sum
        if not need_input_grad:
            return None
        if self._grad_in is None:
            self._grad_in = self._buffer("grad_in", self._shape, self.W.dtype)
        return np.matmul(grad, self.W.T, out=self._grad_in)  # ∂C/∂a_prev = δ Wᵀ


class Dropout(Layer):
    """Inverted dropout: while training, each unit is dropped with probability ``p`` and the kept
    ones are scaled by 1/(1 − p), so that nothing changes at inference (where it is the identity).

    The mask comes from ``rng``, which the `Network` sets to its own seeded generator.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout p (probability of dropping) must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng()
        self.mask: Array | None = None
        self.freeze_mask = False  # reuse the last mask (gradient checks need a fixed function)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "p": self.p}

    def forward(self, a_prev: Array, training: bool = False) -> Array:
        if not training or self.p == 0:
            self.mask = None
            return a_prev
        if not (self.freeze_mask and self.mask is not None and self.mask.shape == a_prev.shape):
            self.mask = self._buffer("mask", a_prev.shape, a_prev.dtype)
            self.rng.random(out=self.mask, dtype=self.mask.dtype)
            np.greater_equal(self.mask, self.p, out=self.mask)  # 1 where kept, 0 where dropped
            self.mask *= 1 / (1 - self.p)
        out = self._buffer("out", a_prev.shape, a_prev.dtype)
        return np.multiply(a_prev, self.mask, out=out)

    def backward(self, grad: Array, need_input_grad: bool = True) -> Array:
        if self.mask is not None:
            grad *= self.mask
        return grad


_LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Dense, Dropout, *set(ACTIVATIONS.values()))
}


def layer_from_config(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from `Layer.config()` (model files); unknown content is refused."""
    if not isinstance(config, dict) or config.get("type") not in _LAYER_TYPES:
        raise ValueError(f"not a chainrule layer description: {config!r}")
    kwargs = {k: v for k, v in config.items() if k != "type"}
    try:
        return _LAYER_TYPES[config["type"]](**kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for layer {config['type']}: {e}") from None
