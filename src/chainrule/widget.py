"""The network view in Jupyter: ``chainrule.show(network, X, y)`` draws a network trained in Python
inside a notebook, with the playground's drawing code (``playground/static/diagram.js``):

    neurons    heat maps of a over the input plane (2 inputs), a and δ = ∂C/∂z of the chosen example
    edges      coloured by the sign of w, thickened by |w|
    a click    on a neuron: z, b, a = σ(z), σ'(z), ∂C/∂a = Σ_k w_jk δ_k and δ;
               on a weight: w, a, δ and ∂C/∂w = a · δ with the chain of δ from the output layer back

The numbers are the library's: the forward and backward pass of one example on a float64 copy of
the network (`chainrule.diagram.example_passes`), the δ of every neuron as `chainrule.explain`
builds it (`chainrule.explain.neurons`), and ∂C/∂W = a^(l-1) δ^(l)ᵀ from the backward pass.
Changing ``example`` (the slider, or ``view.example = 3``) recomputes them; ``view.update()`` after
more training redraws. It needs the ``widget`` extra (anywidget).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.diagram import GRID, example_passes, floats, heat_maps, plain_rules, plane
from chainrule.explain import neurons
from chainrule.network import Network

try:
    import anywidget
    import traitlets
except ModuleNotFoundError as e:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"chainrule.show needs anywidget ({e.name} is missing): pip install 'chainrule[widget]'"
    ) from e

__all__ = ["MAX_LAYERS", "MAX_WIDTH", "NetworkView", "show"]

STATIC = Path(__file__).parent / "playground" / "static"
MAX_WIDTH = 16  # neurons in a layer (the input included) that the view draws
MAX_LAYERS = 8  # layers of weights
IMPORT = re.compile(r'^import \{[^}]*\} from "\./diagram\.js";\n', re.MULTILINE)


def front_end() -> tuple[str, str]:
    """The view's ES module (diagram.js, then widget.js without its import of diagram.js: one
    module, as anywidget loads it) and its CSS (diagram.css, then widget.css)."""
    glue = (STATIC / "widget.js").read_text()
    if not IMPORT.search(glue):
        raise RuntimeError("chainrule's widget.js no longer imports diagram.js as front_end expects")
    esm = (STATIC / "diagram.js").read_text() + "\n" + IMPORT.sub("", glue)
    css = (STATIC / "diagram.css").read_text() + "\n" + (STATIC / "widget.css").read_text()
    return esm, css


def _check_size(network: Network) -> None:
    widths = [network.n_features, *(lv.dense.n_out for lv in network.levels)]
    if len(network.levels) > MAX_LAYERS:
        raise ValueError(
            f"this network is too large to draw: {len(network.levels)} layers of weights; "
            f"the view draws at most {MAX_LAYERS}"
        )
    for level, n in enumerate(widths):
        if n > MAX_WIDTH:
            where = "the input" if level == 0 else f"layer {level}"
            raise ValueError(
                f"this network is too large to draw: {where} has {n} neurons; the view draws at most "
                f"{MAX_WIDTH} a layer (chainrule.explain shows any weight of any network)"
            )


def _plain(value: Any) -> Any:
    """JSON-ready: lists for tuples, None for NaN and infinities."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


_ESM, _CSS = front_end()


