"""The solvers of the scikit-learn estimators (`chainrule.sklearn`): the stochastic ones through
`chainrule.fit` (its batches, the L2 term as a penalty, the weighted loss, scikit-learn's stopping
and learning-rate rules as `Plateau` and `InverseScaling`), and L-BFGS on the full-batch L(θ) and
∇L(θ) of `Network.train_step`, through scipy.optimize.minimize. Each takes the estimator ``est``
and updates its fitted attributes as scikit-learn's do."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from chainrule.base import Array
from chainrule.optimizers import SGD, Adam, Optimizer
from chainrule.run import DivergenceError
from chainrule.schedules import InverseScaling
from chainrule.sklearn_parts import L2, NON_FINITE, Epochs, ProgressBar
from chainrule.stopping import Plateau
from chainrule.training import fit


def make_optimizer(est: Any) -> Optimizer:
    """The estimator's solver as a chainrule optimiser: Adam, or SGD with (Nesterov) momentum."""
    if est.solver == "adam":
        return Adam(est.learning_rate_init, est.beta_1, est.beta_2, est.epsilon)
    return SGD(
        est.learning_rate_init,
        momentum=est.momentum,
        nesterov=bool(est.nesterovs_momentum and est.momentum > 0),
    )


def fit_stochastic(
    est: Any, X: Array, Y: Array, sw: Array | None, codes: Array | None, incremental: bool
) -> None:
    """scikit-learn's epochs, through `chainrule.fit`: its batches, its L2 term (a penalty),
    its weighted loss, its stopping and learning-rate rules (`Plateau`, `InverseScaling`)."""
    net = est.network_
    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True: use fit")
    if not incremental or est._optimizer is None:
        est._optimizer = make_optimizer(est)
    opt = est._optimizer
    val = None
    if est.early_stopping:
        X, Y, sw, val = validation_split(est, X, Y, sw, codes)
    n = X.shape[0]
    size = min(200, n) if est.batch_size == "auto" else int(est.batch_size)
    if size > n:
        warnings.warn(
            f"batch_size={size} is larger than the {n} training rows: it is clipped to {n}", stacklevel=4
        )
        size = n
    sgd = isinstance(opt, SGD)
    if sgd and est.learning_rate == "invscaling":  # η₀ / (t + 1)^power_t, t = samples seen
        opt.schedule = InverseScaling(est.learning_rate_init, est.power_t, n, est.t_)
    es = val is not None
    plateau = Plateau(
        "val_score" if es else "loss",
        tol=est.tol,
        patience=est.n_iter_no_change,
        mode="max" if es else "min",
        optimizer=opt,
        factor=0.2 if sgd and est.learning_rate == "adaptive" else None,
        restore_best_weights=es,
    )
    best = est.best_validation_score_ if es else est.best_loss_
    if best is not None:  # None: a warm start that switches early stopping on or off
        plateau.best = best
    plateau.stalls = est._no_improvement_count
    epochs = 1 if incremental else est.max_iter
    with ProgressBar(type(est).__name__, est.max_iter, "epochs", est.verbose) as bar:
        plateau.say = bar.write if est.verbose else None
        try:
            history = fit(
                net,
                X,
                Y,
                epochs=epochs,
                batch_size=size,
                optimizer=opt,
                shuffle=est.shuffle,
                callbacks=[Epochs(est, val, bar), plateau],
                sample_weight=sw,
                penalty=L2(net, est.alpha) if est.alpha else None,
                accuracy=False,
                check_gradients=False,  # scikit-learn checks nothing per batch; the loss suffices
            )
        except DivergenceError as e:
            if not es or plateau.best_params is None:
                raise ValueError(NON_FINITE) from e
            # as scikit-learn: a diverging fit with early stopping ends on its best weights, and
            # the epoch that diverged scores NaN
            net.flat_params[...] = plateau.best_params
            est.validation_scores_.append(math.nan)
            est.validation_loss_curve_.append(math.nan)
            history = plateau.history
            history.stopped_early = True
            history.metrics.setdefault("loss", []).append(math.nan)
    est.n_iter_ = len(history["loss"])
    est.t_ += n * est.n_iter_
    est.loss_curve_ += history["loss"]
    est.loss_ = est.loss_curve_[-1]
    est._no_improvement_count = plateau.stalls
    if es:
        est.best_validation_score_ = plateau.best
    else:
        est.best_loss_ = plateau.best
    if not incremental and est.n_iter_ == est.max_iter and not history.stopped_early:
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=4,
        )


def validation_split(
    est: Any, X: Array, Y: Array, sw: Array | None, codes: Array | None
) -> tuple[Array, Array, Array | None, tuple[Array, Array, Array | None]]:
    """scikit-learn's split: stratified by class only with one output (binary labels)."""
    # scikit-learn stratifies by its binarised labels: False/True
    binary = codes is not None and est.network_.n_outputs == 1
    arrays = [X, Y] if sw is None else [X, Y, sw]
    parts = train_test_split(
        *arrays,
        random_state=est._random_state,
        test_size=est.validation_fraction,
        stratify=codes.astype(bool) if binary else None,
    )
    train, test = parts[0::2], parts[1::2]
    if test[0].shape[0] < 2:
        raise ValueError("The validation set is too small: increase validation_fraction or give more rows")
    w_train, w_val = (train[2], test[2]) if sw is not None else (None, None)
    if est.validation_scores_ is None:  # warm start of a fit that had no early stopping
        est.validation_scores_, est.validation_loss_curve_ = [], []
        est.best_validation_score_ = -math.inf
    return train[0], train[1], w_train, (test[0], test[1], w_val)


def fit_lbfgs(est: Any, X: Any, Y: Array, sw: Array | None) -> None:
    """L-BFGS on the full-batch L(θ) and ∇L(θ) of `Network.train_step` (the weighted loss
    and the L2 penalty of the stochastic solvers), through scipy.optimize.minimize. Its line
    search compares losses to ~1e-10, beyond float32: a float32 network is minimised through a
    float64 copy (of it and of X, Y), and takes the result back."""
    target = est.network_
    net = target if target.dtype == np.float64 else target.astype("float64")
    X, Y = X.astype(np.float64), Y.astype(np.float64) if Y.dtype.kind == "f" else Y
    l2 = L2(net, est.alpha) if est.alpha else None
    s = None if sw is None else sw.astype(np.float64)

    def loss_and_grad(theta: Array) -> tuple[float, Array]:
        net.flat_params[...] = theta
        value = net.train_step(X, Y, s, l2)
        return value, net.flat_grads.copy()

    est.loss_curve_ = []
    with ProgressBar(type(est).__name__, est.max_iter, "iterations", est.verbose) as bar:

        def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
            est.loss_curve_.append(float(intermediate_result.fun))
            bar.update({"loss": f"{intermediate_result.fun:.5g}"})

        result = scipy.optimize.minimize(
            loss_and_grad,
            net.flat_params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=callback,
            options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol},
        )
    target.flat_params[...] = result.x
    est.n_iter_ = int(result.nit)
    est.loss_ = float(result.fun)
    est.best_loss_ = min([est.loss_, *est.loss_curve_])
    if result.status != 0:
        warnings.warn(
            f"lbfgs failed to converge after {result.nit} iterations ({result.message}): "
            "increase max_iter or max_fun, or scale the data",
            ConvergenceWarning,
            stacklevel=4,
        )
