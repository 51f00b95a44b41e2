"""The numbers the network diagram draws, for the playground page and the notebook widget (both
draw them with ``playground/static/diagram.js``):

    passes     z, a = σ(z), σ'(z) and δ = ∂C/∂z of every neuron for one example, a^(0) = x first
               (the forward pass, then δ^(O) and δ^(l) = σ'(z^(l)) ⊙ W^(l+1) δ^(l+1) from the output back)
    heat maps  every neuron's a over a grid of the input plane (2 inputs), as bytes 0..255

Plain JSON-ready data: NaN and infinities become None.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np

from chainrule.network import Network

Array = np.ndarray
GRID = 32  # heat maps: GRID × GRID points over the input plane


SEED_NOTE = re.compile(r", seeds? \d{3}(?:[–-]\d{3})?| \(seeds? \d{3}(?:[–-]\d{3})?\)")


def plain(text: str) -> str:
    """A rule as the diagram shows it: without the lecture notes' file numbers ("seed 003")."""
    return SEED_NOTE.sub("", text)


def plain_rules(value: Any) -> Any:
    """``value`` with every "rule" and "text" string made `plain`."""
    if isinstance(value, dict):
        return {
            k: plain(v) if k in ("rule", "text") and isinstance(v, str) else plain_rules(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [plain_rules(v) for v in value]
    return value


def floats(a: Any) -> list[Any]:
    """Nested lists of floats, with None where a value is NaN or infinite (JSON has neither)."""
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, None).tolist()


def example_passes(network: Network, X: Array, y: Array, sample: int) -> tuple[list[dict[str, Any]], Network]:
    """z, a, σ'(z) and δ of every neuron for row ``sample`` of (X, y), which the network has
    checked (float64, no dropout); and the float64 copy after its passes, whose ``dW`` is
    ∂C/∂W = a^(l-1) δ^(l)ᵀ of this example."""
    net = network.astype("float64")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        net.forward(X[sample : sample + 1])
        net.backward(y[sample : sample + 1])
    layers = [{"a": floats(net.levels[0].a_prev[0])}]  # a^(0) = x
    layers += [
        {
            "z": floats(lv.z[0]),
            "a": floats(lv.a[0]),
            "sigma_prime": floats(lv.sigma_prime()[0]),
            "delta": floats(lv.delta[0]),
        }
        for lv in net.levels
    ]
    return layers, net


def plane(points: Array, grid: int = GRID, pad: float = 0.1) -> tuple[list[float], Array]:
    """The extent [x1 lo, x1 hi, x2 lo, x2 hi] around ``points`` (widened by ``pad`` on each side)
    and the grid × grid points at the centres of its cells, row by row from the top."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    margin = pad * np.maximum(hi - lo, 1e-9)
    lo, hi = lo - margin, hi + margin
    centres = (np.arange(grid) + 0.5) / grid
    x1 = lo[0] + centres * (hi[0] - lo[0])
    x2 = hi[1] - centres * (hi[1] - lo[1])  # row 0 is the top of the picture
    extent = [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]
    return extent, np.column_stack([np.tile(x1, grid), np.repeat(x2, grid)])


def encode(values: Array, lo: float | Array, hi: float | Array) -> Array:
    """Heat-map bytes: ``values`` (points, neurons) mapped from [lo, hi] (one range, or one per
    neuron) to 0..255, neuron-major."""
    lo, hi = np.reshape(lo, (-1, 1)), np.reshape(hi, (-1, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.nan_to_num((values.T - lo) / (hi - lo), nan=0.5)
    return np.round(np.clip(t, 0, 1) * 255).astype(np.uint8)


def heat_maps(network: Network, grid: Array, ranges: list[tuple[Any, Any]]) -> str:
    """Every neuron's a over the ``grid`` points (the input, then each layer), each layer's a
    mapped from its range in ``ranges`` to 0..255, base64: the ``maps`` that diagram.js draws."""
    with np.errstate(over="ignore", invalid="ignore"):
        network.forward(grid)
        maps = [encode(grid, *ranges[0])]
        maps += [encode(lv.a, *r) for lv, r in zip(network.levels, ranges[1:], strict=True)]
    return base64.b64encode(np.concatenate([m.ravel() for m in maps]).tobytes()).decode()
