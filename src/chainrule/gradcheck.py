"""Backpropagation checked against the definition of the derivative.

For every parameter θ_i, the central finite difference of fourth order

    ∂L/∂θ_i ≈ [8 (L(θ + ε e_i) − L(θ − ε e_i)) − (L(θ + 2ε e_i) − L(θ − 2ε e_i))] / 12ε

(error O(ε⁴): rounding, not truncation, limits it) is compared with the backward pass's value,
in float64, by the relative error

    |g − f| / max(|g|, |f|, floor)

Gradients smaller than ``floor`` are compared absolutely: the finite difference carries ~1e-10
of rounding noise, which would swamp the relative error of a gradient near zero, while a wrong
gradient of any size still shows an error far above 1e-6.

ReLU and LeakyReLU have a kink at z = 0, where the derivative is undefined; an entry whose
perturbation moves any z across a kink is left out and counted in ``kinks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.activations import LeakyReLU, ReLU
from chainrule.layers import Dropout
from chainrule.network import Network

STEPS = (2, 1, -1, -2)  # θ_i is moved by step · ε, in this order


def fourth_order_difference(at: list[float], eps: float) -> float:
    """∂L/∂θ_i from L at θ_i + 2ε, + ε, − ε, − 2ε (the order of ``STEPS``), error O(ε⁴)."""
    return (8 * (at[1] - at[2]) - (at[0] - at[3])) / (12 * eps)


@dataclass(frozen=True)
class ParameterCheck:
    """The check of one parameter array (e.g. ``layers.0.W``)."""

    name: str
    shape: tuple[int, ...]
    checked: int
    kinks: int
    max_rel_error: float
    max_abs_error: float
    worst_index: tuple[int, ...]


@dataclass(frozen=True)
class GradcheckResult:
    max_rel_error: float
    worst: str  # e.g. "layers.2.W[3, 1]"
    parameters: list[ParameterCheck] = field(default_factory=list)

    def passed(self, tol: float = 1e-6) -> bool:
        return self.max_rel_error < tol

    def __str__(self) -> str:
        lines = [
            f"{'parameter':<14} {'shape':<10} {'checked':>7} {'kinks':>5} "
            f"{'max rel err':>11} {'max abs err':>11}"
        ]
        for p in self.parameters:
            lines.append(
                f"{p.name:<14} {'x'.join(map(str, p.shape)):<10} {p.checked:>7} {p.kinks:>5} "
                f"{p.max_rel_error:>11.2e} {p.max_abs_error:>11.2e}"
            )
        lines.append(f"largest relative error {self.max_rel_error:.2e} at {self.worst}")
        return "\n".join(lines)


def gradcheck(
    network: Network,
    X: Any,
    y: Any,
    *,
    eps: float = 1e-3,
    floor: float = 1e-3,
    max_per_parameter: int | None = None,
    training: bool = True,
    seed: int = 0,
    sample_weight: Any = None,
) -> GradcheckResult:
    """Compare backprop's gradient of L(θ) on (X, y) with finite differences, entry by entry.

    Works on a float64 copy of ``network`` (the network itself is untouched). Dropout masks are
    drawn once and held fixed, so the loss is one smooth function of θ. ``max_per_parameter``
    checks a random sample of that many entries per array (all by default). ``sample_weight``
    checks the weighted loss Σ_n s_n C^n (`chainrule.losses`).
    """
    net = network.astype("float64")
    X = net.check_X(X)
    y = net.check_y(y, len(X))
    s = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    for layer in net.layers:
        if isinstance(layer, Dropout):
            layer.freeze_mask = True
    kinked = [layer for layer in net.layers if isinstance(layer, ReLU | LeakyReLU)]

    def loss() -> float:
        net._forward(X, training)
        return net.loss.value(net.output, y, s)

    def sides() -> list[np.ndarray]:
        return [layer.z > 0 for layer in kinked]

    net._forward(X, training)
    net._propagate(net.loss.delta(net.output, y, s))
    analytic = net.flat_grads.copy()
    base = sides()
    rng = np.random.default_rng(seed)
    checks: list[ParameterCheck] = []
    offset = 0
    for name, p in zip(net.parameter_names, net.parameters(), strict=True):
        flat = p.reshape(-1)  # a view: perturbing it perturbs the network
        idx = np.arange(flat.size)
        if max_per_parameter is not None and flat.size > max_per_parameter:
            idx = np.sort(rng.choice(flat.size, max_per_parameter, replace=False))
        rel, err, kept = [], [], []
        for i in idx:
            old = flat[i]
            at, crossed = [], False
            for step in STEPS:
                flat[i] = old + step * eps
                at.append(loss())
                crossed = crossed or any(not np.array_equal(s, b) for s, b in zip(sides(), base, strict=True))
            flat[i] = old
            if crossed:
                continue
            f = fourth_order_difference(at, eps)
            g = analytic[offset + i]
            err.append(abs(g - f))
            rel.append(err[-1] / max(abs(g), abs(f), floor))
            kept.append(i)
        worst = int(np.argmax(rel)) if rel else 0
        checks.append(
            ParameterCheck(
                name=name,
                shape=p.shape,
                checked=len(kept),
                kinks=len(idx) - len(kept),
                max_rel_error=float(rel[worst]) if rel else 0.0,
                max_abs_error=float(max(err, default=0.0)),
                worst_index=tuple(int(j) for j in np.unravel_index(kept[worst], p.shape)) if kept else (),
            )
        )
        offset += p.size
    top = max(checks, key=lambda c: c.max_rel_error)
    return GradcheckResult(top.max_rel_error, f"{top.name}[{', '.join(map(str, top.worst_index))}]", checks)
