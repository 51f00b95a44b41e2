"""A feed-forward network and the backpropagation algorithm of the seeds.

Notation (docs/backprop.md): y is the target, a^(O) the output; chainrule's ``W`` is the notes'
W transposed, shape (n_in, n_out) with ``W[i, j]`` = w_ij from neuron i below to neuron j, one
example per row. In the notes' orientation (column vectors, W^(l) of shape (n_out, n_in)):

Forward pass, layer by layer from the input a^(0) = x:

    z^(l) = W^(l) a^(l-1) + b^(l)            a^(l) = σ(z^(l))          code: z = a_prev @ W + b

Backward pass, from the output layer back through the reversed network (seed 004):

    δ^(O) = ∂C/∂a^(O) ⊙ σ'(z^(O))                                   (output layer, seed 002)
    δ^(l) = σ'(z^(l)) ⊙ (W^(l+1))ᵀ δ^(l+1)                          (chain rule, case 2 then 1)
    ∂L/∂W^(l) = Σ_n δ^(l) a^(l-1)ᵀ        ∂L/∂b^(l) = Σ_n δ^(l)     (backward value × forward value)

in code: ``delta @ W.T`` for (W^(l+1))ᵀ δ^(l+1) and ``a_prev.T @ delta`` for ∂L/∂W.

All parameters live in one flat array (``flat_params``) and all gradients in another
(``flat_grads``); each layer's ``W``, ``b``, ``dW``, ``db`` are views into them, so an optimiser
updates the whole network in a few vectorised operations and a distributed trainer reduces one
buffer.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from chainrule.activations import Activation, Identity, LeakyReLU, ReLU
from chainrule.activations import activation as make_activation
from chainrule.base import Array, Layer
from chainrule.heads import OUTPUT
from chainrule.layers import Dense, Dropout, layer_from_config
from chainrule.level import Level
from chainrule.losses import LOSSES, Loss, count
from chainrule.losses import loss as make_loss
from chainrule.sparse import check_sparse, is_sparse

DTYPES = ("float32", "float64")
CHUNK = 4096  # rows per forward pass in predict/evaluate: bounded memory on any data size


def as_dtype(dtype: Any) -> np.dtype:
    """float32 or float64, the two precisions a network computes in."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def unmasked(values: Any, name: str) -> Any:
    """``values`` without a NumPy mask: the data of a masked array none of whose entries is masked,
    else a clear error (a mask would otherwise be dropped without a word, its hidden entries used)."""
    if not isinstance(values, np.ma.MaskedArray):
        return values
    hidden = int(np.ma.getmaskarray(values).sum())
    if hidden:
        raise ValueError(
            f"{name} is a masked array with {hidden} masked value(s): fill them ({name}.filled(value)) "
            "or drop their rows first"
        )
    return values.data


def _all_finite(X: Array) -> bool:
    """Whether every entry of the contiguous float array X is finite.

    Fast path, one BLAS pass and no copy: Σ x² = xᵀx is finite only if every x is (a NaN or ±inf
    makes it NaN or inf). It also overflows for huge finite values; the exact check decides then,
    chunk by chunk (a boolean copy of all of X would cost a quarter of X's memory)."""
    flat = X.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.dot(flat, flat)):
            return True
    return all(bool(np.isfinite(X[start : start + CHUNK]).all()) for start in range(0, len(X), CHUNK))


