"""The fit loop: epochs of (mini-)batches, each a forward pass, a backward pass and one step
θ ← θ − η ∇L(θ); a `History` of the loss and accuracy per epoch; callbacks; early stopping.

The hot loop allocates nothing per batch: a batch is gathered from the shuffled row order into
a reused buffer with ``np.take(..., out=...)`` (never a shuffled copy of the data set: see
`chainrule.batches`), the network reuses its own buffers, and the optimiser updates the flat
parameter array in place.

Reliability (docs/reliability.md): before every update a guard checks the loss and ‖∇L‖ (and
can clip ‖∇L‖), so that a NaN or inf stops training with the last good weights; with
``checkpoint=RUN_DIR`` the whole training state is saved at the start, every few epochs or
minutes, on SIGINT/SIGTERM and at the end, and ``resume=True`` continues it bit for bit. The
state of a fit in progress, with the guard and the checkpoints, is `chainrule.run`'s `Run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.base import Array
from chainrule.batches import Batches
from chainrule.network import Network
from chainrule.optimizers import Optimizer
from chainrule.optimizers import optimizer as make_optimizer
from chainrule.run import DivergenceError as DivergenceError  # what fit raises, also from here
from chainrule.run import Run, Signals, fingerprint, parse_interval
from chainrule.run import TrainingInterrupted as TrainingInterrupted
from chainrule.schedules import Schedule


@dataclass
class History:
    """Per-epoch metrics: ``loss`` and ``accuracy`` on the training batches (running averages
    over the epoch, as the weights moved), ``val_loss`` and ``val_accuracy`` on the validation
    data after the epoch."""

    metrics: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.metrics.get("loss", []))

    def __getitem__(self, key: str) -> list[float]:
        return self.metrics[key]

    def append(self, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.metrics.setdefault(key, []).append(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "metrics": self.metrics,
        }

    def load_dict(self, d: dict[str, Any]) -> None:
        """Take the contents of a `to_dict` (a resumed run), in place."""
        metrics, best = d["metrics"], d["best_epoch"]
        if not isinstance(metrics, dict) or not all(isinstance(v, list) for v in metrics.values()):
            raise ValueError("history metrics must map names to lists")
        if best is not None and (isinstance(best, bool) or not isinstance(best, int)):
            raise ValueError(f"history best_epoch must be an epoch or null, got {best!r}")
        self.metrics = {k: [float(x) for x in v] for k, v in metrics.items()}
        self.best_epoch, self.stopped_early = best, bool(d["stopped_early"])


class Callback:
    """Hooks into `fit`. ``on_epoch_end`` may return True to stop training."""

    def on_train_begin(self, network: Network, history: History) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        return None

    def on_train_end(self, logs: dict[str, float]) -> None:
        pass

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback (JSON values and arrays); see `load_state`."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a `state` (a resumed run), after `on_train_begin`."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` (``val_loss`` if there is validation data, else ``loss``) has not
    improved by more than ``min_delta`` for ``patience`` epochs, and restore the best weights."""

    def __init__(
        self,
        patience: int = 10,
        min_delta: float = 0.0,
        monitor: str | None = None,
        restore_best_weights: bool = True,
    ) -> None:
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"early stopping patience must be a positive integer, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be ≥ 0, got {min_delta!r}")
        self.patience, self.min_delta, self.monitor = patience, float(min_delta), monitor
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, network: Network, history: History) -> None:
        self.network, self.history = network, history
        self.best = math.inf
        self.best_params = network.flat_params.copy()
        self.wait = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        key = self.monitor or ("val_loss" if "val_loss" in logs else "loss")
        if key not in logs:
            raise ValueError(f"early stopping monitors {key!r}, which fit does not report: {sorted(logs)}")
        higher_is_better = key.endswith("accuracy")
        value = -logs[key] if higher_is_better else logs[key]
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            self.history.best_epoch = epoch
            np.copyto(self.best_params, self.network.flat_params)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.history.stopped_early = True
            return True
        return False

    def on_train_end(self, logs: dict[str, float]) -> None:
        if self.restore_best_weights and self.history.best_epoch is not None:
            np.copyto(self.network.flat_params, self.best_params)

    def state(self) -> dict[str, Any]:
        best = None if math.isinf(self.best) else self.best
        return {"best": best, "wait": self.wait, "best_params": self.best_params}

    def load_state(self, state: dict[str, Any]) -> None:
        best, wait, params = state["best"], state["wait"], state["best_params"]
        if not isinstance(params, np.ndarray) or params.shape != self.best_params.shape:
            raise ValueError("early stopping's best weights do not fit the network")
        if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
            raise ValueError(f"early stopping's wait must be a count, got {wait!r}")
        self.best = math.inf if best is None else float(best)
        self.wait = wait
        np.copyto(self.best_params, params)

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
            f"monitor={self.monitor!r}, restore_best_weights={self.restore_best_weights})"
        )