class NetworkView(anywidget.AnyWidget):
    """The diagram of a network and one example's a, δ and ∂C/∂w = a · δ (see the module's text).

    Synced to the front end: ``levels`` ([{n, activation}], the input first), ``feature_names``,
    ``weights`` ([{W, b}] per layer), ``grid`` and ``maps`` (heat maps, 2 inputs only), and for the
    chosen ``example``: ``passes`` (z, a, σ'(z), δ per layer, a^(0) = x first), ``neurons`` (how
    each δ was built), ``gradients`` ([{dW, db}]: ∂C/∂W = a δᵀ, ∂C/∂b = δ) and ``cost`` (C).
    """

    _esm = _ESM
    _css = _CSS
    levels = traitlets.List().tag(sync=True)
    feature_names = traitlets.List().tag(sync=True)
    weights = traitlets.List().tag(sync=True)
    grid = traitlets.Int(0).tag(sync=True)
    maps = traitlets.Unicode("").tag(sync=True)
    example = traitlets.Int(0).tag(sync=True)
    n_examples = traitlets.Int(0).tag(sync=True)
    passes = traitlets.List().tag(sync=True)
    neurons = traitlets.List().tag(sync=True)
    gradients = traitlets.List().tag(sync=True)
    cost = traitlets.Float(None, allow_none=True).tag(sync=True)
    loss = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, network: Network, X: Any = None, y: Any = None, example: int = 0) -> None:
        if not isinstance(network, Network):
            raise TypeError(
                f"show needs a chainrule.Network, got {type(network).__name__} "
                "(for a fitted chainrule.sklearn estimator, give its network_)"
            )
        _check_size(network)
        self.network = network
        self.X = None if X is None else network.check_X(X)
        if y is not None and self.X is None:
            raise ValueError("y without X: give the rows X that the targets y belong to")
        self.y = None if y is None else network.check_y(y, len(self.X))
        super().__init__()
        self.update(example)

    def __repr__(self) -> str:
        """The text a page without a widget front end shows (a notebook read on a static site)."""
        sizes = "-".join(str(level["n"]) for level in self.levels)
        where = f", example {self.example} of {self.n_examples}" if self.n_examples else ""
        cost = "" if self.cost is None else f", C = {self.cost:.6g}"
        return f"NetworkView of a {sizes} network ({self.loss}{where}{cost}): drawn where widgets run"

    @traitlets.validate("example")
    def _valid_example(self, proposal: dict[str, Any]) -> int:
        n, count = proposal["value"], 0 if self.X is None else len(self.X)
        if isinstance(n, bool):  # an int to traitlets, and to the library a wrong sample
            raise traitlets.TraitError(f"example must be a row number of X, got {n!r}")
        if count == 0 and n != 0:
            raise traitlets.TraitError(f"example {n} does not exist: give show() the rows X")
        if count and not 0 <= n < count:
            raise traitlets.TraitError(f"example {n} does not exist: choose 0..{count - 1}")
        return n

    @traitlets.observe("example")
    def _example_changed(self, change: dict[str, Any]) -> None:
        with self.hold_sync():
            self._show_example()

    def update(self, example: int | None = None) -> NetworkView:
        """Draw the network as it is now (after more training), for ``example`` (or the current one)."""
        net = self.network
        _check_size(net)
        with self.hold_sync():
            self.levels = [{"n": net.n_features, "activation": "input"}] + [
                {"n": lv.dense.n_out, "activation": getattr(lv.activation, "name", "identity")}
                for lv in net.levels
            ]
            names = (net.metadata or {}).get("feature_names") if isinstance(net.metadata, dict) else None
            if not names or len(names) != net.n_features:
                names = [f"x{i + 1}" for i in range(net.n_features)]
            self.feature_names = [str(name) for name in names]
            self.weights = [{"W": floats(lv.W), "b": floats(lv.b)} for lv in net.levels]
            self.loss = net.loss.name.replace("_", " ")
            self.n_examples = 0 if self.X is None else len(self.X)
            self._draw_maps()
            if example is not None and example != self.example:
                self.example = example  # its observer shows the example
            else:
                self._show_example()
        return self

    def _draw_maps(self) -> None:
        """Each neuron's a over the input plane (2 inputs): around the rows X, else [−2, 2]² (around
        their mean where the rows do not span a plane)."""
        net = self.network
        if net.n_features != 2:
            self.grid, self.maps = 0, ""
            return
        points = np.array([[-2.0, -2.0], [2.0, 2.0]])
        if self.X is not None and np.ptp(self.X, axis=0).min() > 1e-6:
            points = self.X
        elif self.X is not None:  # one row (or one line of rows): a square of side 4 around them
            points = self.X.mean(axis=0) + points
        grid = net.check_X(plane(points, GRID)[1])
        with np.errstate(over="ignore", invalid="ignore"):
            out = net.forward(grid)
        if net.loss.name in ("cross_entropy", "binary_cross_entropy"):
            out_range = (0.0, 1.0)
        else:  # regression: the targets' range, else the outputs' over the plane
            values = self.y if self.y is not None else out
            out_range = (float(np.nanmin(values)), float(np.nanmax(values)))
            if not out_range[0] < out_range[1]:
                out_range = (out_range[0] - 1, out_range[0] + 1)
        ranges = [(float(grid.min()), float(grid.max())), *[(-1.0, 1.0)] * (len(net.levels) - 1), out_range]
        self.grid, self.maps = GRID, heat_maps(net, grid, ranges)

    def _show_example(self) -> None:
        """z, a, σ'(z), δ, the δ of every neuron as explain builds it, ∂C/∂w = a · δ, and C."""
        net, n = self.network, self.example
        self.passes, self.neurons, self.gradients, self.cost, self.message = [], [], [], None, ""
        if self.X is None:
            self.message = "Give show() the rows X (and targets y) for the a and δ of an example."
            return
        if self.y is None:  # the forward pass only
            copy = net.astype("float64")
            with np.errstate(over="ignore", invalid="ignore"):
                copy.forward(self.X[n : n + 1])
            self.passes = [{"a": floats(self.X[n])}] + [
                {"z": floats(lv.z[0]), "a": floats(lv.a[0]), "sigma_prime": floats(lv.sigma_prime()[0])}
                for lv in copy.levels
            ]
            self.message = "Give show() the targets y for δ and ∂C/∂w = a · δ."
            return
        passes, copy = example_passes(net, self.X, self.y, n)
        self.passes = passes
        self.gradients = [{"dW": floats(lv.dW), "db": floats(lv.db)} for lv in copy.levels]
        cost = float(copy.loss.value(copy.output, self.y[n : n + 1]))  # C of this example, after its passes
        self.cost = cost if np.isfinite(cost) else None
        self.neurons = [
            [plain_rules(_plain(asdict(d))) for d in level] for level in neurons(net, self.X, self.y, n)
        ]


def show(network: Network, X: Any = None, y: Any = None, example: int = 0) -> NetworkView:
    """The network drawn in a notebook: heat maps, weights, and row ``example`` of (X, y) with a, δ
    and ∂C/∂w = a · δ of every neuron and weight (click one). Display the returned view (the
    last line of a cell); ``view.example = k`` chooses another example, ``view.update()`` redraws."""
    return NetworkView(network, X, y, example)
