"""The chain rule of one weight, with the numbers (seeds 001–004).

For the weight w = W^(l)_ij, from neuron i of layer l−1 to neuron j of layer l, and one example
with cost C:

    ∂C/∂w = ∂z_j/∂w · ∂C/∂z_j = a_i^(l−1) · δ_j^(l)            forward value × backward value
    δ_j^(l) = σ'(z_j^(l)) · Σ_k w_jk^(l+1) δ_k^(l+1)           chain rule, case 1 · case 2
    δ^(O)   = ∂C/∂a^(O) ⊙ σ'(z^(O))                           (a − y for softmax or sigmoid with
                                                               cross entropy)

`explain` runs the forward and backward pass of that one example on a float64 copy of the
network and returns every number of that derivation: the a that the forward pass gives, the δ
of the neuron the weight feeds, each term w · δ that built it, every δ above it back to the
output layer and ∂C/∂a, the product a · δ, and a finite-difference value of ∂C/∂w beside it.
The command line prints it (`chainrule explain`) and the playground shows it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chainrule.activations import Identity, Softmax
from chainrule.gradcheck import STEPS, fourth_order_difference
from chainrule.level import Level
from chainrule.losses import BinaryCrossEntropy, CrossEntropy, Poisson
from chainrule.network import Network


@dataclass(frozen=True)
class Term:
    """One path of case 2: the weight w_jk from neuron j up to neuron k, times δ_k above."""

    k: int
    w: float
    delta: float
    product: float


@dataclass(frozen=True)
class NeuronDelta:
    """How δ = ∂C/∂z of one neuron was built: δ = σ'(z) · ∂C/∂a.

    ``dC_da`` is Σ_k w_jk δ_k (its ``terms``) below the output layer, and the loss's ∂C/∂a at the
    output; it is None where the loss and the output activation are fused (δ = a − y).
    ``y`` is the target (output layer only). ``rule`` is the equation that gave δ.
    """

    level: int
    neuron: int
    z: float
    a: float
    sigma_prime: float
    dC_da: float | None
    delta: float
    rule: str
    y: float | None = None
    terms: tuple[Term, ...] = ()


@dataclass(frozen=True)
class Explanation:
    """Every number of ∂C/∂w = a · δ for the weight W^(level)[i, j] and one example."""

    level: int
    i: int
    j: int
    sample: int
    w: float
    a: float  # a_i^(l−1) = ∂z_j/∂w, the forward-pass value
    delta: float  # δ_j^(l) = ∂C/∂z_j, the backward-pass value
    gradient: float  # a · δ
    finite_difference: float
    cost: float  # C of this example
    loss: str
    chain: tuple[tuple[NeuronDelta, ...], ...]  # level l (neuron j), l+1, ..., O (every neuron)

    @property
    def relative_difference(self) -> float:
        """|a·δ − finite difference| / max(|a·δ|, |finite difference|, 1e-12)."""
        scale = max(abs(self.gradient), abs(self.finite_difference), 1e-12)
        return abs(self.gradient - self.finite_difference) / scale

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``chainrule explain --json``, the playground)."""
        return {**asdict(self), "relative_difference": self.relative_difference}

    def __str__(self) -> str:
        return self.render()

    def render(self, max_terms: int = 10) -> str:
        """The derivation as text, output layer first (the reversed network of seed 004), indices
        from 1 as in the notes; at most ``max_terms`` terms (largest |w·δ| first) per sum."""
        lv, i, j = self.level, self.i + 1, self.j + 1
        below = "x" if lv == 1 else f"a^({lv - 1})"
        lines = [
            f"∂C/∂w for w = w_{i},{j}^({lv}) = {self.w:.6g}: from {below}_{i} to neuron {j} of layer {lv}, "
            f"example {self.sample}",
            f"indices count from 1, as in the notes (x1, w1): w_{i},{j}^({lv}) is W[{i - 1}, {j - 1}] "
            f"of layer {lv} in Python (weight=({i - 1}, {j - 1}), --weight {i - 1},{j - 1})",
            f"C = {self.cost:.6g} ({self.loss} of this example)",
            "",
            f"forward pass   a = {below}_{i} = {self.a:.6g}   (= ∂z_{j}/∂w: z_{j} = Σ_i w_ij a_i + b_{j})",
            f"backward pass  δ = ∂C/∂z_{j}^({lv}) = {self.delta:.6g}, from the output layer back "
            "through the reversed network:",
        ]
        for neurons in reversed(self.chain):
            lines += _render_level(neurons, max_terms)
        lines += [
            "",
            f"∂C/∂w = a · δ = {self.a:.6g} × {self.delta:.6g} = {self.gradient:.6g}",
            f"finite difference (C(w + ε) − C(w − ε)) / 2ε, 4th order: {self.finite_difference:.6g} "
            f"(relative difference {self.relative_difference:.1e})",
        ]
        return "\n".join(lines)