def fit(
    network: Network,
    X: Any,
    y: Any,
    *,
    epochs: int = 10,
    batch_size: int | None = 32,
    optimizer: str | Optimizer = "sgd",
    lr: float | Schedule | None = None,
    validation_data: tuple[Any, Any] | None = None,
    shuffle: bool = True,
    early_stopping: int | EarlyStopping | None = None,
    callbacks: Sequence[Callback] = (),
    clip_norm: float | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | str | timedelta | None = None,
    resume: bool = False,
    sample_weight: Any = None,
    penalty: Callable[[float], float] | None = None,
    accuracy: bool = True,
    check_gradients: bool = True,
) -> History:
    """Train ``network`` on (X, y) by backpropagation and gradient descent.

    ``batch_size=None`` is full-batch gradient descent, as the seeds do it (one step per epoch on
    L(θ) of all examples); an integer gives mini-batches. ``optimizer`` is a name (``sgd``,
    ``momentum``, ``nesterov``, ``adam``) with ``lr``, or an `Optimizer` object (whose state
    carries over to the next call). ``early_stopping`` is a patience in epochs or an
    `EarlyStopping`; it restores the best weights. Returns the `History`.

    A NaN or inf in the loss or in any gradient stops training at once with a `DivergenceError`
    (which layer, which step, a hint); the update it would have made is not made. ``clip_norm``
    rescales ∇L to that norm whenever ‖∇L‖ is larger.

    ``checkpoint`` is a run directory: the whole training state is saved there at the start,
    every ``checkpoint_every`` epochs (an int, 1 by default) or time interval (``"90s"``,
    ``"10m"``, ``"1h"``, a `timedelta`), on SIGINT or SIGTERM (then `TrainingInterrupted` is
    raised) and at the end. ``resume=True`` continues the run saved there: with the same
    arguments it ends bit-identical to a run that was never interrupted.

    ``sample_weight``: a weight s_n ≥ 0 per row, gathered into each batch as X and y are; each
    batch's L is Σ_n s_n C^n (over Σ_n s_n for the mean), δ^(O)_n times s_n (`chainrule.losses`).
    ``penalty``: a term R(θ) added to every batch's loss, ``penalty(scale)`` adding scale·∇R(θ)
    to ``network.flat_grads`` and returning scale·R(θ) (`Network.train_step`; the scikit-learn
    estimators' L2 is one). ``accuracy=False`` skips the running training accuracy (an argmax
    per batch) when nobody reads it; ``check_gradients=False`` has the guard check each batch's
    loss but not ‖∇L‖ (a pass over ∇L per batch saved; no ``clip_norm``): a NaN or inf gradient
    then shows in the next batch's loss, and the weights go back to the start of the epoch. The
    epoch's ``loss`` is the mean of the batches' L weighted by their rows (with the mean
    reduction), as scikit-learn's ``loss_``. A checkpointed run keeps a digest of the weights
    and the penalty's repr, which a resumed run must match.
    """
    return _fit(
        _Local(network, penalty, accuracy),
        X,
        y,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        validation_data=validation_data,
        shuffle=shuffle,
        early_stopping=early_stopping,
        callbacks=callbacks,
        clip_norm=clip_norm,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        resume=resume,
        sample_weight=sample_weight,
        check_gradients=check_gradients,
    )


