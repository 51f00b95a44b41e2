"""scikit-learn estimators that train a chainrule `Network`: `MLPClassifier` and `MLPRegressor`.

    from chainrule.sklearn import MLPClassifier      # instead of sklearn.neural_network
    clf = MLPClassifier(hidden_layer_sizes=(100,), solver="adam", max_iter=200).fit(X, y)

The same parameters and fitted attributes as scikit-learn's MLP, and the same loss (seed 002's
L(θ) as a weighted mean, plus scikit-learn's L2 penalty):

    L(θ) = Σ_n w_n C^n / Σ_n w_n  +  α / (2 Σ_n w_n) · Σ_l ‖W^(l)‖²        (w_n = 1 without weights)
    ∂L/∂W^(l) = (backprop's Σ_n w_n a^(l-1) δ^(l) + α W^(l)) / Σ_n w_n

computed by the core's forward and backward passes (`Network.train_step`), stepped by the core's
optimisers (`SGD`, `Adam`) or by `scipy.optimize.minimize` (L-BFGS) on the full-batch loss and
gradient. Probabilities come from the output logits z^(O) in float64 (log-softmax, log-sigmoid).
More than scikit-learn: ``dropout``, one activation per hidden layer, ``dtype`` (float32 by
default), ``class_weight``, ``init="he"``, ``validation_loss_curve_``, a progress bar with
``verbose``, `hidden_activations`, and safe model files (`save` / `load`, no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit, log_expit, log_softmax
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels

from chainrule.base import Array
from chainrule.heads import Head, head
from chainrule.network import CHUNK
from chainrule.sklearn_base import BaseMLP

__all__ = ["MLPClassifier", "MLPRegressor"]


class MLPClassifier(ClassifierMixin, BaseMLP):
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
        init: str = "glorot",
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
            init=init,
        )
        self.class_weight = class_weight

    def _targets(
        self, y: Array, reset: bool, classes: Any, sw: Array | None, dtype: np.dtype, incremental: bool
    ) -> tuple[Array, Head, Array | None, Array | None]:
        """The labels as the network's targets: integer classes 0..K−1 (softmax), or 0/1 per output
        (sigmoid: binary, one class, multi-label). Sets ``classes_`` on a fresh fit; checks the
        classes of a warm or incremental one as scikit-learn does."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y) == "multilabel-indicator"
        if reset:
            self.classes_ = np.arange(y.shape[1]) if multilabel else unique_labels(y)
            if classes is not None and not multilabel:
                self.classes_ = unique_labels(np.asarray(classes))
        elif multilabel != (
            self.network_.loss.name == "binary_cross_entropy" and self.network_.n_outputs > 1
        ):
            raise ValueError("y changed between multi-label and single-label since the last fit")
        elif not multilabel:
            seen = unique_labels(y)
            if self.warm_start and set(seen) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the previous "
                    f"call to fit. Previously got {self.classes_}, `y` has {seen}"
                )
            if len(np.setdiff1d(seen, self.classes_)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                    f"'y' has {seen}."
                )
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(f"y has {y.shape[1]} labels per row, the fit had {len(self.classes_)}")
            codes = None
            Y = y.astype(dtype)
        else:
            unseen = np.setdiff1d(y, self.classes_)
            if len(unseen):  # a first partial_fit whose classes= lacks some of y's
                raise ValueError(f"`classes` {self.classes_} lacks classes of y: {unseen.tolist()}")
            codes = np.searchsorted(self.classes_, y)
            Y = codes if len(self.classes_) > 2 else codes[:, None].astype(dtype)
        if self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, y)
            sw = cw if sw is None else sw * cw
        # scikit-learn's heads: softmax for 3+ classes, one logistic output for one or two, one per label
        binary = not multilabel and len(self.classes_) <= 2
        h = head(
            max(len(self.classes_), 2), "binary_cross_entropy" if binary else None, multilabel=multilabel
        )
        return Y, h, codes, sw

    def _score_output(self, a: Array, Y: Array, w: Array | None) -> float:
        """Accuracy (all labels right, for multi-label) of the network's outputs a."""
        pred = self.network_.loss.predict(a)
        truth = Y if Y.ndim == 1 else (Y > 0.5).astype(np.intp)
        if truth.ndim == 2 and pred.ndim == 1:
            truth = truth[:, 0]
        right = pred == truth
        return float(np.average(right if right.ndim == 1 else right.all(axis=1), weights=w))

    @available_if(BaseMLP._check_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch on (X, y). The first call needs ``classes``, every class that y will hold."""
        first = not hasattr(self, "network_")
        if first and classes is None and type_of_target(y) != "multilabel-indicator":
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first and classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            was = self.classes_
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, was: {was!r}"
            )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)  # type: ignore[return-value]

    def predict(self, X: Any) -> Array:
        """The predicted class of each row (a 0/1 row per sample for multi-label)."""
        X = self._inputs(X)
        labels = self.network_.predict(X)
        if labels.ndim == 2:
            return labels
        return self.classes_[np.minimum(labels, len(self.classes_) - 1)]  # one class: always it

    def _logits(self, X: Any) -> Array:
        """z^(O) of the output layer for the rows of X, in float64."""
        X = self._inputs(X)
        net = self.network_
        n = X.shape[0]
        z = np.empty((n, net.n_outputs), dtype=np.float64)
        for start in range(0, n, CHUNK):
            net._forward(X[start : start + CHUNK])
            z[start : start + CHUNK] = net.output.z
        return z

    def predict_log_proba(self, X: Any) -> Array:
        """log p of each class, from the logits in float64: log-softmax, or log σ(±z) per sigmoid
        output (finite where σ(z) rounds to 0 or 1)."""
        z = self._logits(X)
        if self.network_.loss.name == "cross_entropy":
            return log_softmax(z, axis=1)  # z − log Σ_j e^(z_j)
        if self.network_.n_outputs == 1:
            return np.hstack([log_expit(-z), log_expit(z)])  # log(1 − σ(z)) = log σ(−z)
        return log_expit(z)

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities in float64, columns ordered as ``classes_`` (independent ones for
        multi-label): softmax rows sum to 1 to 1e-15."""
        z = self._logits(X)
        if self.network_.loss.name == "cross_entropy":
            p = np.exp(log_softmax(z, axis=1))
            p /= p.sum(axis=1, keepdims=True)
            return p
        if self.network_.n_outputs == 1:
            return np.hstack([expit(-z), expit(z)])  # σ(−z) + σ(z) = 1
        return expit(z)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """A multi-layer perceptron regressor: scikit-learn's `MLPRegressor`, trained by chainrule.
    Single- and multi-output. ``loss="squared_error"`` (identity output) or ``"poisson"`` (half
    the Poisson deviance on an exp output, the log link; y ≥ 0), as `chainrule.heads` decides.

    For several outputs, ``loss_`` is ½ Σ_k (a_k − y_k)² averaged over rows, the loss whose
    gradient training follows (scikit-learn also divides its reported value by the outputs)."""

    def __init__(
        self,
        loss: str = "squared_error",
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
            init=init,
        )
        self.loss = loss

    def _targets(
        self, y: Array, reset: bool, classes: Any, sw: Array | None, dtype: np.dtype, incremental: bool
    ) -> tuple[Array, Head, Array | None, Array | None]:
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"MLPRegressor: loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(len(y), -1).astype(dtype)
        if self.loss == "poisson" and (Y < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        return Y, head(None, self.loss, targets=Y.shape[1]), None, sw

    def _score_output(self, a: Array, Y: Array, w: Array | None) -> float:
        return float(r2_score(Y, a, sample_weight=w))

    @available_if(BaseMLP._check_solver)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch on (X, y), continuing from the last fit."""
        return self._fit(X, y, sample_weight, incremental=True)  # type: ignore[return-value]

    def predict(self, X: Any) -> Array:
        """The predicted values, shape (n_samples,) for one output, else (n_samples, n_outputs):
        float32 for float32 X (as scikit-learn, which computes in X's precision), else float64."""
        single = getattr(X, "dtype", None) == np.float32
        X = self._inputs(X)
        out = self.network_.predict(X).astype(np.float32 if single else np.float64, copy=False)
        return out[:, 0] if out.shape[1] == 1 else out