def _render_level(neurons: tuple[NeuronDelta, ...], max_terms: int) -> list[str]:
    first = neurons[0]
    if first.terms and len(neurons) == 1:  # the neuron the weight feeds: the terms of its sum
        n = first
        lines = [
            "",
            f"  layer {n.level}, neuron {n.neuron + 1}: {n.rule}",
            f"    z = {n.z:.6g}   a = σ(z) = {n.a:.6g}   σ'(z) = {n.sigma_prime:.6g}",
            f"    {'k':>5} {'w_jk':>12} {'δ_k':>12} {'w_jk · δ_k':>12}",
        ]
        shown = sorted(n.terms, key=lambda t: -abs(t.product))[:max_terms]
        lines += [f"    {t.k + 1:>5} {t.w:>12.6g} {t.delta:>12.6g} {t.product:>12.6g}" for t in shown]
        if len(n.terms) > len(shown):
            lines.append(f"    ... and {len(n.terms) - len(shown)} smaller terms")
        lines.append(
            f"    Σ_k w_jk δ_k = {n.dC_da:.6g};  δ = σ'(z) · Σ = {n.sigma_prime:.6g} × {n.dC_da:.6g} "
            f"= {n.delta:.6g}"
        )
        return lines
    fused = first.y is not None and first.dC_da is None  # δ = a − y: σ'(z) is not used
    columns = ["z", "a", *(["y"] if first.y is not None else []), *([] if fused else ["σ'(z)", "∂C/∂a"]), "δ"]
    lines = [
        "",
        f"  layer {first.level}: {first.rule}",
        "  " + "".join(f"{c:>13}" for c in ["neuron", *columns]),
    ]
    shown = sorted(neurons, key=lambda n: -abs(n.delta))[:max_terms]
    for n in sorted(shown, key=lambda n: n.neuron):
        values = [n.z, n.a, *([n.y] if first.y is not None else [])]
        values += [] if fused else [n.sigma_prime, n.dC_da]
        lines.append(
            "  "
            + f"{n.neuron + 1:>13}"
            + "".join(f"{'':>13}" if v is None else f"{v:>13.6g}" for v in [*values, n.delta])
        )
    if len(neurons) > len(shown):
        lines.append(f"  ... and {len(neurons) - len(shown)} neurons with smaller δ")
    return lines


def notes_example() -> tuple[Network, np.ndarray, np.ndarray]:
    """The 2-2-2 network of the notes' figure (seeds 000, 001, 003), with numbers a student can
    follow by hand: sigmoid everywhere, x = (1, −1), target y = (1, 0), C = ½ Σ (a − y)² summed
    (reduction ``sum``), float64. The same numbers as tests/test_seeds_worked_example.py.

        z^(1) = x W^(1) + b^(1),  W^(1) = [[1, −2], [−1, 1]],  b^(1) = (1, 0)
        z^(2) = a^(1) W^(2) + b^(2),  W^(2) = [[2, −1], [−1, 1]],  b^(2) = (0, 0.5)
    """
    from chainrule.activations import Sigmoid
    from chainrule.layers import Dense

    net = Network(
        [
            Dense(2, 2, W=[[1.0, -2.0], [-1.0, 1.0]], b=[1.0, 0.0]),
            Sigmoid(),
            Dense(2, 2, W=[[2.0, -1.0], [-1.0, 1.0]], b=[0.0, 0.5]),
            Sigmoid(),
        ],
        loss="squared_error",
        reduction="sum",
        dtype="float64",
    )
    return net, np.array([[1.0, -1.0]]), np.array([[1.0, 0.0]])


EXAMPLES = {"notes": notes_example}


