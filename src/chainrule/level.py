"""Layer l of the seeds' notation on a network's layers: W^(l), b^(l), a^(l-1), z^(l),
a^(l) = σ(z^(l)), δ^(l) = ∂L/∂z^(l) and σ'(z^(l)), read off its Dense layer and activation
(`Network.levels`, one per Dense layer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.activations import Activation
from chainrule.base import Array
from chainrule.layers import Dense, Dropout


@dataclass(frozen=True)
class Level:
    """Layer l of the seeds (l = 1 is the first hidden layer, the last one is the output layer):
    its weights, and the values z, a, δ of the last forward and backward passes."""

    index: int
    dense: Dense
    activation: Activation | None
    dropout: Dropout | None

    @property
    def W(self) -> Array:
        return self.dense.W

    @property
    def b(self) -> Array:
        return self.dense.b

    @property
    def dW(self) -> Array:
        return self.dense.dW

    @property
    def db(self) -> Array:
        return self.dense.db

    @property
    def a_prev(self) -> Array:
        """a^(l-1), the input of this layer: ∂z/∂w of the forward pass."""
        return self.dense.a_prev

    @property
    def z(self) -> Array:
        return self.dense.z

    @property
    def a(self) -> Array:
        """a^(l) = σ(z^(l)), before dropout."""
        return self.activation.a if self.activation is not None else self.dense.z

    @property
    def delta(self) -> Array:
        """δ^(l) = ∂L/∂z^(l) of the last backward pass."""
        return self.dense.delta

    def sigma_prime(self) -> Array:
        """σ'(z^(l)), the amplifier of the backward pass."""
        return self.activation.derivative() if self.activation is not None else np.ones_like(self.z)
