"""Two-dimensional toy data sets, the ones a learner draws on paper (and the playground shows).

Every set lies in about [−1, 1]² before noise; ``noise`` is the standard deviation of the
Gaussian jitter added to each coordinate (to the target, for regression). The same ``seed``
gives the same points.

    xor        label 1 where x₁ · x₂ > 0: no single line separates the classes
    circles    a disc (label 1) inside a ring (label 0)
    moons      two interleaving half circles
    spiral     ``classes`` arms winding around the origin
    gaussians  ``classes`` round clusters
    plane      regression: y = (x₁ + 2 x₂) / 3
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray


def _xor(rng: np.random.Generator, n: int, classes: int) -> tuple[Array, Array]:
    y = np.arange(n) % 2
    X = rng.uniform(0.05, 1, (n, 2))  # a small margin around the axes, as in TensorFlow Playground
    sign = rng.choice([-1.0, 1.0], n)
    X[:, 0] *= sign
    X[:, 1] *= np.where(y == 1, sign, -sign)  # same signs (x₁ x₂ > 0) for label 1
    return X, y


def _circles(rng: np.random.Generator, n: int, classes: int) -> tuple[Array, Array]:
    y = np.arange(n) % 2
    radius = np.where(y == 1, rng.uniform(0, 0.5, n), rng.uniform(0.7, 1.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]), y


def _moons(rng: np.random.Generator, n: int, classes: int) -> tuple[Array, Array]:
    y = np.arange(n) % 2
    t = rng.uniform(0, np.pi, n)
    x1 = np.where(y == 0, np.cos(t), 1 - np.cos(t))  # upper moon, and the lower one shifted right
    x2 = np.where(y == 0, np.sin(t), 0.5 - np.sin(t))
    return np.column_stack([(x1 - 0.5) / 1.5, (x2 - 0.25) / 1.5]), y  # centred, into [−1, 1]²


def _spiral(rng: np.random.Generator, n: int, classes: int) -> tuple[Array, Array]:
    y = np.arange(n) % classes
    r = rng.uniform(0.05, 1.0, n)
    angle = 1.75 * 2 * np.pi * r + 2 * np.pi * y / classes  # each arm turns 1¾ times
    return np.column_stack([r * np.sin(angle), r * np.cos(angle)]), y


def _gaussians(rng: np.random.Generator, n: int, classes: int) -> tuple[Array, Array]:
    y = np.arange(n) % classes
    angle = 2 * np.pi * np.arange(classes) / classes + np.pi / 4
    centres = 0.55 * np.column_stack([np.cos(angle), np.sin(angle)])
    return centres[y] + rng.normal(0, 0.18, (n, 2)), y


def _plane(rng: np.random.Generator, n: int, classes: int) -> tuple[Array, Array]:
    X = rng.uniform(-1, 1, (n, 2))
    return X, (X[:, 0] + 2 * X[:, 1]) / 3


TOYS: dict[str, Callable[[np.random.Generator, int, int], tuple[Array, Array]]] = {
    "xor": _xor,
    "circles": _circles,
    "moons": _moons,
    "spiral": _spiral,
    "gaussians": _gaussians,
    "plane": _plane,
}
REGRESSION = frozenset({"plane"})


def toy(
    name: str, n_samples: int = 400, noise: float = 0.1, seed: int | None = 0, classes: int = 2
) -> tuple[Array, Array]:
    """``n_samples`` points of the toy ``name``: X (n, 2) float64 and y, integer labels
    0..classes−1 (shuffled, classes balanced) or, for ``plane``, float targets."""
    if name not in TOYS:
        raise ValueError(f"unknown toy data set {name!r}: use one of {', '.join(TOYS)}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not isinstance(noise, int | float) or not 0 <= noise <= 10:
        raise ValueError(f"noise must be a number in [0, 10], got {noise!r}")
    multi = name in ("spiral", "gaussians")
    if not isinstance(classes, int) or not (2 <= classes <= 10 if multi else classes == 2):
        allowed = "2..10" if multi else "2"
        raise ValueError(f"{name} has {allowed} classes, got classes={classes!r}")
    rng = np.random.default_rng(seed)
    X, y = TOYS[name](rng, int(n_samples), classes)
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    if name in REGRESSION:
        return X, y + rng.normal(0, noise, len(y))
    return X + rng.normal(0, noise, X.shape), y