def _index(value: Any, bound: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < bound:
        raise ValueError(f"{what} must be an integer in 0..{bound - 1}, got {value!r}")
    return int(value)


def explain(
    network: Network,
    X: Any,
    y: Any,
    *,
    level: int,
    weight: tuple[int, int],
    sample: int = 0,
    eps: float = 1e-4,
) -> Explanation:
    """The chain rule for ∂C/∂w, w = W^(level)[i, j], on row ``sample`` of (X, y).

    ``level`` counts as the seeds do: 1 is the first layer of weights, ``len(network.levels)``
    the output layer. The network is not changed (the passes run on a float64 copy, without
    dropout).
    """
    n_levels = len(network.levels)
    if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 1 <= level <= n_levels:
        raise ValueError(f"level must be 1..{n_levels} (the layers of weights), got {level!r}")
    if not isinstance(weight, tuple | list) or len(weight) != 2:
        raise ValueError(f"weight must be a pair (i, j), got {weight!r}")
    dense = network.levels[level - 1].dense
    i = _index(weight[0], dense.n_in, f"weight i (an input of layer {level})")
    j = _index(weight[1], dense.n_out, f"weight j (a neuron of layer {level})")
    net, x, target, k = _one_example(network, X, y, sample)

    def cost() -> float:  # C of this one example (mean and sum agree on one row)
        net._forward(x)
        return net.loss.value(net.output, target)

    c = cost()
    net._backward(target)
    levels = net.levels
    top = _output_level(net, target)
    chain = [top]
    for lv in range(n_levels - 2, level - 2, -1):  # 0-based: the hidden levels, top down to `level`
        neurons = [j] if lv == level - 1 else range(levels[lv].dense.n_out)
        chain.append(tuple(_hidden_neuron(levels[lv], levels[lv + 1], n) for n in neurons))
    if level == n_levels:
        chain = [(top[j],)]
    chain.reverse()

    flat = levels[level - 1].W  # perturb w in place, then put it back
    w = float(flat[i, j])
    at = []
    for step in STEPS:
        flat[i, j] = w + step * eps
        at.append(cost())
    flat[i, j] = w
    a, delta = float(levels[level - 1].a_prev[0, i]), float(levels[level - 1].delta[0, j])
    return Explanation(
        level=level,
        i=i,
        j=j,
        sample=k,
        w=w,
        a=a,
        delta=delta,
        gradient=a * delta,
        finite_difference=fourth_order_difference(at, eps),
        cost=c,
        loss=net.loss.name.replace("_", " "),
        chain=tuple(chain),
    )


def _one_example(
    network: Network, X: Any, y: Any, sample: int
) -> tuple[Network, np.ndarray, np.ndarray, int]:
    """A float64 copy of the network (no dropout), and row ``sample`` of (X, y) checked against it."""
    net = network.astype("float64")
    X = net.check_X(X)
    Y = net.check_y(y, len(X))
    k = _index(sample, len(X), "sample")
    return net, X[k : k + 1], Y[k : k + 1], k


def neurons(network: Network, X: Any, y: Any, sample: int = 0) -> tuple[tuple[NeuronDelta, ...], ...]:
    """How δ = ∂C/∂z of every neuron was built for row ``sample`` of (X, y), layer 1 first: δ^(O)
    from the loss (∂C/∂a ⊙ σ'(z), or a − y where fused), and below it δ_j = σ'(z_j) · Σ_k w_jk δ_k
    with its terms. The same numbers as the chains of `explain`; the network is not changed."""
    net, x, target, _ = _one_example(network, X, y, sample)
    net._forward(x)
    net._backward(target)
    levels = net.levels
    hidden = [
        tuple(_hidden_neuron(levels[lv], levels[lv + 1], j) for j in range(levels[lv].dense.n_out))
        for lv in range(len(levels) - 1)
    ]
    return (*hidden, _output_level(net, target))


def _hidden_neuron(level: Level, above: Level, j: int) -> NeuronDelta:
    """δ_j = σ'(z_j) · Σ_k w_jk δ_k (case 2 gives the sum, case 1 the factor σ'(z_j))."""
    w_j, delta_above = above.W[j], above.delta[0]  # w_jk and δ_k for every neuron k above
    terms = tuple(
        Term(k, float(w_j[k]), float(delta_above[k]), float(w_j[k] * delta_above[k])) for k in range(len(w_j))
    )
    softmax = isinstance(level.activation, Softmax)
    return NeuronDelta(
        level=level.index,
        neuron=j,
        z=float(level.z[0, j]),
        a=float(level.a[0, j]),
        sigma_prime=float(level.sigma_prime()[0, j]),
        dC_da=float(sum(t.product for t in terms)),
        delta=float(level.delta[0, j]),
        rule="δ_j = Σ_m ∂a_m/∂z_j · ∂C/∂a_m (softmax Jacobian)"
        if softmax
        else "δ_j = σ'(z_j) · Σ_k w_jk δ_k",
        terms=terms,
    )


def _output_level(net: Network, target: np.ndarray) -> tuple[NeuronDelta, ...]:
    """δ^(O) of every output neuron, from the loss: ∂C/∂a ⊙ σ'(z), or a − y where fused."""
    out = net.levels[-1]
    a, z, sp = out.a[0], out.z[0], out.sigma_prime()[0]
    loss = net.loss
    if isinstance(loss, CrossEntropy):
        y = np.eye(len(a))[target[0]] if target.ndim == 1 else target[0]
    else:
        y = target[0]
    fused = isinstance(loss, CrossEntropy | BinaryCrossEntropy | Poisson)
    if fused:
        act = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid", "poisson": "exp"}[loss.name]
        rule = (
            f"δ = a − y ({act} output with {loss.name.replace('_', ' ')}: ∂C/∂a and σ'(z) cancel "
            "into one term, so σ'(z) is not used)"
        )
    elif isinstance(out.activation, Softmax):
        rule = "δ_k = Σ_m ∂a_m/∂z_k · (a_m − y_m) (squared error through the softmax Jacobian)"
    elif isinstance(out.activation, Identity):
        rule = "δ = ∂C/∂a · σ'(z) = (a − y) · 1 (seed 002's δ^(O); C = ½ Σ (a − y)², linear output)"
    else:
        rule = "δ = ∂C/∂a · σ'(z) = (a − y) · σ'(z) (seed 002's δ^(O); C = ½ Σ (a − y)²)"
    return tuple(
        NeuronDelta(
            level=out.index,
            neuron=k,
            z=float(z[k]),
            a=float(a[k]),
            sigma_prime=float(sp[k]),
            dC_da=None if fused else float(a[k] - y[k]),
            delta=float(out.delta[0, k]),
            rule=rule,
            y=float(y[k]),
        )
        for k in range(len(a))
    )
