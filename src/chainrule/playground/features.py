"""The network's inputs, computed from the points (x₁, x₂) of the plane: TensorFlow Playground's
feature column. A toy's points are used as they are, a CSV's after standardising (x' = (x − mean) /
scale); the heat maps of every neuron stay drawn over (x₁, x₂), because the map's grid is turned
into the same features before the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Array = np.ndarray

# name → (how the page and the model file name it, given the two columns' names; its value)
FEATURES: dict[str, tuple[Callable[[str, str], str], Callable[[Array, Array], Array]]] = {
    "x1": (lambda a, b: a, lambda x1, x2: x1),
    "x2": (lambda a, b: b, lambda x1, x2: x2),
    "x1_squared": (lambda a, b: f"{a}²", lambda x1, x2: x1 * x1),
    "x2_squared": (lambda a, b: f"{b}²", lambda x1, x2: x2 * x2),
    "x1_x2": (lambda a, b: f"{a}·{b}", lambda x1, x2: x1 * x2),
    "sin_x1": (lambda a, b: f"sin {a}", lambda x1, x2: np.sin(x1)),
    "sin_x2": (lambda a, b: f"sin {b}", lambda x1, x2: np.sin(x2)),
}
DEFAULT = ["x1", "x2"]  # the plain plane: the model file keeps its usual metadata
EQUATIONS = (
    "x1 = x₁, x2 = x₂, x1_squared = x₁², x2_squared = x₂², x1_x2 = x₁ x₂, sin_x1 = sin x₁, sin_x2 = sin x₂"
)


def featurize(P: Array, names: Sequence[str]) -> Array:
    """One column per chosen feature of the points P (n, 2) = (x₁, x₂):
    x₁, x₂, x₁², x₂², x₁ x₂, sin x₁, sin x₂ (in the order of ``names``)."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[1] != 2:
        raise ValueError(
            f"input features are computed from 2 columns (x1, x2); these rows have {P.shape[1:]}"
        )
    return np.column_stack([FEATURES[name][1](P[:, 0], P[:, 1]) for name in names])


def input_names(names: Sequence[str], columns: Sequence[str]) -> list[str]:
    """The network's inputs as the page and the model file name them: ``["x1", "x1·x2"]``."""
    a, b = columns
    return [FEATURES[name][0](a, b) for name in names]
