"""Backpropagation checked against the definition of the derivative.

For every parameter θ_i, the central finite difference of fourth order

    f_i = [8 (L(θ + ε e_i) − L(θ − ε e_i)) − (L(θ + 2ε e_i) − L(θ − 2ε e_i))] / 12ε

(error O(ε⁴): rounding, not truncation, limits it) is compared with the backward pass's value g_i,
in float64. The error of an array (``layers.0.W``) is measured against that array's own size:

    error = max_i (|g_i − f_i| − r_i)⁺ / max_i max(|g_i|, |f_i|)

where r_i is the rounding error of f_i (about 2⁻⁵³ |L| / ε, computed from the four values of L).
There is no fixed absolute floor: a gradient of 1e-9 (the first layer of a deep sigmoid network)
is compared with a scale of 1e-9, so a wrong sign or a missing factor shows an error near 1 at any
size. An array whose gradient is too small for finite differences to resolve (below ~10 r) is
tried again at 10 ε and 100 ε (rounding error falls as 1/ε; the truncation error, estimated from
the second-order difference, is allowed for); one still too small is reported as ``unresolved``
and the check does not pass, rather than pass it unseen.

What is checked is the very object given, not a rebuilt copy: a `Network` is switched to float64 in
place for the check and restored afterwards (the same arrays, values and generator state), so a
user's own `Layer`, `Activation` or `Loss` subclass and a backward patched on the object are what
the finite differences judge. A lone layer (``gradcheck(layer, X)``) is checked through
L = Σ R ⊙ layer(X) with a fixed random R, input gradient included; a lone loss
(``gradcheck(loss, Z, y)``) through its δ^(O) = ∂L/∂z^(O) on the output activation's input Z.

ReLU and LeakyReLU have a kink at z = 0, where the derivative is undefined; an entry whose
perturbation moves any z across a kink is left out and counted in ``kinks``.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.activations import Activation, Identity, LeakyReLU, ReLU
from chainrule.activations import activation as make_activation
from chainrule.base import Array, Layer
from chainrule.layers import Dropout
from chainrule.losses import Loss
from chainrule.network import Network

STEPS = (2, 1, -1, -2)  # θ_i is moved by step · ε, in this order
MAX_EPS = 0.1  # a larger step measures a secant, not a slope (every entry a "kink")
ROUNDING = 8 * np.finfo(np.float64).eps  # relative rounding error allowed for one value of L
RESOLVED = 10  # a gradient scale below RESOLVED × its uncertainty cannot be judged
F64 = np.dtype(np.float64)


def fourth_order_difference(at: list[float], eps: float) -> float:
    """∂L/∂θ_i from L at θ_i + 2ε, + ε, − ε, − 2ε (the order of ``STEPS``), error O(ε⁴)."""
    return (8 * (at[1] - at[2]) - (at[0] - at[3])) / (12 * eps)


def rounding_error(at: list[float], eps: float) -> float:
    """The rounding error of `fourth_order_difference` for these four values of L."""
    return ROUNDING * (8 * (abs(at[1]) + abs(at[2])) + abs(at[0]) + abs(at[3])) / (12 * eps)


@dataclass(frozen=True)
class ParameterCheck:
    """The check of one array (e.g. ``layers.0.W``): its error relative to its own scale."""

    name: str
    shape: tuple[int, ...]
    checked: int
    kinks: int
    max_rel_error: float  # max_i (|g_i − f_i| − r_i)⁺ / scale
    max_abs_error: float  # max_i |g_i − f_i|
    worst_index: tuple[int, ...]
    scale: float = 0.0  # max_i max(|g_i|, |f_i|)
    resolved: bool = True  # scale well above the finite differences' rounding error (or both ≈ 0)


@dataclass(frozen=True)
class GradcheckResult:
    max_rel_error: float
    worst: str  # e.g. "layers.2.W[3, 1]"
    parameters: list[ParameterCheck] = field(default_factory=list)

    @property
    def unresolved(self) -> list[str]:
        """Arrays whose gradient is too small for finite differences to judge."""
        return [p.name for p in self.parameters if not p.resolved]

    @property
    def checked(self) -> int:
        """How many entries were compared (kinks, where a one-sided slope differs, are not)."""
        return sum(p.checked for p in self.parameters)

    def passed(self, tol: float = 1e-6) -> bool:
        """Every array agrees to ``tol`` of its own scale, every array could be judged, and some
        entry was compared at all (a check of nothing passes nothing)."""
        return self.max_rel_error < tol and not self.unresolved and self.checked > 0

    def __str__(self) -> str:
        lines = [
            f"{'parameter':<14} {'shape':<10} {'checked':>7} {'kinks':>5} "
            f"{'scale':>9} {'rel err':>9} {'max abs err':>11}"
        ]
        for p in self.parameters:
            note = "" if p.resolved else "  unresolved: gradient below finite-difference rounding"
            lines.append(
                f"{p.name:<14} {'x'.join(map(str, p.shape)):<10} {p.checked:>7} {p.kinks:>5} "
                f"{p.scale:>9.2e} {p.max_rel_error:>9.2e} {p.max_abs_error:>11.2e}{note}"
            )
        lines.append(
            f"largest relative error {self.max_rel_error:.2e} (to its array's largest gradient) "
            f"at {self.worst}"
        )
        return "\n".join(lines)


def gradcheck(
    obj: Network | Layer | Loss,
    X: Any,
    y: Any = None,
    *,
    eps: float = 1e-3,
    max_per_parameter: int | None = None,
    training: bool = True,
    seed: int = 0,
    sample_weight: Any = None,
    output: str | Activation | None = None,
) -> GradcheckResult:
    """Compare backprop's gradient with finite differences, entry by entry, in float64.

    ``obj`` is a `Network` (∂L/∂θ of L(θ) on (X, y)), a lone `Layer` or `Activation` (∂/∂X and
    ∂/∂θ of Σ R ⊙ layer(X); ``y`` unused) or a `Loss` (∂L/∂Z, Z the input of the ``output``
    activation, by default the one the loss needs, else identity). The object itself is checked
    and left as it was. Dropout masks are drawn once and held fixed, so the loss is one smooth
    function of θ. ``max_per_parameter`` checks a random sample of that many entries per array
    (all by default). ``sample_weight`` checks the weighted loss Σ_n s_n C^n (`chainrule.losses`).
    """
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps <= MAX_EPS:
        raise ValueError(f"eps must be a step in (0, {MAX_EPS}], e.g. 1e-3, got {eps!r}")
    if max_per_parameter is not None and (
        isinstance(max_per_parameter, bool)
        or not isinstance(max_per_parameter, numbers.Integral)
        or max_per_parameter < 1
    ):
        raise ValueError(
            f"max_per_parameter must be None (every entry) or an integer ≥ 1, got {max_per_parameter!r}"
        )
    rng = np.random.default_rng(seed)
    if isinstance(obj, Network):
        with _in_float64(obj) as net:
            return _check_network(net, X, y, training, sample_weight, eps, max_per_parameter, rng)
    if isinstance(obj, Loss):
        return _check_loss(obj, X, y, output, sample_weight, eps, max_per_parameter, rng)
    if isinstance(obj, Layer):
        return _check_layer(obj, X, training, eps, max_per_parameter, rng)
    raise TypeError(f"gradcheck checks a Network, a Layer or a Loss, got {type(obj).__name__}")


# ------------------------------------------------------------------------------- the comparison
def _compare(
    named: list[tuple[str, Array]],
    analytic: list[Array],
    loss: Callable[[], float],
    eps: float,
    max_per: int | None,
    rng: np.random.Generator,
    sides: Callable[[], list[Array]] = list,
) -> GradcheckResult:
    """Finite differences of ``loss`` in every (sampled) entry of each array, against ``analytic``.

    An array too small to resolve at ``eps`` is tried again at 10 ε and 100 ε (the rounding error
    falls as 1/ε; the truncation error, estimated from the four values of L, is allowed for)."""
    base = sides()
    checks = []
    for (name, p), g_all in zip(named, analytic, strict=True):
        flat, g_flat = p.reshape(-1), np.asarray(g_all, dtype=F64).reshape(-1)  # flat: a view of p
        idx = np.arange(flat.size)
        if max_per is not None and flat.size > max_per:
            idx = np.sort(rng.choice(flat.size, max_per, replace=False))
        for h in (eps, 10 * eps, 100 * eps):
            f, u, kept = _differences(flat, idx, loss, h, sides, base)
            check = _judge(name, p.shape, g_flat[kept], f, u, kept, len(idx))
            if check.resolved:
                break
        checks.append(check)
    top = max(checks, key=lambda c: (not c.resolved, c.max_rel_error))
    return GradcheckResult(
        max(c.max_rel_error for c in checks), f"{top.name}[{', '.join(map(str, top.worst_index))}]", checks
    )


def _differences(
    flat: Array,
    idx: Array,
    loss: Callable[[], float],
    eps: float,
    sides: Callable[[], list[Array]],
    base: list[Array],
) -> tuple[Array, Array, list[int]]:
    """f_i and its uncertainty u_i (rounding + truncation) for the entries ``idx`` of ``flat``;
    entries whose perturbation crosses a kink are left out of ``kept``."""
    f, u, kept = [], [], []
    for i in idx:
        old = flat[i]
        at, crossed = [], False
        for step in STEPS:
            flat[i] = old + step * eps
            at.append(loss())
            crossed = crossed or any(not np.array_equal(s, b) for s, b in zip(sides(), base, strict=True))
        flat[i] = old
        if not crossed:
            f4 = fourth_order_difference(at, eps)
            f2 = (at[1] - at[2]) / (2 * eps)  # error ≈ a ε², so f4's error ≈ 4 b ε⁴ ~ 4 ε² |f2 − f4|
            f.append(f4)
            u.append(rounding_error(at, eps) + 40 * eps**2 * abs(f2 - f4))
            kept.append(int(i))
    return np.array(f), np.array(u), kept


def _judge(
    name: str, shape: tuple[int, ...], g: Array, f: Array, u: Array, kept: list[int], n: int
) -> ParameterCheck:
    """The error of one array against its own scale max_i max(|g_i|, |f_i|)."""
    if not kept:
        return ParameterCheck(name, shape, 0, n, 0.0, 0.0, ())
    err = np.abs(g - f)
    scale = float(max(np.abs(g).max(), np.abs(f).max()))
    noise = float(u.max())
    excess = np.maximum(err - u, 0.0)
    rel = excess / scale if scale > 0 else np.zeros_like(excess)
    worst = int(np.argmax(rel)) if rel.any() else int(np.argmax(err))
    both_zero = float(np.abs(g).max()) <= noise and float(np.abs(f).max()) <= noise  # agree: ∂L/∂θ ≈ 0
    return ParameterCheck(
        name=name,
        shape=shape,
        checked=len(kept),
        kinks=n - len(kept),
        max_rel_error=float(rel.max()),
        max_abs_error=float(err.max()),
        worst_index=tuple(int(j) for j in np.unravel_index(kept[worst], shape)),
        scale=scale,
        resolved=both_zero or scale > RESOLVED * noise,
    )


# ------------------------------------------------------------------------------------ a network
@contextmanager
def _in_float64(net: Network) -> Iterator[Network]:
    """The network itself, computing in float64 on float64 copies of its parameters; afterwards
    its own arrays (the very objects an optimiser may hold), dtype, dropout and generator state
    are put back."""
    keep = {k: getattr(net, k) for k in ("flat_params", "flat_grads", "dtype", "parameter_names")}
    arrays = [(la, {n: getattr(la, n) for p in la.params for n in (p, "d" + p)}) for la in net.layers]
    frozen = [(layer, layer.freeze_mask) for layer in net.layers if isinstance(layer, Dropout)]
    state = net.rng.bit_generator.state
    try:
        for layer in net.layers:
            layer._network_owned = False
        net.dtype = F64
        net._flatten()
        for layer, _ in frozen:
            layer.freeze_mask = True
        yield net
    finally:
        for k, v in keep.items():
            setattr(net, k, v)
        for layer, saved in arrays:
            for k, v in saved.items():
                setattr(layer, k, v)
            layer._network_owned = True
            layer.clear_buffers()
        net.loss.clear_buffers()
        for layer, was in frozen:
            layer.freeze_mask = was
        net.rng.bit_generator.state = state


def _check_network(
    net: Network,
    X: Any,
    y: Any,
    training: bool,
    sample_weight: Any,
    eps: float,
    max_per: int | None,
    rng: np.random.Generator,
) -> GradcheckResult:
    X = net.check_X(X)
    y = net.check_y(y, len(X))
    s = None if sample_weight is None else np.asarray(sample_weight, dtype=F64)
    kinked = [layer for layer in net.layers if isinstance(layer, ReLU | LeakyReLU)]

    def loss() -> float:
        net._forward(X, training)
        return net.loss.value(net.output, y, s)

    net.flat_grads[...] = 0
    net._forward(X, training)
    net._propagate(net.loss.delta(net.output, y, s))
    for layer in net.layers:  # a layer must write its gradient into the network's flat array
        for p in layer.params:
            if not np.shares_memory(getattr(layer, "d" + p), net.flat_grads):
                raise ValueError(
                    f"{type(layer).__name__}.backward replaced self.d{p} by a new array: write into it "
                    f"(self.d{p}[...] = ... or np.matmul(..., out=self.d{p})), which the optimiser reads"
                )
    analytic = net.flat_grads.copy()
    offsets = np.cumsum([0] + [p.size for p in net.parameters()])
    grads = [analytic[a:b] for a, b in itertools.pairwise(offsets)]
    named = list(zip(net.parameter_names, net.parameters(), strict=True))
    return _compare(named, grads, loss, eps, max_per, rng, lambda: [la.z > 0 for la in kinked])


# --------------------------------------------------------------------------- a layer, a loss
def _check_layer(
    layer: Layer, X: Any, training: bool, eps: float, max_per: int | None, rng: np.random.Generator
) -> GradcheckResult:
    """L = Σ R ⊙ layer(X): ∂L/∂X = layer.backward(R), ∂L/∂θ in the layer's d-arrays."""
    X = np.array(X, dtype=F64)
    saved = {n: getattr(layer, n) for p in layer.params for n in (p, "d" + p)}
    frozen = getattr(layer, "freeze_mask", None)
    try:
        for p in layer.params:
            setattr(layer, p, np.array(saved[p], dtype=F64))
            setattr(layer, "d" + p, np.zeros_like(getattr(layer, p)))
        if frozen is not None:
            layer.freeze_mask = True
        R = rng.normal(size=np.shape(layer.forward(X.copy(), training)))

        def loss() -> float:
            return float(np.sum(R * layer.forward(X, training)))

        loss()
        grad_in = layer.backward(R.copy(), True)
        analytic = [np.array(grad_in, dtype=F64)] + [np.array(getattr(layer, "d" + p)) for p in layer.params]
        named = [("input", X)] + [(p, getattr(layer, p)) for p in layer.params]
        kinked = isinstance(layer, ReLU | LeakyReLU)
        return _compare(named, analytic, loss, eps, max_per, rng, lambda: [X > 0] if kinked else [])
    finally:
        for k, v in saved.items():
            setattr(layer, k, v)
        if frozen is not None:
            layer.freeze_mask = frozen
        layer.clear_buffers()


def _check_loss(
    loss_obj: Loss,
    Z: Any,
    y: Any,
    output: str | Activation | None,
    sample_weight: Any,
    eps: float,
    max_per: int | None,
    rng: np.random.Generator,
) -> GradcheckResult:
    """L(σ(Z), y) and δ^(O) = ∂L/∂Z from ``loss_obj.delta``."""
    out = make_activation(output) if output is not None else (loss_obj.output or Identity)()
    Z = np.array(Z, dtype=F64)
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-D (n_samples, n_outputs), got shape {Z.shape}")
    y = loss_obj.targets(y, Z.shape[1], F64)
    s = None if sample_weight is None else np.asarray(sample_weight, dtype=F64)

    def loss() -> float:
        out.forward(Z)
        return loss_obj.value(out, y, s)

    loss()
    delta = np.array(loss_obj.delta(out, y, s), dtype=F64)
    try:
        return _compare([("z", Z)], [delta], loss, eps, max_per, rng)
    finally:
        loss_obj.clear_buffers()
