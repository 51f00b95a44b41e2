"""The fit loop: epochs of (mini-)batches, each a forward pass, a backward pass and one step
θ ← θ − η ∇L(θ); a `History` of the loss and accuracy per epoch; callbacks; early stopping.

The hot loop allocates nothing per batch: a batch is gathered from the shuffled row order into
a reused buffer with ``np.take(..., out=...)`` (never a shuffled copy of the data set), the
network reuses its own buffers, and the optimiser updates the flat parameter array in place.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.base import Array
from chainrule.network import Network
from chainrule.optimizers import Optimizer
from chainrule.optimizers import optimizer as make_optimizer
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
) -> History:
    """Train ``network`` on (X, y) by backpropagation and gradient descent.

    ``batch_size=None`` is full-batch gradient descent, as the seeds do it (one step per epoch on
    L(θ) of all examples); an integer gives mini-batches. ``optimizer`` is a name (``sgd``,
    ``momentum``, ``nesterov``, ``adam``) with ``lr``, or an `Optimizer` object (whose state
    carries over to the next call). ``early_stopping`` is a patience in epochs or an
    `EarlyStopping`; it restores the best weights. Returns the `History`.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer or None (full batch), got {batch_size!r}")
    opt = make_optimizer(optimizer, lr)
    X = network.check_X(X)
    y = network.check_y(y, len(X))
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        X_val = network.check_X(validation_data[0])
        val = (X_val, network.check_y(validation_data[1], len(X_val)))
    callbacks = list(callbacks)
    if early_stopping is not None:
        callbacks.append(
            early_stopping if isinstance(early_stopping, EarlyStopping) else EarlyStopping(early_stopping)
        )

    batches = _Batches(X, y, batch_size, shuffle)
    opt.bind(network)
    history = History()
    for cb in callbacks:
        cb.on_train_begin(network, history)
    logs: dict[str, float] = {}
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run ends in one clear error
        for epoch in range(epochs):
            opt.start_epoch(epoch)
            logs = _train_epoch(network, opt, batches.epoch(network.rng), callbacks)
            if not math.isfinite(logs["loss"]):
                raise FloatingPointError(
                    f"training diverged in epoch {epoch + 1}: the loss is {logs['loss']}; "
                    "lower the learning rate or standardise the inputs"
                )
            if val is not None:
                logs.update({f"val_{k}": v for k, v in network._evaluate(*val).items()})
            history.append(logs)
            if any([cb.on_epoch_end(epoch, logs) for cb in callbacks]):
                break
    for cb in callbacks:
        cb.on_train_end(logs)
    return history


class _Batches:
    """The batches of an epoch. Shuffled batches are gathered row by row from a permutation into
    two buffers made once (``X.take(rows, out=...)``): never a shuffled copy of the data set."""

    def __init__(self, X: Array, y: Array, batch_size: int | None, shuffle: bool) -> None:
        self.X, self.y, self.n = X, y, len(X)
        self.size = self.n if batch_size is None else min(batch_size, self.n)
        self.gather = shuffle and self.size < self.n  # a full batch is the same sum in any order
        if self.gather:
            self.order = np.arange(self.n)
            self.X_buf = np.empty((self.size, *X.shape[1:]), dtype=X.dtype)
            self.y_buf = np.empty((self.size, *y.shape[1:]), dtype=y.dtype)

    def epoch(self, rng: np.random.Generator) -> Iterator[tuple[Array, Array]]:
        if self.gather:
            rng.shuffle(self.order)
        for start in range(0, self.n, self.size):
            if not self.gather:
                yield self.X[start : start + self.size], self.y[start : start + self.size]
                continue
            rows = self.order[start : start + self.size]
            # mode="clip": the rows are a permutation, always in range, and numpy buffers (and
            # so copies twice) when it must check them, as with the default mode="raise"
            yield (
                self.X.take(rows, axis=0, out=self.X_buf[: len(rows)], mode="clip"),
                self.y.take(rows, axis=0, out=self.y_buf[: len(rows)], mode="clip"),
            )


def _train_epoch(
    network: Network, opt: Optimizer, batches: Iterator[tuple[Array, Array]], callbacks: list[Callback]
) -> dict[str, float]:
    """One pass over the data: per batch, forward, backward, θ ← θ − η∇L. Returns the epoch's
    mean (or summed) training loss and accuracy, accumulated as the weights moved."""
    loss = network.loss
    total, correct, seen = 0.0, 0, 0
    for batch, (Xb, yb) in enumerate(batches):
        value = network.train_step(Xb, yb)
        opt.step()
        total += value / loss.scale(len(yb))  # Σ_n C^n of the batch
        seen += len(yb)
        if loss.classifier:
            correct += loss.correct(network.output.a, yb)
        for cb in callbacks:
            cb.on_batch_end(batch, {"loss": total * loss.scale(seen), "samples": seen})
    logs = {"loss": total * loss.scale(seen)}
    if loss.classifier:
        logs["accuracy"] = correct / seen
    return logs
