"""What is measured: the networks, the data, the initial weights and the work each figure counts.

Every contender trains the same `Workload` on the same float32 data from the same initial weights
(drawn once by chainrule's initialisers and copied into the others).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

import chainrule as cr

Params = list[tuple[np.ndarray, np.ndarray]]  # (W of shape (n_in, n_out), b) per layer

NETWORKS = {
    "relu": ([784, 256, 128, 10], "relu"),  # a modern MLP
    "sigmoid": ([784, 30, 10], "sigmoid"),  # the lecture network (Nielsen's 784-30-10)
}
LEARNING_RATES = {"sgd": 0.01, "adam": 1e-3}


@dataclass(frozen=True)
class Workload:
    """One row of the table: a network, an optimiser and a batch size (None: full batch)."""

    network: str
    optimizer: str
    batch_size: int | None
    seed: int = 0

    @property
    def sizes(self) -> list[int]:
        return NETWORKS[self.network][0]

    @property
    def activation(self) -> str:
        return NETWORKS[self.network][1]

    @property
    def lr(self) -> float:
        return LEARNING_RATES[self.optimizer]

    @property
    def label(self) -> str:
        return "-".join(map(str, self.sizes)) + f" {self.activation}"

    def batch(self, n: int) -> int:
        return n if self.batch_size is None else min(self.batch_size, n)


def synthetic(n: int, n_features: int = 784, n_classes: int = 10, seed: int = 0) -> tuple:
    """Pixel-like inputs in [0, 1) and integer labels: speed does not depend on what they mean."""
    rng = np.random.default_rng(seed)
    return rng.random((n, n_features), dtype=np.float32), rng.integers(0, n_classes, n)


def initial_params(sizes: list[int], activation: str, seed: int = 0) -> Params:
    """chainrule's initial weights (He before ReLU, Glorot before sigmoid), as float32 copies."""
    net = cr.Network.from_sizes(sizes, activation, seed=seed)
    return [(level.W.copy(), level.b.copy()) for level in net.levels]


def layer_products(sizes: list[int]) -> tuple[int, int]:
    """Σ_l n_in n_out over all layers, and over all but the first (whose input needs no gradient)."""
    products = [a * b for a, b in itertools.pairwise(sizes)]
    return sum(products), sum(products[1:])


def train_flops_per_sample(sizes: list[int]) -> int:
    """Multiply-adds ×2 of one training example: z = a W (forward), ∂L/∂W = aᵀ δ, and δ Wᵀ for every
    layer but the first. The element-wise work is not counted: it is what the roofline leaves out."""
    all_layers, upper = layer_products(sizes)
    return 2 * (2 * all_layers + upper)


def inference_flops_per_sample(sizes: list[int]) -> int:
    return 2 * layer_products(sizes)[0]