class _Local:
    """How one process trains: batches of its own rows, and per batch ∇L of that batch by the
    forward and backward passes. `chainrule.distributed` has the same methods for N processes."""

    root = True  # this process writes the checkpoints
    signals = True  # SIGINT and SIGTERM save and stop a checkpointed run

    def __init__(
        self, network: Network, penalty: Callable[[float], float] | None = None, accuracy: bool = True
    ) -> None:
        self.network = network
        self.penalty, self.accuracy = penalty, accuracy

    def rows(self, X: Any, y: Any, what: str) -> tuple[Array, Array]:
        X = self.network.check_X(X)
        return X, self.network.check_y(y, len(X))

    def batches(
        self, X: Array, y: Array, batch_size: int | None, shuffle: bool, s: Array | None = None
    ) -> Batches:
        return Batches(X, y, batch_size, shuffle, s)

    def step(self, batch: tuple[Array, ...], index: int) -> tuple[float, float, int, int]:
        """(L of the batch, L / scale(rows), correctly classified rows, rows), ∇L in flat_grads;
        L / scale(rows) is Σ_n C^n without weights or penalty. A batch is (X, y) or (X, y, s).
        ``index``, the number of steps before this one, is not needed here (the distributed
        trainer derives each rank's dropout masks from it)."""
        network = self.network
        Xb, yb, *s = batch
        value = network.train_step(Xb, yb, s[0] if s else None, self.penalty)
        loss, n = network.loss, len(yb)
        correct = loss.correct(network.output.a, yb) if loss.classifier and self.accuracy else 0
        return value, value / loss.scale(n), correct, n

    def evaluate(self, X: Array, y: Array) -> dict[str, float]:
        return self.network._evaluate(X, y)

    def digest(self, value: str) -> str:
        """A fingerprint of the data: here, this process's."""
        return value