class Network:
    """A stack of layers and a loss, trained by backpropagation.

    >>> net = Network([Dense(2, 2), Sigmoid(), Dense(2, 1), Sigmoid()], loss="squared_error")
    >>> net = Network.from_sizes([64, 128, 10], activation="relu", seed=0)

    ``dtype`` is float32 by default (float64 for gradient checks); inputs are converted to it
    once, at the boundary, so a computation never mixes precisions. ``seed`` seeds the one
    generator behind the initial weights, the shuffling and the dropout masks: the same seed gives
    bit-identical training, run after run (with the same number of BLAS threads: a different
    thread count sums the matrix products in another order).
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        loss: str | Loss = "cross_entropy",
        *,
        reduction: str | None = None,
        dtype: Any = "float32",
        seed: int | None = None,
    ) -> None:
        layers = list(layers)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise TypeError("layers must be a non-empty list of chainrule layers (Dense, ReLU, ...)")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("the same layer object appears twice: create a new layer for each place")
        if not isinstance(layers[-1], Activation):
            layers.append(Identity())  # a network ending in Dense has a linear output
        self.layers = layers
        self.loss = make_loss(loss, reduction)
        self.dtype = as_dtype(dtype)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
        ):
            raise ValueError(f"seed must be None or an integer ≥ 0, got {seed!r}")
        self.rng = np.random.default_rng(seed)
        self.metadata: dict[str, Any] = {}
        self.output: Activation = layers[-1]
        self.levels = self._check_architecture()
        self._first_dense = layers.index(self.levels[0].dense)
        # backward plan: every layer below the output activation, top down, down to the first Dense
        self._backward_plan = [
            (layers[i], i > self._first_dense) for i in range(len(layers) - 2, self._first_dense - 1, -1)
        ]
        self._initialize()
        self._flatten()

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def from_sizes(
        cls,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "relu",
        output: str | None = None,
        loss: str | Loss = "cross_entropy",
        *,
        dropout: float | Sequence[float] = 0.0,
        reduction: str | None = None,
        dtype: Any = "float32",
        seed: int | None = None,
    ) -> Network:
        """The common case: ``sizes = [n_in, hidden..., n_out]``, one activation for all hidden
        layers (or one per hidden layer), dropout after each hidden layer, and the output
        activation that suits the loss (softmax, sigmoid, or identity for squared error)."""
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least [n_in, n_out], got {sizes!r}")
        n_hidden = len(sizes) - 2
        acts = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        drops = [dropout] * n_hidden if isinstance(dropout, int | float) else list(dropout)
        if len(acts) != n_hidden or len(drops) != n_hidden:
            raise ValueError(
                f"give one activation and one dropout for all hidden layers or one per hidden layer "
                f"({n_hidden}), got {len(acts)} activation(s) and {len(drops)} dropout value(s)"
            )
        loss_obj = make_loss(loss, reduction)
        layers: list[Layer] = []
        for n_in, n_out, act, p in zip(sizes[:-2], sizes[1:-1], acts, drops, strict=True):
            layers += [Dense(n_in, n_out), make_activation(act)]
            if p:
                layers.append(Dropout(p))
        layers += [
            Dense(sizes[-2], sizes[-1]),
            make_activation(output or OUTPUT.get(loss_obj.name, "identity")),  # the loss's own
        ]
        return cls(layers, loss_obj, dtype=dtype, seed=seed)

    def _check_architecture(self) -> list[Level]:
        levels: list[Level] = []
        width: int | None = None
        for layer in self.layers:
            if isinstance(layer, Dense):
                if width is not None and layer.n_in != width:
                    raise ValueError(
                        f"layer {len(levels) + 1}: Dense expects {layer.n_in} inputs but the layer "
                        f"below gives {width}: make n_in of each Dense equal n_out of the one before"
                    )
                width = layer.n_out
                levels.append(Level(len(levels) + 1, layer, None, None))
            elif levels and isinstance(layer, Activation) and levels[-1].activation is None:
                levels[-1] = replace(levels[-1], activation=layer)
            elif levels and isinstance(layer, Dropout) and levels[-1].dropout is None:
                levels[-1] = replace(levels[-1], dropout=layer)
        if not levels:
            raise ValueError("a network needs at least one Dense layer")
        need = self.loss.output
        if need is not None and not isinstance(self.output, need):
            raise ValueError(
                f"{self.loss.name} needs a {need.__name__} output layer, but the network ends in "
                f"{type(self.output).__name__}: end it with {need.__name__}() or use squared_error"
            )
        if self.loss.name == "cross_entropy" and width is not None and width < 2:
            raise ValueError(
                "cross_entropy over a single output is constant: use 2+ outputs with softmax, "
                "or one sigmoid output with binary_cross_entropy"
            )
        return levels

    def _initialize(self) -> None:
        """Draw the weights of every Dense layer not yet initialised: He before the ReLU family,
        Glorot before everything else."""
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dropout):
                layer.rng = self.rng
            if isinstance(layer, Dense) and not layer.initialized:
                nxt = next((la for la in self.layers[i + 1 :] if isinstance(la, Activation | Dense)), None)
                auto = "he" if isinstance(nxt, ReLU | LeakyReLU) else "glorot"
                layer.initialize(self.rng, auto if layer.init == "auto" else layer.init)

    def _flatten(self) -> None:
        """Move every parameter and gradient into views of two flat arrays."""
        for layer in self.layers:
            if layer._network_owned:
                raise ValueError(
                    f"{layer!r} already belongs to another Network: create new layers for this one"
                )
            layer._network_owned = True  # its arrays become views into this network's flat arrays
            layer.clear_buffers()  # scratch arrays made before, for another dtype, go
        owned = [(layer, name) for layer in self.layers for name in layer.params]
        total = sum(getattr(layer, name).size for layer, name in owned)
        self.flat_params = np.empty(total, dtype=self.dtype)
        self.flat_grads = np.zeros(total, dtype=self.dtype)
        self.parameter_names: list[str] = []
        offset = 0
        for layer, name in owned:
            value = getattr(layer, name)
            p = self.flat_params[offset : offset + value.size].reshape(value.shape)
            p[...] = value
            setattr(layer, name, p)
            setattr(
                layer,
                "d" + name,
                self.flat_grads[offset : offset + value.size].reshape(value.shape),
            )
            self.parameter_names.append(f"layers.{self.layers.index(layer)}.{name}")
            offset += value.size

    # ----------------------------------------------------------------------------- structure
    @property
    def n_features(self) -> int:
        return self.levels[0].dense.n_in

    @property
    def n_outputs(self) -> int:
        return self.levels[-1].dense.n_out

    @property
    def n_parameters(self) -> int:
        return int(self.flat_params.size)

    def parameters(self) -> list[Array]:
        """Every trainable array (W and b of each Dense), views into ``flat_params``."""
        return [getattr(layer, name) for layer in self.layers for name in layer.params]

    def gradients(self) -> list[Array]:
        """∂L/∂θ of the last backward pass, aligned with `parameters`; views into ``flat_grads``
        that the next backward pass overwrites (copy them to keep them)."""
        return [getattr(layer, "d" + name) for layer in self.layers for name in layer.params]

    def config(self) -> dict[str, Any]:
        """The architecture, loss and dtype: what a model file needs besides the weights."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "loss": self.loss.config(),
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], seed: int | None = None) -> Network:
        """A network of the described architecture, with freshly initialised weights."""
        if not isinstance(config, dict) or not {"layers", "loss", "dtype"} <= config.keys():
            raise ValueError("not a chainrule network description (needs layers, loss and dtype)")
        if not isinstance(config["layers"], list):
            raise ValueError("the network description's layers must be a list")
        loss_cfg = config["loss"]
        if not isinstance(loss_cfg, dict) or loss_cfg.get("type") not in LOSSES:
            raise ValueError(f"unknown loss in network description: {loss_cfg!r}")
        layers = [layer_from_config(c) for c in config["layers"]]
        return cls(
            layers,
            make_loss(loss_cfg["type"], loss_cfg.get("reduction", "mean")),
            dtype=config["dtype"],
            seed=seed,
        )

    def astype(self, dtype: Any) -> Network:
        """A copy of this network computing in ``dtype`` (the weights cast to it)."""
        config = {**self.config(), "dtype": as_dtype(dtype).name}
        return _rebuild(config, self.flat_params, dict(self.metadata), self.rng.bit_generator.state)

    def copy(self) -> Network:
        return self.astype(self.dtype)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle (and `copy.deepcopy`) as description, weights, metadata and generator state:
        the rebuilt network's W and b are views of its ``flat_params`` again, where a pickle of
        the attributes would bring each back as a detached copy."""
        return _rebuild, (self.config(), self.flat_params, self.metadata, self.rng.bit_generator.state)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Network([{inner}], loss={self.loss!r}, dtype={self.dtype.name!r})"

    # ----------------------------------------------------------------------------- input checks
    def check_X(self, X: Any) -> Array:
        """X as a C-contiguous array of this network's dtype, or a clear error. A scipy sparse
        matrix stays sparse (CSR, for row batches): the first Dense layer multiplies it as it is."""
        if is_sparse(X):
            return check_sparse(X, self.n_features, self.dtype)
        X = unmasked(X, "X")
        try:
            X = np.asarray(X)
        except ValueError as e:
            raise ValueError(f"X is not a rectangular array of numbers: {e}") from None
        if X.dtype.kind not in "biuf":
            raise TypeError(
                f"X must hold numbers, got an array of {X.dtype}: encode non-numeric features first"
            )
        if X.ndim != 2:
            hint = " (for one sample use X.reshape(1, -1))" if X.ndim == 1 else ""
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}{hint}")
        if X.shape[0] == 0:
            raise ValueError("X is empty: it needs at least one row")
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[1]} features but the network expects {self.n_features}: "
                "give the same columns as in training"
            )
        with np.errstate(over="ignore"):
            X = np.ascontiguousarray(X, dtype=self.dtype)
        if not _all_finite(X):
            raise ValueError(
                f"X contains NaN or inf (or values too large for {self.dtype.name}): remove or impute them"
            )
        return X

    def check_y(self, y: Any, n_samples: int) -> Array:
        """y in the form the loss takes (integer labels, probabilities or values), or a clear error."""
        if y is None:
            raise ValueError("y is missing: give the targets of X")
        y = self.loss.targets(unmasked(y, "y"), self.n_outputs, self.dtype)
        if len(y) != n_samples:
            raise ValueError(f"X has {n_samples} rows but y has {len(y)}: give one target per row")
        return y

    # ----------------------------------------------------------------------------- the algorithm
    def _forward(self, X: Array, training: bool = False) -> Array:
        a = X
        for layer in self.layers:
            a = layer.forward(a, training)
        return a

    def _backward(self, y: Array) -> None:
        self._propagate(self.loss.delta(self.output, y))  # δ^(O) = ∂L/∂z^(O)

    def _propagate(self, delta: Array) -> None:
        for layer, need_input_grad in self._backward_plan:
            delta = layer.backward(delta, need_input_grad)  # δ^(l) = σ'(z^(l)) ⊙ (W^(l+1))ᵀ δ^(l+1)

    def train_step(
        self,
        X: Array,
        y: Array,
        s: Array | None = None,
        penalty: Callable[[float], float] | None = None,
    ) -> float:
        """Forward pass (dropout on), L, backward pass; returns L and leaves ∇L in ``flat_grads``.

        ``s``: a weight per row, L = Σ_n s_n C^n (/ Σ_n s_n for the mean; `chainrule.losses`).
        ``penalty``: a term R(θ) of the sum beside the C^n, so L = scale · (Σ_n s_n C^n + R(θ))
        with scale = 1/n (n = rows or Σ_n s_n) for the mean, 1 for the sum: ``penalty(scale)``
        adds scale · ∇R(θ) to ``flat_grads`` and returns scale · R(θ).

        For trainers: X, y and s must come from `check_X`, `check_y` and the network's dtype
        (nothing is checked here, so that the hot loop pays for validation once, not per batch)."""
        self._forward(X, training=True)
        value, delta = self.loss.value_and_delta(self.output, y, s)
        self._propagate(delta)
        if penalty is not None:
            value += penalty(self.loss.scale(count(y, s)))
        return value

    def forward(self, X: Any, training: bool = False) -> Array:
        """The output a^(O) for the rows of X (a new array). Every layer keeps its z and a:
        see ``levels``. ``training=True`` applies dropout."""
        return self._forward(self.check_X(X), training).copy()

    def backward(self, y: Any) -> list[Array]:
        """The backward pass for targets y of the last `forward`: fills every layer's δ, dW, db and
        returns the gradients (aligned with `parameters`)."""
        if not hasattr(self.output, "a"):
            raise RuntimeError("call forward(X) before backward(y)")
        self._backward(self.check_y(y, len(self.output.a)))
        return self.gradients()

    def loss_and_grad(
        self, X: Any, y: Any, training: bool = True, sample_weight: Any = None
    ) -> tuple[float, list[Array]]:
        """L(θ) on (X, y) and ∇L(θ), aligned with `parameters`. ``training`` applies dropout;
        ``sample_weight`` weighs the rows (L = Σ_n s_n C^n, over Σ_n s_n for the mean)."""
        X = self.check_X(X)
        y = self.check_y(y, X.shape[0])
        s = None if sample_weight is None else np.asarray(sample_weight, dtype=self.dtype)
        if s is not None and s.shape != (X.shape[0],):
            raise ValueError(f"sample_weight must have shape ({X.shape[0]},), got {s.shape}")
        self._forward(X, training)
        value, delta = self.loss.value_and_delta(self.output, y, s)
        self._propagate(delta)
        return value, self.gradients()

    # ----------------------------------------------------------------------------- inference
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities: the softmax (or sigmoid) outputs, one row per sample."""
        if not self.loss.classifier:
            raise TypeError("a regression network has no class probabilities: use predict")
        return self._output(self.check_X(X))

    def predict(self, X: Any) -> Array:
        """Class labels (0..K−1; 0/1 per output for sigmoid outputs), or regression values."""
        return self.loss.predict(self._output(self.check_X(X)))

    def evaluate(self, X: Any, y: Any) -> dict[str, float]:
        """The loss (mean or sum, as the network's reduction) and, for classifiers, the accuracy."""
        X = self.check_X(X)
        return self._evaluate(X, self.check_y(y, X.shape[0]))

    def _output(self, X: Array) -> Array:
        n = X.shape[0]
        out = np.empty((n, self.n_outputs), dtype=self.dtype)
        for start in range(0, n, CHUNK):
            out[start : start + CHUNK] = self._forward(X[start : start + CHUNK])
        return out

    def _evaluate(self, X: Array, y: Array) -> dict[str, float]:
        total, correct, n = 0.0, 0, X.shape[0]
        for start in range(0, n, CHUNK):
            yc = y[start : start + CHUNK]
            a = self._forward(X[start : start + CHUNK])
            total += self.loss.total(self.output, yc)
            if self.loss.classifier:
                correct += self.loss.correct(a, yc)
        result = {"loss": total * self.loss.scale(n)}
        if self.loss.classifier:
            result["accuracy"] = correct / n
        return result


def _rebuild(
    config: dict[str, Any], flat_params: Array, metadata: dict[str, Any], rng_state: dict
) -> Network:
    """A network of ``config`` holding a copy of ``flat_params``, ``metadata`` and the generator
    state (`Network.astype`, `Network.__reduce__`)."""
    network = Network.from_config(config)
    network.flat_params[...] = flat_params
    network.metadata = metadata
    network.rng.bit_generator.state = rng_state
    return network
