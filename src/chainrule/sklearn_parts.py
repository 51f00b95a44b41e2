"""What the scikit-learn estimators of `chainrule.sklearn` are made of, besides the estimators
themselves: the rules their parameters follow, scikit-learn's L2 penalty (a penalty of
`chainrule.fit`), the per-epoch callback and progress bar, and their model files."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.linalg import get_blas_funcs
from sklearn.utils.validation import check_is_fitted

from chainrule.base import Array
from chainrule.io import load as load_network
from chainrule.io import save as save_network
from chainrule.network import Network
from chainrule.training import Callback

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu", "sigmoid")
SKLEARN_NAME = {"sigmoid": "logistic"}  # out_activation_ uses scikit-learn's names
NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large values and "
    "need to be preprocessed (e.g. StandardScaler), or lower learning_rate_init."
)


def is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_)


def is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) and math.isfinite(v)


def is_bool(v: Any) -> bool:
    return isinstance(v, bool | np.bool_)


# Every scalar parameter: (test, what it must be). Checked in one place, `_check_params`.
RULES: dict[str, tuple[Any, str]] = {
    "solver": (lambda v: v in ("sgd", "adam", "lbfgs"), "'sgd', 'adam' or 'lbfgs'"),
    "alpha": (lambda v: is_real(v) and v >= 0, "a number ≥ 0"),
    "batch_size": (lambda v: v == "auto" or (is_int(v) and v >= 1), "'auto' or an integer ≥ 1"),
    "learning_rate": (
        lambda v: v in ("constant", "invscaling", "adaptive"),
        "'constant', 'invscaling' or 'adaptive'",
    ),
    "learning_rate_init": (lambda v: is_real(v) and v > 0, "a number > 0"),
    "power_t": (lambda v: is_real(v) and v >= 0, "a number ≥ 0"),
    "max_iter": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "shuffle": (is_bool, "True or False"),
    "tol": (lambda v: is_real(v) and v >= 0, "a number ≥ 0"),
    "verbose": (lambda v: is_bool(v) or (is_int(v) and v >= 0), "True, False or an integer ≥ 0"),
    "warm_start": (is_bool, "True or False"),
    "momentum": (lambda v: is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "nesterovs_momentum": (is_bool, "True or False"),
    "early_stopping": (is_bool, "True or False"),
    "validation_fraction": (lambda v: is_real(v) and 0 < v < 1, "a number in (0, 1)"),
    "beta_1": (lambda v: is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "beta_2": (lambda v: is_real(v) and 0 <= v < 1, "a number in [0, 1)"),
    "epsilon": (lambda v: is_real(v) and v > 0, "a number > 0"),
    "n_iter_no_change": (lambda v: (is_int(v) and v >= 1) or v == math.inf, "an integer ≥ 1 or inf"),
    "max_fun": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "dtype": (lambda v: str(v) in ("float32", "float64"), "'float32' or 'float64'"),
    "class_weight": (
        lambda v: v is None or v == "balanced" or isinstance(v, dict),
        "None, 'balanced' or a dict {label: weight}",
    ),
}


class L2:
    """scikit-learn's penalty R(θ) = α/2·Σ_l ‖W^(l)‖² on the weights (not the biases), a penalty
    of `Network.train_step`: with scale = 1/n (n = the batch's rows or Σ_n w_n) it adds α/(2n)·Σ‖W‖²
    to L and α W / n to ∂L/∂W. It works on each W and its ∂L/∂W (views into the flat arrays) with
    BLAS: ‖W‖² in one pass (dot) and ∂L/∂W += (α/n) W in another (axpy, in place), so no mask
    over all parameters, no scratch array and no copy of θ."""

    def __init__(self, network: Network, alpha: float) -> None:
        self.alpha = alpha
        self.weights = [(level.W.ravel(), level.dW.ravel()) for level in network.levels]
        self.axpy = get_blas_funcs("axpy", dtype=network.dtype)  # y ← a x + y

    def __call__(self, scale: float) -> float:
        """Add scale·α W to ∂L/∂W; return scale·α/2·Σ‖W‖²."""
        c = self.alpha * scale
        squares = 0.0
        for W, dW in self.weights:
            squares += float(np.dot(W, W))  # ‖W‖²
            self.axpy(W, dW, a=c)  # ∂L/∂W += (α/n) W
        return 0.5 * c * squares

    def __repr__(self) -> str:
        return f"L2(alpha={self.alpha})"


# ----------------------------------------------------------------------------- the estimators
class ProgressBar:
    """With ``verbose=True``, a Rich progress bar on stderr (as the command line's): iterations
    done, the last loss and validation figures, the time; otherwise nothing at all."""

    def __init__(self, name: str, total: int, unit: str, enabled: bool) -> None:
        self.progress: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn(name),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn(unit + "  {task.fields[figures]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True, highlight=False),
            )
            self.task = self.progress.add_task(name, total=total, figures="")

    def __enter__(self) -> ProgressBar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, figures: dict[str, str]) -> None:
        """One more iteration done, with its figures (loss, val_score, ...)."""
        if self.progress is not None:
            text = "  ".join(f"{k} {v}" for k, v in figures.items())
            self.progress.update(self.task, advance=1, figures=text)

    def write(self, message: str) -> None:
        """A line above the bar."""
        if self.progress is not None:
            self.progress.console.print(message, markup=False, soft_wrap=True)


class Epochs(Callback):
    """The estimator's part of every epoch of `chainrule.fit`: with early stopping, the validation
    score (accuracy or R², as scikit-learn's ``score``) and loss, weighted, put in the logs for
    `Plateau` as ``val_score``; the progress bar."""

    def __init__(self, est: Any, val: tuple[Array, Array, Array | None] | None, bar: ProgressBar) -> None:
        self.est, self.val, self.bar = est, val, bar

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        figures = {"loss": f"{logs['loss']:.5g}"}
        if self.val is not None:
            X, Y, w = self.val
            net = self.est.network_
            a = net._forward(X)
            s = None if w is None else w.astype(net.dtype)
            logs["val_score"] = score = self.est._score_output(a, Y, w)
            logs["val_loss"] = val_loss = net.loss.value(net.output, Y, s)
            self.est.validation_scores_.append(score)  # type: ignore[union-attr]
            self.est.validation_loss_curve_.append(val_loss)  # type: ignore[union-attr]
            figures.update(val_score=f"{score:.5g}", val_loss=f"{val_loss:.5g}")
        self.bar.update(figures)


class ModelFiles:
    """What an estimator adds to chainrule's safe model files (safetensors, no pickle): its
    parameters, fitted attributes, classes and feature names in the metadata; `load` gives the
    estimator back, or one for a network trained by any other chainrule trainer."""

    _is_classifier: ClassVar[bool] = False
    network_: Network
    classes_: Any

    _FITTED = (
        "n_iter_",
        "t_",
        "loss_",
        "best_loss_",
        "loss_curve_",
        "validation_scores_",
        "best_validation_score_",
        "validation_loss_curve_",
    )

    def _metadata(self: Any) -> dict[str, Any]:
        """The project's model-file metadata: task, classes, feature names."""
        meta: dict[str, Any] = {}
        if self._is_classifier:
            multilabel = self.network_.loss.name == "binary_cross_entropy" and self.network_.n_outputs > 1
            meta["task"] = "multilabel" if multilabel else "classification"
            meta["classes"] = self.classes_.tolist()
        else:
            meta["task"] = "regression"
        if hasattr(self, "feature_names_in_"):
            meta["feature_names"] = [str(f) for f in self.feature_names_in_]
        return meta

    def save(self: Any, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the fitted estimator to a chainrule model file (safetensors: no pickle)."""
        check_is_fitted(self)
        params = {k: jsonable(v) for k, v in self.get_params(deep=False).items()}
        fitted = {k: jsonable(getattr(self, k)) for k in self._FITTED if hasattr(self, k)}
        net = self.network_
        net.metadata = {
            **self._metadata(),
            "sklearn": {"estimator": type(self).__name__, "params": params, "fitted": fitted},
        }
        return save_network(net, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Any:
        """A fitted estimator from a model file written by `save` (or by any chainrule trainer)."""
        net = load_network(path)
        if net.loss.classifier != cls._is_classifier:
            other = "MLPClassifier" if net.loss.classifier else "MLPRegressor"
            raise ValueError(f"{path} holds a {net.loss.name} network: load it with {other}.load")
        info = net.metadata.get("sklearn", {})
        params = dict(info.get("params", {}))
        if not params:  # a network trained elsewhere: read the architecture off its layers
            hidden = net.levels[:-1]
            acts = [
                SKLEARN_NAME.get(lv.activation.name, lv.activation.name) if lv.activation else "identity"
                for lv in hidden
            ]
            drops = [lv.dropout.p if lv.dropout else 0.0 for lv in hidden]
            params = {
                "hidden_layer_sizes": [lv.dense.n_out for lv in hidden],
                "activation": acts[0] if len(set(acts)) == 1 else acts,
                "dropout": drops[0] if len(set(drops)) == 1 else drops,
                "dtype": net.dtype.name,
            }
        if isinstance(params.get("class_weight"), list):
            params["class_weight"] = {k: v for k, v in params["class_weight"]}
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        est = cls(**params)
        est.network_ = net
        est.n_features_in_ = net.n_features
        if "feature_names" in net.metadata:
            est.feature_names_in_ = np.asarray(net.metadata["feature_names"], dtype=object)
        if cls._is_classifier:
            classes = net.metadata.get("classes", list(range(max(net.n_outputs, 2))))
            est.classes_ = np.asarray(classes)
        est._reset_fitted(len(net.levels) - 1)
        for k, v in info.get("fitted", {}).items():
            if k in cls._FITTED:
                setattr(est, k, v)
        return est


def jsonable(value: Any) -> Any:
    """A parameter or fitted attribute as JSON (tuples as lists, numpy scalars as numbers)."""
    if isinstance(value, dict):
        return [[jsonable(k), jsonable(v)] for k, v in value.items()]
    if isinstance(value, tuple | list | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.random.RandomState):
        return None  # a generator's state is not a setting
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else value
    return value
