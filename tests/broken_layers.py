"""A catalogue of deliberately broken layers and losses: each forward pass is right, each backward
pass has one classic mistake. `gradcheck` must catch every one (tests/test_gradcheck_catalogue.py)."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule.losses import SquaredError


class WrongSignSigmoid(cr.Sigmoid):
    """δ = −σ'(z) ⊙ ∂C/∂a: the sign of the derivative lost."""

    def _times_derivative(self, grad: np.ndarray) -> None:
        grad *= -self.a * (1 - self.a)


class MissingFactorSigmoid(cr.Sigmoid):
    """σ'(z) = a instead of a (1 − a): a factor missing."""

    def _times_derivative(self, grad: np.ndarray) -> None:
        grad *= self.a


class MissingSquareTanh(cr.Tanh):
    """σ'(z) = 1 − a instead of 1 − a²."""

    def _times_derivative(self, grad: np.ndarray) -> None:
        grad *= 1 - self.a


class TransposedDense(cr.Dense):
    """∂C/∂a_prev = δ W instead of δ Wᵀ (only runs when W is square, which hides it)."""

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        super().backward(grad, False)
        return grad @ self.W if need_input_grad else None


class TransposedGradientDense(cr.Dense):
    """∂L/∂W = (a_prevᵀ δ)ᵀ: the weight gradient stored transposed (square W)."""

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        out = super().backward(grad, need_input_grad)
        self.dW[...] = self.dW.T.copy()
        return out


class UnscaledBiasDense(cr.Dense):
    """∂L/∂b = Σ_n δ / N on top of a loss that already took the mean: divided twice."""

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        out = super().backward(grad, need_input_grad)
        self.db /= len(grad)
        return out


class OffByOneMeanSquaredError(SquaredError):
    """L = (1/N) Σ C^n but δ^(O) scaled by 1/(N − 1): the off-by-one batch mean."""

    name = "squared_error"

    def delta(self, out, y, s=None):
        d = super().delta(out, y, s)
        d *= len(y) / (len(y) - 1)
        return d


class UnmaskedDropout(cr.Dropout):
    """The mask applied in the forward pass but not in the backward pass."""

    def backward(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray:
        return grad


class OneTermSoftmax(cr.Softmax):
    """∂a_k/∂z_k only, the Jacobian's off-diagonal −a_k a_j forgotten (seed 003's one-term
    derivative of the softmax)."""

    def _times_derivative(self, grad: np.ndarray) -> None:
        grad *= self.a * (1 - self.a)


def networks(k: int = 3) -> dict[str, tuple[cr.Network, str]]:
    """One small float64 network per mistake, with the loss its targets take."""

    def net(layers: list, loss: object = "cross_entropy") -> cr.Network:
        return cr.Network(layers, loss, dtype="float64", seed=0)

    return {
        "wrong sign": (
            net([cr.Dense(3, 4), WrongSignSigmoid(), cr.Dense(4, k), cr.Softmax()]),
            "cross_entropy",
        ),
        "missing factor": (
            net([cr.Dense(3, 4), MissingFactorSigmoid(), cr.Dense(4, k), cr.Softmax()]),
            "cross_entropy",
        ),
        "missing square": (
            net([cr.Dense(3, 4), MissingSquareTanh(), cr.Dense(4, k), cr.Softmax()]),
            "cross_entropy",
        ),
        "transposed W": (
            net([cr.Dense(3, 4), cr.Tanh(), TransposedDense(4, 4), cr.Tanh(), cr.Dense(4, k), cr.Softmax()]),
            "cross_entropy",
        ),
        "transposed dW": (
            net(
                [
                    cr.Dense(3, 4),
                    cr.Tanh(),
                    TransposedGradientDense(4, 4),
                    cr.Tanh(),
                    cr.Dense(4, k),
                    cr.Softmax(),
                ]
            ),
            "cross_entropy",
        ),
        "bias divided twice": (
            net([cr.Dense(3, 4), cr.Tanh(), UnscaledBiasDense(4, k), cr.Softmax()]),
            "cross_entropy",
        ),
        "off-by-one batch mean": (
            net([cr.Dense(3, 4), cr.Tanh(), cr.Dense(4, k)], OffByOneMeanSquaredError()),
            "squared_error",
        ),
        "dropout mask not applied in backward": (
            net([cr.Dense(3, 6), cr.Tanh(), UnmaskedDropout(0.5), cr.Dense(6, k), cr.Softmax()]),
            "cross_entropy",
        ),
        "one-term softmax derivative": (
            net([cr.Dense(3, 4), cr.Tanh(), cr.Dense(4, k), OneTermSoftmax()], "squared_error"),
            "squared_error",
        ),
    }
