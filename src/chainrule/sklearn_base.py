"""What `MLPClassifier` and `MLPRegressor` of `chainrule.sklearn` share: their parameters (checked
in one place), the fit (a network built from scikit-learn's initial weights, then one of the solvers
of `chainrule.sklearn_solvers`), sparse or dense inputs, hidden activations, fitted attributes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import TransformerTags, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from chainrule.base import Array
from chainrule.data import standardize
from chainrule.heads import Head
from chainrule.network import Network, as_dtype, unmasked
from chainrule.optimizers import Optimizer
from chainrule.sklearn_parts import (
    HIDDEN_ACTIVATIONS,
    NON_FINITE,
    RULES,
    SKLEARN_NAME,
    ModelFiles,
    is_int,
    is_real,
)
from chainrule.sklearn_solvers import fit_lbfgs, fit_stochastic

__all__ = ["BaseMLP", "glorot_uniform"]

INITS = ("glorot", "he")


def glorot_uniform(
    rng: np.random.RandomState, fan_in: int, fan_out: int, logistic: bool
) -> tuple[Array, Array]:
    """scikit-learn's `_init_coef`: W and b ~ U(−r, r), r = √(f / (fan_in + fan_out)), f = 6
    (Glorot & Bengio 2010), 2 before logistic units; drawn W first, then b, from ``rng``."""
    r = np.sqrt((2.0 if logistic else 6.0) / (fan_in + fan_out))
    return rng.uniform(-r, r, (fan_in, fan_out)), rng.uniform(-r, r, fan_out)


def as_rows(X: Any) -> Any:
    """A dense array as it is; a sparse matrix as CSR (rows gathered per batch, never densified)."""
    return X if isinstance(X, np.ndarray) else X.tocsr()


class BaseMLP(ModelFiles, BaseEstimator):
    """What `MLPClassifier` and `MLPRegressor` share: parameters, the training loops, files."""

    _is_classifier: ClassVar[bool] = False

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = (100,),
        activation: str | Sequence[str] = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        max_fun: int = 15000,
        dropout: float | Sequence[float] = 0.0,
        dtype: str = "float32",
        init: str = "glorot",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype
        self.init = init

    # ------------------------------------------------------------------------- parameters
    def _check_params(self) -> tuple[list[int], list[str], list[float]]:
        """Check every parameter; return the hidden sizes, activations and dropouts, one per layer."""
        name = type(self).__name__
        params = self.get_params(deep=False)
        for key, (ok, what) in RULES.items():
            if key in params and not ok(params[key]):
                raise ValueError(f"{name}: {key} must be {what}, got {params[key]!r}")
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if is_int(sizes) else sizes
        if isinstance(sizes, str) or not isinstance(sizes, Sequence | np.ndarray):
            raise ValueError(
                f"{name}: hidden_layer_sizes must be an integer or a list of integers, got {sizes!r}"
            )
        sizes = list(sizes)
        if not all(is_int(s) and s >= 1 for s in sizes):
            raise ValueError(
                f"{name}: hidden_layer_sizes must be integers ≥ 1, got {self.hidden_layer_sizes!r}"
            )
        n = len(sizes)
        acts = [self.activation] * n if isinstance(self.activation, str) else list(self.activation)
        if len(acts) != n or not all(a in HIDDEN_ACTIVATIONS for a in acts):
            raise ValueError(
                f"{name}: activation must be one of {', '.join(HIDDEN_ACTIVATIONS)}, or a list of "
                f"them with one per hidden layer ({n}), got {self.activation!r}"
            )
        drops = [self.dropout] * n if is_real(self.dropout) else list(self.dropout)
        if len(drops) != n or not all(is_real(p) and 0 <= p < 1 for p in drops):
            raise ValueError(
                f"{name}: dropout must be a number in [0, 1), or a list of them with one per hidden "
                f"layer ({n}), got {self.dropout!r}"
            )
        if any(drops) and self.solver == "lbfgs":
            raise ValueError(
                f"{name}: dropout needs solver='sgd' or 'adam' (lbfgs minimises a fixed function, "
                "and dropout makes it random)"
            )
        try:
            check_random_state(self.random_state)
        except ValueError:
            raise ValueError(
                f"{name}: random_state must be None, an integer or a numpy RandomState, "
                f"got {self.random_state!r}"
            ) from None
        if self.init not in INITS:
            raise ValueError(f"{name}: init must be 'glorot' or 'he', got {self.init!r}")
        return [int(s) for s in sizes], acts, [float(p) for p in drops]

    # ------------------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> BaseMLP:
        """Train on (X, y), with an optional weight per row; returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self) -> bool:
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(
                f"partial_fit needs a stochastic solver ('sgd' or 'adam'), not {self.solver!r}"
            )
        return True

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None) -> BaseMLP:
        hidden, acts, drops = self._check_params()
        first = not hasattr(self, "network_") or not (self.warm_start or incremental)
        dtype = as_dtype(self.dtype) if first else self.network_.dtype
        X, y = validate_data(
            self,
            unmasked(X, "X"),
            unmasked(y, "y"),
            reset=first,
            accept_sparse=("csr", "csc"),
            dtype=dtype,
            order="C",
            multi_output=True,
            y_numeric=not self._is_classifier,
            ensure_all_finite=False,  # the network's check_X, a faster pass, finds NaN and inf
        )
        X = as_rows(X)
        n = X.shape[0]
        sw = None if sample_weight is None else self._sample_weight(sample_weight, n)
        Y, h, codes, sw = self._targets(y, first, classes, sw, dtype, incremental)
        self._random_state = check_random_state(self.random_state)
        if first:
            self._build(X.shape[1], hidden, acts, drops, h, dtype)
        elif self.network_.n_outputs != h.n_outputs or self.network_.loss.name != h.loss:
            raise ValueError(
                f"{type(self).__name__}: warm_start and partial_fit need targets of the same kind "
                f"and width as before ({self.network_.n_outputs} outputs): call fit with warm_start=False"
            )
        elif [level.dense.n_out for level in self.network_.levels[:-1]] != hidden:
            raise ValueError(
                f"{type(self).__name__}: hidden_layer_sizes changed since the last fit: warm_start "
                "and partial_fit continue the same network, call fit with warm_start=False"
            )
        net = self.network_
        net.metadata = self._metadata()
        Y = net.check_y(Y, n)
        try:
            if self.solver == "lbfgs" or self.early_stopping:
                X = net.check_X(X)  # NaN or inf (chainrule.fit checks X itself)
            if self.solver == "lbfgs":
                fit_lbfgs(self, X, Y, sw)
            else:
                fit_stochastic(self, X, Y, sw, codes, incremental)
        except ValueError:
            if first:  # a first fit that failed leaves no fitted network behind
                del self.network_
            raise
        if not np.isfinite(net.flat_params).all():
            raise ValueError(NON_FINITE)
        return self

    def _build(
        self, n_in: int, hidden: list[int], acts: list[str], drops: list[float], h: Head, dtype: Any
    ) -> None:
        """A fresh network: scikit-learn's initial W and b (``init="glorot"``, drawn first from
        ``random_state`` as scikit-learn draws them), or chainrule's (``"he"``: He before the ReLU
        family, Glorot elsewhere, b = 0); the network's own seed (shuffling, dropout) drawn after."""
        rng = self._random_state
        sizes = [n_in, *hidden, h.n_outputs]
        initial = []
        if self.init == "glorot":
            for i in range(len(sizes) - 1):
                logistic = acts[min(i, len(acts) - 1)] in ("logistic", "sigmoid") if acts else False
                initial.append(glorot_uniform(rng, sizes[i], sizes[i + 1], logistic))
        self.network_ = Network.from_sizes(
            sizes,
            activation=acts,
            output=h.output,
            loss=h.loss,
            dropout=drops,
            dtype=dtype,
            seed=int(rng.randint(np.iinfo(np.int32).max)),
        )
        for level, (W, b) in zip(self.network_.levels, initial, strict=False):
            level.W[...] = W
            level.b[...] = b
        self._reset_fitted(len(hidden))

    def _sample_weight(self, sample_weight: Any, n: int) -> Array:
        sw = np.asarray(unmasked(sample_weight, "sample_weight"), dtype=np.float64)
        if sw.ndim == 0:
            sw = np.full(n, float(sw))
        if sw.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), one weight per row of X, got {sw.shape}")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and ≥ 0")
        if sw.sum() <= 0:
            raise ValueError("sample_weight is zero for every row: give some rows a positive weight")
        return sw

    def _reset_fitted(self, n_hidden: int) -> None:
        net = self.network_
        self.n_layers_ = n_hidden + 2
        self.n_outputs_ = net.n_outputs
        self.out_activation_ = SKLEARN_NAME.get(net.output.name, net.output.name)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_: list[float] = []
        self._no_improvement_count = 0
        stochastic_es = self.early_stopping and self.solver != "lbfgs"
        self.best_loss_ = None if stochastic_es else math.inf
        self.validation_scores_: list[float] | None = [] if stochastic_es else None
        self.validation_loss_curve_: list[float] | None = [] if stochastic_es else None
        self.best_validation_score_ = -math.inf if stochastic_es else None
        self._optimizer: Optimizer | None = None

    # ------------------------------------------------------------------------- prediction
    def _inputs(self, X: Any) -> Array:
        """X checked against the fit, standardised if the model carries ``standardize``."""
        check_is_fitted(self)
        net = self.network_
        X = as_rows(
            validate_data(
                self, unmasked(X, "X"), reset=False, accept_sparse=("csr", "csc"), dtype=net.dtype, order="C"
            )
        )
        if "standardize" in net.metadata and not isinstance(X, np.ndarray):
            X = X.toarray()  # a model file's standardisation centres X: it is dense anyway
        return standardize(X, net.metadata)  # in X's precision, the network's

    def hidden_activations(self, X: Any) -> list[Array]:
        """a^(l) = σ(z^(l)) of every hidden layer l = 1..L−1 for the rows of X (the seeds' forward pass)."""
        X = self._inputs(X)
        net = self.network_
        net.forward(X)
        return [level.a.copy() for level in net.levels[:-1]]

    def transform(self, X: Any) -> Array:
        """The last hidden layer's activations: the features the output layer sees."""
        check_is_fitted(self)
        if len(self.network_.levels) == 1:
            raise ValueError("this network has no hidden layer: there is nothing to transform into")
        return self.hidden_activations(X)[-1]

    def fit_transform(self, X: Any, y: Any, sample_weight: Any = None) -> Array:
        """`fit`, then `transform` the same rows."""
        return self.fit(X, y, sample_weight).transform(X)

    @property
    def learning_rate_(self) -> float | None:
        """The step size η the stochastic solver's next step takes (None before one, or for lbfgs)."""
        opt = getattr(self, "_optimizer", None)
        if opt is None:
            return None
        if self.solver == "sgd" and self.learning_rate == "invscaling":  # η₀ / (t + 1)^power_t
            return self.learning_rate_init / (self.t_ + 1) ** self.power_t
        return float(opt.lr)

    @property
    def coefs_(self) -> list[Array]:
        """W^(l) of each layer, shape (n_in, n_out): views into the network's parameters."""
        check_is_fitted(self)
        return [level.W for level in self.network_.levels]

    @property
    def intercepts_(self) -> list[Array]:
        """b^(l) of each layer: views into the network's parameters."""
        check_is_fitted(self)
        return [level.b for level in self.network_.levels]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        tags.transformer_tags = TransformerTags(preserves_dtype=[str(self.dtype)])
        return tags
