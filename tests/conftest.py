"""Shared helpers: small random problems for every loss."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

# (loss, output activation, number of outputs)
LOSS_OUTPUTS = [
    ("cross_entropy", "softmax", 3),
    ("binary_cross_entropy", "sigmoid", 1),
    ("binary_cross_entropy", "sigmoid", 3),  # multi-label
    ("squared_error", "identity", 2),
    ("squared_error", "sigmoid", 2),
    ("squared_error", "tanh", 1),
    ("squared_error", "relu", 2),
    ("squared_error", "softmax", 3),
    ("poisson", "exp", 2),
]


def targets(loss: str, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random targets of the form each loss takes."""
    if loss == "cross_entropy":
        return rng.integers(0, k, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, k)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, (n, k)).astype(float)
    return rng.normal(size=(n, k))


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's bundled handwritten digits, scaled to [0, 1], split 75/25 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def small_net(loss: str = "cross_entropy", **kwargs) -> cr.Network:
    k = {"cross_entropy": 3}.get(loss, 2)
    return cr.Network.from_sizes([4, 5, k], loss=loss, seed=0, **kwargs)
