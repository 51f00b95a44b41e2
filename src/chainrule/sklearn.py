"""scikit-learn estimators that train a chainrule `Network`: `MLPClassifier` and `MLPRegressor`.

    from chainrule.sklearn import MLPClassifier      # instead of sklearn.neural_network
    clf = MLPClassifier(hidden_layer_sizes=(100,), solver="adam", max_iter=200).fit(X, y)

The same parameters and fitted attributes as scikit-learn's MLP, and the same loss (seed 002's
L(θ) as a weighted mean, plus scikit-learn's L2 penalty):

    L(θ) = Σ_n w_n C^n / Σ_n w_n  +  α / (2 Σ_n w_n) · Σ_l ‖W^(l)‖²        (w_n = 1 without weights)
    ∂L/∂W^(l) = (backprop's Σ_n w_n a^(l-1) δ^(l) + α W^(l)) / Σ_n w_n

computed by the core's forward and backward passes (`Network.train_step`), stepped by the core's
optimisers (`SGD`, `Adam`) or by `scipy.optimize.minimize` (L-BFGS) on the full-batch loss and
gradient. More than scikit-learn: ``dropout``, one activation per hidden layer, ``dtype`` (float32
by default), ``class_weight``, ``validation_loss_curve_``, a progress bar with ``verbose``,
`hidden_activations`, and safe model files (`save` / `load`, no pickle).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import TransformerTags, check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from chainrule.base import Array
from chainrule.data import standardize
from chainrule.heads import Head, head
from chainrule.network import Network, as_dtype
from chainrule.optimizers import Optimizer
from chainrule.sklearn_parts import (
    HIDDEN_ACTIVATIONS,
    RULES,
    SKLEARN_NAME,
    ModelFiles,
    is_int,
    is_real,
)
from chainrule.sklearn_solvers import fit_lbfgs, fit_stochastic

__all__ = ["MLPClassifier", "MLPRegressor"]


class _BaseMLP(ModelFiles, BaseEstimator):
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
        return [int(s) for s in sizes], acts, [float(p) for p in drops]

    # ------------------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _BaseMLP:
        """Train on (X, y), with an optional weight per row; returns self."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self) -> bool:
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(
                f"partial_fit needs a stochastic solver ('sgd' or 'adam'), not {self.solver!r}"
            )
        return True

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None) -> _BaseMLP:
        hidden, acts, drops = self._check_params()
        first = not hasattr(self, "network_") or not (self.warm_start or incremental)
        dtype = as_dtype(self.dtype) if first else self.network_.dtype
        X, y = validate_data(
            self,
            X,
            y,
            reset=first,
            dtype=dtype,
            order="C",
            multi_output=True,
            y_numeric=not self._is_classifier,
            ensure_all_finite=False,  # the network's check_X, a faster pass, finds NaN and inf
        )
        sw = None if sample_weight is None else self._sample_weight(sample_weight, len(X))
        Y, h, codes, sw = self._targets(y, first, classes, sw, dtype)
        self._random_state = check_random_state(self.random_state)
        n_out, loss = h.n_outputs, h.loss
        if first:
            self.network_ = Network.from_sizes(
                [X.shape[1], *hidden, n_out],
                activation=acts,
                output=h.output,
                loss=loss,
                dropout=drops,
                dtype=dtype,
                seed=int(self._random_state.randint(np.iinfo(np.int32).max)),
            )
            self._reset_fitted(len(hidden))
        elif self.network_.n_outputs != n_out or self.network_.loss.name != loss:
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
        Y = net.check_y(Y, len(X))
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
            raise ValueError(
                "the solver produced non-finite weights: scale the inputs (e.g. StandardScaler) "
                "or lower learning_rate_init"
            )
        return self

    def _sample_weight(self, sample_weight: Any, n: int) -> Array:
        sw = np.asarray(sample_weight, dtype=np.float64)
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
        X = validate_data(self, X, reset=False, dtype=net.dtype, order="C")
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
        tags.transformer_tags = TransformerTags(preserves_dtype=[str(self.dtype)])
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier: scikit-learn's `MLPClassifier`, trained by chainrule.

    Multi-class (softmax + cross entropy), binary and multi-label (sigmoid + binary cross
    entropy). ``class_weight`` ('balanced' or {label: weight}) multiplies each row's weight.
    """

    _is_classifier = True

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
        class_weight: dict[Any, float] | str | None = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            dtype=dtype,
        )
        self.class_weight = class_weight

    def _targets(
        self, y: Array, reset: bool, classes: Any, sw: Array | None, dtype: np.dtype
    ) -> tuple[Array, Head, Array | None, Array | None]:
        """The labels as the network's targets: integer classes 0..K−1 (softmax), or 0/1 per output
        (sigmoid: binary and multi-label). Sets ``classes_`` on a fresh fit."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y) == "multilabel-indicator"
        if reset:
            if multilabel:
                labels = np.arange(y.shape[1])
            else:
                labels = np.unique(y if classes is None else np.asarray(classes))
                if len(labels) < 2:
                    raise ValueError(
                        f"{type(self).__name__} needs at least 2 classes in y, got 1 class: {labels[0]!r}"
                    )
            self.classes_ = labels
        elif multilabel != (
            self.network_.loss.name == "binary_cross_entropy" and self.network_.n_outputs > 1
        ):
            raise ValueError("y changed between multi-label and single-label since the last fit")
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels per row, the fit had {len(self.classes_)}")
            codes = None
            Y = y.astype(dtype)
        else:
            unseen = np.setdiff1d(y, self.classes_)
            if len(unseen):
                raise ValueError(
                    f"y has classes not seen in the first fit: {unseen.tolist()} (classes_ is "
                    f"{self.classes_.tolist()}): pass every class to the first partial_fit(classes=...)"
                )
            codes = np.searchsorted(self.classes_, y)
            Y = codes if len(self.classes_) > 2 else codes[:, None].astype(dtype)
        if self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, y)
            sw = cw if sw is None else sw * cw
        if sw is not None and codes is not None and len(np.unique(codes[sw > 0])) < 2 and reset:
            raise ValueError(
                "sample_weight leaves only 1 class with a positive weight: a classifier needs 2 classes"
            )
        # scikit-learn's heads: softmax for 3+ classes, one logistic output for two, one per label
        binary = not multilabel and len(self.classes_) == 2
        h = head(len(self.classes_), "binary_cross_entropy" if binary else None, multilabel=multilabel)
        return Y, h, codes, sw

    def _score_output(self, a: Array, Y: Array, w: Array | None) -> float:
        """Accuracy (all labels right, for multi-label) of the network's outputs a."""
        pred = self.network_.loss.predict(a)
        truth = Y if Y.ndim == 1 else (Y > 0.5).astype(np.intp)
        if truth.ndim == 2 and pred.ndim == 1:
            truth = truth[:, 0]
        right = pred == truth
        return float(np.average(right if right.ndim == 1 else right.all(axis=1), weights=w))

    @available_if(_BaseMLP._check_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch on (X, y). The first call needs ``classes``, every class that y will hold."""
        if not hasattr(self, "network_") and classes is None and type_of_target(y) != "multilabel-indicator":
            raise ValueError(
                "classes must be passed on the first call to partial_fit (e.g. classes=np.unique(y_all))"
            )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)  # type: ignore[return-value]

    def predict(self, X: Any) -> Array:
        """The predicted class of each row (a 0/1 row per sample for multi-label)."""
        X = self._inputs(X)
        labels = self.network_.predict(X)
        return labels if labels.ndim == 2 else self.classes_[labels]

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, columns ordered as ``classes_`` (independent ones for multi-label)."""
        X = self._inputs(X)
        p = self.network_.predict_proba(X).astype(np.float64)
        if self.network_.n_outputs == 1:
            return np.hstack([1 - p, p])
        return p

    def predict_log_proba(self, X: Any) -> Array:
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor (identity output, squared error): scikit-learn's
    `MLPRegressor`, trained by chainrule. Single- and multi-output.

    For several outputs, ``loss_`` is ½ Σ_k (a_k − y_k)² averaged over rows, the loss whose
    gradient training follows (scikit-learn also divides its reported value by the outputs)."""

    def _targets(
        self, y: Array, reset: bool, classes: Any, sw: Array | None, dtype: np.dtype
    ) -> tuple[Array, Head, Array | None, Array | None]:
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(len(y), -1).astype(dtype)
        return Y, head(None, targets=Y.shape[1]), None, sw

    def _score_output(self, a: Array, Y: Array, w: Array | None) -> float:
        return float(r2_score(Y, a, sample_weight=w))

    @available_if(_BaseMLP._check_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch on (X, y), continuing from the last fit."""
        return self._fit(X, y, sample_weight, incremental=True)  # type: ignore[return-value]

    def predict(self, X: Any) -> Array:
        """The predicted values, shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        X = self._inputs(X)
        out = self.network_.predict(X).astype(np.float64)
        return out[:, 0] if out.shape[1] == 1 else out