def _fit(
    how: Any,
    X: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int | None,
    optimizer: str | Optimizer,
    lr: float | Schedule | None,
    validation_data: tuple[Any, Any] | None,
    shuffle: bool,
    early_stopping: int | EarlyStopping | None,
    callbacks: Sequence[Callback],
    clip_norm: float | None,
    checkpoint: str | os.PathLike[str] | None,
    checkpoint_every: int | str | timedelta | None,
    resume: bool,
    sample_weight: Any = None,
    check_gradients: bool = True,
) -> History:
    """The one training loop of `fit` and `chainrule.distributed.fit`; ``how`` (`_Local`, or
    the distributed one) reads the rows, makes the batches and computes each batch's ∇L."""
    network = how.network
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or None (full batch), got {batch_size!r}")
    if clip_norm is not None and (
        isinstance(clip_norm, bool)
        or not isinstance(clip_norm, int | float)
        or not math.isfinite(clip_norm)
        or clip_norm <= 0
    ):
        raise ValueError(f"clip_norm must be a positive number or None, got {clip_norm!r}")
    if clip_norm is not None and not check_gradients:
        raise ValueError("clip_norm needs check_gradients=True: clipping is done by the gradient check")
    if checkpoint is None and (checkpoint_every is not None or resume):
        raise ValueError("checkpoint_every and resume need checkpoint=RUN_DIR, the run's directory")
    every = parse_interval(checkpoint_every)
    opt = make_optimizer(optimizer, lr)
    X, y = how.rows(X, y, "X")
    s = None if sample_weight is None else _row_weights(sample_weight, len(X), network.dtype)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        val = how.rows(*validation_data, "X_val")
    callbacks = list(callbacks)
    if early_stopping is not None:
        callbacks.append(
            early_stopping if isinstance(early_stopping, EarlyStopping) else EarlyStopping(early_stopping)
        )

    batches = how.batches(X, y, batch_size, shuffle, *([] if s is None else [s]))
    opt.bind(network)
    history = History()
    for cb in callbacks:
        cb.on_train_begin(network, history)
    run = Run(network, opt, batches, callbacks, history, clip_norm, how.root)
    if checkpoint is not None:
        # early stopping with its settings, any other callback by its class
        names = [repr(cb) if isinstance(cb, EarlyStopping) else type(cb).__name__ for cb in callbacks]
        settings = fingerprint(how, X, y, val, batch_size, shuffle, opt, clip_norm, names)
        penalty = getattr(how, "penalty", None)
        if s is not None or penalty is not None:  # only then, so that older runs still resume
            settings["sample_weight"] = None if s is None else hashlib.sha256(s.data).hexdigest()
            settings["penalty"] = repr(penalty)
        run.checkpoint_to(Path(checkpoint), every, settings, resume, epochs)
    logs: dict[str, float] = {}
    run.signals = Signals(how.signals) if checkpoint is not None else None  # SIGINT, SIGTERM: save and stop
    with np.errstate(over="ignore", invalid="ignore"), run.signals or contextlib.nullcontext():
        for epoch in range(run.pos.epoch, epochs):
            if run.stopped:
                break
            opt.start_epoch(epoch)
            logs = _train_epoch(
                how, opt, batches.epoch(network.rng, run.pos.batch), callbacks, run, check_gradients
            )
            unchecked = not check_gradients and not np.isfinite(network.flat_params).all()
            if not math.isfinite(logs["loss"]) or unchecked:  # unchecked: the last step's gradient
                raise run.diverged(logs["loss"])
            if val is not None:
                logs.update({f"val_{k}": v for k, v in how.evaluate(*val).items()})
            history.append(logs)
            run.end_epoch(stop=any([cb.on_epoch_end(epoch, logs) for cb in callbacks]))
        run.end()
    for cb in callbacks:
        cb.on_train_end(logs)
    return history


def _train_epoch(
    how: _Local,
    opt: Optimizer,
    batches: Iterator[tuple[Array, ...]],
    callbacks: list[Callback],
    run: Run,
    check_gradients: bool = True,
) -> dict[str, float]:
    """One pass over the data (the rest of it, when resumed): per batch, forward, backward (and,
    with N processes, the Allreduce), the guard, θ ← θ − η∇L. Returns the epoch's mean (or
    summed) training loss and accuracy, accumulated as the weights moved."""
    loss, step = how.network.loss, how.step
    total, correct, seen = run.pos.total, run.pos.correct, run.pos.seen  # 0 unless resumed
    for batch, rows in enumerate(batches, start=run.pos.batch):
        value, sum_c, right, n = step(rows, run.pos.step)  # L, Σ_n C^n, right predictions, rows
        if check_gradients:
            run.guard(value)
        elif not math.isfinite(value):
            raise run.diverged(value)
        opt.step()
        total += sum_c
        seen += n
        correct += right
        for cb in callbacks:
            cb.on_batch_end(batch, {"loss": total * loss.scale(seen), "samples": seen})
        run.after_batch(batch + 1, total, correct, seen)
    logs = {"loss": total * loss.scale(seen)}
    if loss.classifier and getattr(how, "accuracy", True):
        logs["accuracy"] = correct / seen
    return logs


def _row_weights(sample_weight: Any, n: int, dtype: np.dtype) -> Array:
    """``sample_weight`` as the network's dtype, one finite weight ≥ 0 per row, not all zero."""
    s = np.asarray(sample_weight)
    if s.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numbers, got an array of {s.dtype}")
    s = np.ascontiguousarray(s, dtype=dtype)
    if s.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), one weight per row of X, got {s.shape}")
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("sample_weight must be finite and ≥ 0")
    if not s.any():
        raise ValueError("sample_weight is zero for every row: give some rows a positive weight")
    return s
