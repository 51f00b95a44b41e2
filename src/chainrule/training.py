"""The fit loop: epochs of (mini-)batches, each a forward pass, a backward pass and one step
θ ← θ − η ∇L(θ); a `History` of the loss and accuracy per epoch; callbacks; early stopping.

The hot loop allocates nothing per batch: a batch is gathered from the shuffled row order into
a reused buffer with ``np.take(..., out=...)`` (never a shuffled copy of the data set), the
network reuses its own buffers, and the optimiser updates the flat parameter array in place.

Reliability (docs/reliability.md): before every update a guard checks the loss and ‖∇L‖ (and
can clip ‖∇L‖), so that a NaN or inf stops training with the last good weights; with
``checkpoint=RUN_DIR`` the whole training state is saved at the start, every few epochs or
minutes, on SIGINT/SIGTERM and at the end, and ``resume=True`` continues it bit for bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.base import Array
from chainrule.checkpoint import Checkpoint, CheckpointError, checkpoints, load_checkpoint, save_checkpoint
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


class DivergenceError(FloatingPointError):
    """Training produced NaN or inf (in the loss or a gradient); the weights of the last good
    step are kept, and the files on disk are left as they were."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a checkpointed `fit` after it saved its state; ``checkpoint``
    is the file, ``signal`` the signal's number. Resume with ``resume=True``."""

    def __init__(self, message: str, signum: int, checkpoint: Path) -> None:
        super().__init__(message)
        self.signal, self.checkpoint = signum, checkpoint


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
    """
    return _fit(
        _Local(network),
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
    )


class _Local:
    """How one process trains: batches of its own rows, and per batch ∇L of that batch by the
    forward and backward passes. `chainrule.distributed` has the same methods for N processes."""

    root = True  # this process writes the checkpoints
    signals = True  # SIGINT and SIGTERM save and stop a checkpointed run

    def __init__(self, network: Network) -> None:
        self.network = network

    def rows(self, X: Any, y: Any, what: str) -> tuple[Array, Array]:
        X = self.network.check_X(X)
        return X, self.network.check_y(y, len(X))

    def batches(self, X: Array, y: Array, batch_size: int | None, shuffle: bool) -> _Batches:
        return _Batches(X, y, batch_size, shuffle)

    def step(self, batch: tuple[Array, ...], index: int) -> tuple[float, float, int, int]:
        """(L of the batch, Σ_n C^n, correctly classified rows, rows), ∇L in flat_grads.
        ``index``, the number of steps before this one, is not needed here (the distributed
        trainer derives each rank's dropout masks from it)."""
        network = self.network
        Xb, yb = batch
        value = network.train_step(Xb, yb)
        loss, n = network.loss, len(yb)
        correct = loss.correct(network.output.a, yb) if loss.classifier else 0
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
    if checkpoint is None and (checkpoint_every is not None or resume):
        raise ValueError("checkpoint_every and resume need checkpoint=RUN_DIR, the run's directory")
    every = _interval(checkpoint_every)
    opt = make_optimizer(optimizer, lr)
    X, y = how.rows(X, y, "X")
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

    batches = how.batches(X, y, batch_size, shuffle)
    opt.bind(network)
    history = History()
    for cb in callbacks:
        cb.on_train_begin(network, history)
    run = _Run(network, opt, batches, callbacks, history, clip_norm, how.root)
    if checkpoint is not None:
        settings = _fingerprint(how, X, y, val, batch_size, shuffle, opt, clip_norm, callbacks)
        run.checkpoint_to(Path(checkpoint), every, settings, resume, epochs)
    logs: dict[str, float] = {}
    run.signals = _Signals(how.signals) if checkpoint is not None else None  # SIGINT, SIGTERM: save and stop
    with np.errstate(over="ignore", invalid="ignore"), run.signals or contextlib.nullcontext():
        for epoch in range(run.pos.epoch, epochs):
            if run.stopped:
                break
            opt.start_epoch(epoch)
            logs = _train_epoch(how, opt, batches.epoch(network.rng, run.pos.batch), callbacks, run)
            if not math.isfinite(logs["loss"]):
                raise run.diverged(logs["loss"])
            if val is not None:
                logs.update({f"val_{k}": v for k, v in how.evaluate(*val).items()})
            history.append(logs)
            run.end_epoch(stop=any([cb.on_epoch_end(epoch, logs) for cb in callbacks]))
        run.end()
    for cb in callbacks:
        cb.on_train_end(logs)
    return history


@dataclass
class _Position:
    """Where a fit is: the epoch (from 0), the batches done in it, the steps done in all, and the
    epoch's running sums (Σ_n C^n, right predictions, rows seen)."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    total: float = 0.0
    correct: int = 0
    seen: int = 0


class _Run:
    """One `fit` in progress: its position, the divergence guard, and its checkpoints."""

    def __init__(
        self,
        network: Network,
        opt: Optimizer,
        batches: _Batches,
        callbacks: list[Callback],
        history: History,
        clip_norm: float | None,
        root: bool = True,
    ) -> None:
        self.network, self.opt, self.batches = network, opt, batches
        self.root = root  # the process that writes the checkpoints (the others keep count)
        self.callbacks, self.history = callbacks, history
        self.clip_sq = math.inf if clip_norm is None else clip_norm**2
        self.clip_norm = clip_norm
        self.pos = _Position()
        self.stopped = False  # a callback (early stopping) ended the run
        self.good = network.flat_params.copy()  # the weights at the start of the epoch
        self.signals: _Signals | None = None
        self.run_dir: Path | None = None
        self.every_epochs: int | None = None
        self.every_seconds: float | None = None
        self.deadline = math.inf
        self.saved: tuple[Any, ...] | None = None
        self.last: Path | None = None

    # ----------------------------------------------------------------------- the guard
    def guard(self, value: float) -> None:
        """Before the update: stop on a NaN or inf loss or gradient; clip ‖∇L‖ to clip_norm."""
        g = self.network.flat_grads
        sq = float(g.dot(g))  # ‖∇L‖², not finite if any gradient is NaN or inf
        if not (math.isfinite(value) and math.isfinite(sq)):
            raise self.diverged(value)
        if sq > self.clip_sq:
            g *= self.clip_norm / math.sqrt(sq)  # ∇L ← c ∇L / ‖∇L‖

    def diverged(self, value: float) -> DivergenceError:
        """The error for a step that broke (its update not made), the weights left good."""
        network, pos = self.network, self.pos
        kept = "the weights before this step are kept"
        if not np.isfinite(network.flat_params).all():  # an update overflowed without a NaN yet
            np.copyto(network.flat_params, self.good)
            kept = f"the weights are restored to those at the start of epoch {pos.epoch + 1}"
        if self.last is not None:
            kept += f"; the last checkpoint, {self.last}, is intact"
        return DivergenceError(
            f"training diverged in epoch {pos.epoch + 1}, batch {pos.batch + 1} (step {pos.step + 1}): "
            f"{_broken(network, value)}; {kept}. Hint: lower the learning rate (it is {self.opt.lr:g}), "
            "standardise the inputs, or clip the gradient with clip_norm="
        )

    # ----------------------------------------------------------------------- the position
    def after_batch(self, done: int, total: float, correct: int, seen: int) -> None:
        pos = self.pos
        pos.batch, pos.total, pos.correct, pos.seen = done, total, correct, seen
        pos.step += 1
        if self.signals is not None and (self.signals.received or time.monotonic() >= self.deadline):
            self.save()

    def end_epoch(self, stop: bool) -> None:
        self.pos = _Position(self.pos.epoch + 1, step=self.pos.step)
        self.stopped = stop
        np.copyto(self.good, self.network.flat_params)
        if self.signals is not None and (
            self.signals.received
            or time.monotonic() >= self.deadline
            or (self.every_epochs and self.pos.epoch % self.every_epochs == 0)
        ):
            self.save()

    def end(self) -> None:
        if self.signals is not None:
            self.save()

    # ----------------------------------------------------------------------- checkpoints
    def checkpoint_to(
        self,
        run_dir: Path,
        every: tuple[int | None, float | None],
        settings: dict[str, Any],
        resume: bool,
        epochs: int,
    ) -> None:
        """Save to ``run_dir`` from now on; first resume the run there, or save the start."""
        if run_dir.exists() and not run_dir.is_dir():
            raise NotADirectoryError(f"checkpoint={str(run_dir)!r} is a file: give a directory for the run")
        self.run_dir, self.settings = run_dir, settings
        self.every_epochs, self.every_seconds = every
        if resume:
            self.restore(load_checkpoint(run_dir), epochs)
            self.saved = self._where()
            self._schedule()
            return
        if not self.root:  # rank 0 checks the directory and saves the start
            return
        if found := checkpoints(run_dir):
            raise FileExistsError(
                f"{run_dir} holds checkpoints of an earlier run ({found[-1].name}): pass resume=True "
                "to continue it, or choose another directory"
            )
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise type(e)(
                e.errno, f"cannot create the run directory {run_dir} ({e.strerror}): choose another"
            ) from None
        self.save()  # now, not after an hour: an unwritable directory fails at once

    def _where(self) -> tuple[Any, ...]:
        return (*asdict(self.pos).values(), self.stopped)

    def _schedule(self) -> None:
        if self.every_seconds is not None:
            self.deadline = time.monotonic() + self.every_seconds

    def save(self) -> None:
        """Save a checkpoint here (unless this very position is saved); then, if a signal
        asked for it, stop."""
        assert self.run_dir is not None
        if self.saved != self._where():
            if self.root:
                self.last = save_checkpoint(self.run_dir, self.network, self.state())
            self.saved = self._where()
            self._schedule()
        if self.signals is not None and self.signals.received and self.last is not None:
            pos, name = self.pos, signal.Signals(self.signals.received).name
            where = (
                f"after epoch {pos.epoch}"
                if pos.batch == 0
                else f"in epoch {pos.epoch + 1} after batch {pos.batch} of {self.batches.count}"
            )
            raise TrainingInterrupted(
                f"training stopped by {name} {where} (step {pos.step}); its state is saved in "
                f"{self.last}. Continue it with fit(..., checkpoint={str(self.run_dir)!r}, "
                "resume=True) and the same arguments",
                self.signals.received,
                self.last,
            )

    def state(self) -> dict[str, Any]:
        """Everything the rest of the run depends on (arrays are views, saved at once)."""
        network, batches = self.network, self.batches
        return {
            "position": {**asdict(self.pos), "stopped": self.stopped},
            "params": dict(zip(network.parameter_names, network.parameters(), strict=True)),
            "rng": network.rng.bit_generator.state,  # shuffling and dropout masks
            "optimizer": self.opt.state(),
            "order": batches.order if batches.gather else None,  # the epoch's permutation
            "history": self.history.to_dict(),
            "callbacks": {str(i): cb.state() for i, cb in enumerate(self.callbacks)},
            "settings": self.settings,
        }

    def restore(self, found: Checkpoint, epochs: int) -> None:
        """Continue from a checkpoint of the same run (same network, data and settings)."""
        state, network = found.state, self.network
        if found.network.config() != network.config():
            raise CheckpointError(
                f"{found.path} is a checkpoint of another network ({found.network!r}), not of "
                f"{network!r}: resume with the network the run started with"
            )
        theirs = state.get("settings")
        if theirs != self.settings:
            theirs = theirs if isinstance(theirs, dict) else {}
            differ = sorted(k for k in self.settings if theirs.get(k) != self.settings[k])
            raise ValueError(
                f"{found.path} was made with other {', '.join(differ)}: resume with the data and "
                "arguments the run started with"
            )
        try:
            pos = _position(state.get("position"), self.batches.count)
        except ValueError as e:
            raise CheckpointError(f"{found.path} holds an invalid training state: {e}") from None
        if epochs < pos.epoch:
            raise ValueError(
                f"the run in {self.run_dir} has done {pos.epoch} epochs: pass epochs ≥ {pos.epoch}"
            )
        self.pos, self.stopped = pos, state["position"].get("stopped") is True
        try:
            network.flat_params[...] = found.network.flat_params
            network.rng.bit_generator.state = found.network.rng.bit_generator.state
            self.opt.load_state(state["optimizer"])
            if self.batches.gather:
                order = state["order"]
                if not isinstance(order, np.ndarray) or not np.array_equal(
                    np.sort(order), np.arange(self.batches.n)
                ):
                    raise ValueError("the row order is not a permutation of the rows")
                self.batches.order[...] = order
            self.history.load_dict(state["history"])
            for i, cb in enumerate(self.callbacks):
                cb.load_state(state["callbacks"][str(i)])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{found.path} holds an invalid training state: {e}") from None
        np.copyto(self.good, network.flat_params)
        self.last = found.path


def _position(d: Any, n_batches: int) -> _Position:
    names = [f.name for f in fields(_Position)]
    if not isinstance(d, dict) or not all(
        isinstance(d.get(k), float if k == "total" else int) and not isinstance(d.get(k), bool) for k in names
    ):
        raise ValueError(f"invalid position {d!r}")
    pos = _Position(**{k: d[k] for k in names})
    if min(pos.epoch, pos.step, pos.correct, pos.seen) < 0 or not 0 <= pos.batch <= n_batches:
        raise ValueError(f"invalid position {d!r}")
    return pos


def _broken(network: Network, value: float) -> str:
    """Where a step broke: the first layer whose forward values, or (going backward) whose
    gradients, hold NaN or inf; else where the values too large to square are."""
    if not math.isfinite(value):
        for level in network.levels:
            for name, v in (("z", level.z), ("a", level.a)):
                if not np.isfinite(v).all():
                    return (
                        f"the loss is {value}: the forward pass overflowed in layer {level.index} "
                        f"({name} holds NaN or inf)"
                    )
        out = network.levels[-1]
        return (
            f"the loss is {value}: the outputs of layer {out.index} reach {np.abs(out.a).max():.3g}, "
            f"too large for {network.dtype.name}"
        )
    for level in reversed(network.levels):
        for name, g in (("W", level.dW), ("b", level.db)):
            if not np.isfinite(g).all():
                return f"∂L/∂{name} of layer {level.index} holds NaN or inf (the backward pass broke there)"
    largest, name, index = max(
        (float(np.abs(g).max()), name, level.index)
        for level in network.levels
        for name, g in (("W", level.dW), ("b", level.db))
    )
    return f"‖∇L‖² overflows: the largest gradient, {largest:.3g}, is in ∂L/∂{name} of layer {index}"


_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*(ms|s|m|min|h)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600}


def _interval(every: int | str | timedelta | None) -> tuple[int | None, float | None]:
    """``checkpoint_every`` as (epochs, None) or (None, seconds)."""
    if every is None:
        return 1, None
    if isinstance(every, int) and not isinstance(every, bool) and every >= 1:
        return every, None
    seconds = 0.0
    if isinstance(every, timedelta):
        seconds = every.total_seconds()
    elif isinstance(every, str) and (m := _DURATION.fullmatch(every.strip())):
        seconds = float(m.group(1)) * _SECONDS[m.group(2)]
    if not seconds > 0:
        raise ValueError(
            "checkpoint_every must be a number of epochs ≥ 1 or a time interval such as '90s', "
            f"'10m', '1h' or a timedelta, got {every!r}"
        )
    return None, seconds


def _fingerprint(
    how: Any,
    X: Array,
    y: Array,
    val: tuple[Array, Array] | None,
    batch_size: int | None,
    shuffle: bool,
    opt: Optimizer,
    clip_norm: float | None,
    callbacks: list[Callback],
) -> dict[str, Any]:
    """What a resumed run must share with the run it continues, or it could not end the same."""

    def digest(*arrays: Array) -> str:
        h = hashlib.sha256()
        for a in arrays:
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.require(a, requirements="C").data)
        return how.digest(h.hexdigest())  # with N processes: of all their rows

    return {
        "data": digest(X, y),
        "validation data": None if val is None else digest(*val),
        "batch_size": batch_size,
        "shuffle": shuffle,
        "optimizer": repr(opt),
        "clip_norm": clip_norm,
        "callbacks": [repr(cb) if isinstance(cb, EarlyStopping) else type(cb).__name__ for cb in callbacks],
    }


class _Signals:
    """While a checkpointed fit runs: the first SIGINT or SIGTERM asks it to save and stop after
    the current batch; a second one stops it at once (KeyboardInterrupt, no checkpoint). With
    ``install=False`` (N processes, which could not all stop after the same batch) it leaves
    the handlers alone."""

    def __init__(self, install: bool = True) -> None:
        self.received = 0
        self.install = install
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if self.install and threading.current_thread() is threading.main_thread():  # may set handlers
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)

    def _handle(self, signum: int, frame: object) -> None:
        if self.received:
            raise KeyboardInterrupt("interrupted twice: stopped at once, without a checkpoint")
        self.received = signum


class _Batches:
    """The batches of an epoch. Shuffled batches are gathered row by row from a permutation into
    two buffers made once (``X.take(rows, out=...)``): never a shuffled copy of the data set."""

    def __init__(self, X: Array, y: Array, batch_size: int | None, shuffle: bool) -> None:
        self.X, self.y, self.n = X, y, len(X)
        self.size = self.n if batch_size is None else min(batch_size, self.n)
        self.count = -(-self.n // self.size)  # batches per epoch
        self.gather = shuffle and self.size < self.n  # a full batch is the same sum in any order
        if self.gather:
            self.order = np.arange(self.n)
            self.X_buf = np.empty((self.size, *X.shape[1:]), dtype=X.dtype)
            self.y_buf = np.empty((self.size, *y.shape[1:]), dtype=y.dtype)

    def epoch(self, rng: np.random.Generator, first: int = 0) -> Iterator[tuple[Array, Array]]:
        """The batches from batch ``first`` on; a resumed epoch (``first`` > 0) keeps its order."""
        if self.gather and not first:
            rng.shuffle(self.order)
        for start in range(first * self.size, self.n, self.size):
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
    how: _Local,
    opt: Optimizer,
    batches: Iterator[tuple[Array, ...]],
    callbacks: list[Callback],
    run: _Run,
) -> dict[str, float]:
    """One pass over the data (the rest of it, when resumed): per batch, forward, backward (and,
    with N processes, the Allreduce), the guard, θ ← θ − η∇L. Returns the epoch's mean (or
    summed) training loss and accuracy, accumulated as the weights moved."""
    loss, step = how.network.loss, how.step
    total, correct, seen = run.pos.total, run.pos.correct, run.pos.seen  # 0 unless resumed
    for batch, rows in enumerate(batches, start=run.pos.batch):
        value, sum_c, right, n = step(rows, run.pos.step)  # L, Σ_n C^n, right predictions, rows
        run.guard(value)
        opt.step()
        total += sum_c
        seen += n
        correct += right
        for cb in callbacks:
            cb.on_batch_end(batch, {"loss": total * loss.scale(seen), "samples": seen})
        run.after_batch(batch + 1, total, correct, seen)
    logs = {"loss": total * loss.scale(seen)}
    if loss.classifier:
        logs["accuracy"] = correct / seen
    return logs
