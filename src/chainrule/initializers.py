"""Initial weights, drawn from a seeded ``numpy.random.Generator`` (same seed, same weights).

glorot:  W ~ U(−r, r), r = √(6 / (n_in + n_out))    keeps the variance of z and δ steady through
                                                    sigmoid, tanh and softmax layers (Glorot & Bengio 2010)
he:      W ~ N(0, 2 / n_in)                         the same for the ReLU family (He et al. 2015)
b = 0 in both.
"""

from __future__ import annotations

import numpy as np


def glorot(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    r = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-r, r, size=(n_in, n_out))


def he(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))


INITIALIZERS = {"glorot": glorot, "xavier": glorot, "he": he}


def initializer(name: str):
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initialiser {name!r}: use one of {', '.join(INITIALIZERS)}")
    return INITIALIZERS[name]
