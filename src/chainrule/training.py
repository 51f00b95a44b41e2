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
import numbers
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.base import Array
from chainrule.callbacks import Callback, EarlyStopping, History, keeps_state
from chainrule.network import Network, unmasked
from chainrule.optimizers import Optimizer
from chainrule.optimizers import optimizer as make_optimizer
from chainrule.run import DivergenceError as DivergenceError  # what fit raises, also from here
from chainrule.run import Run, Signals, fingerprint, parse_interval
from chainrule.run import TrainingInterrupted as TrainingInterrupted
from chainrule.schedules import Schedule
from chainrule.world import Local, World

__all__ = [
    "Callback",
    "DivergenceError",
    "EarlyStopping",
    "History",
    "TrainingInterrupted",
    "TrainingWarning",
    "fit",
]


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
    world: World | None = None,
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

    ``world`` is the processes that train together (`chainrule.world`): by default this one
    (`Local`); with an `MPIWorld`, every rank calls fit with its own shard of the rows (possibly
    none), ``batch_size`` is the global batch, and the result is the same as one process's
    (see `chainrule.distributed.fit`).
    """
    world = Local() if world is None else world
    with world.abort_on_error():
        world.start(network)
        try:
            return _fit(
                world,
                network,
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
                penalty=penalty,
                accuracy=accuracy,
                check_gradients=check_gradients,
            )
        finally:
            world.stop(network)


def _fit(
    world: World,
    network: Network,
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
    sample_weight: Any,
    penalty: Callable[[float], float] | None,
    accuracy: bool,
    check_gradients: bool,
) -> History:
    """The one training loop of every face; ``world`` reads the rows, makes the batches and
    computes each batch's ∇L (summed over the processes)."""
    epochs = _count(epochs, "epochs must be a positive integer")
    if batch_size is not None:
        batch_size = _count(batch_size, "batch_size must be a positive integer or None (full batch)")
    if clip_norm is not None:
        if isinstance(clip_norm, bool) or not isinstance(clip_norm, numbers.Real) or not clip_norm > 0:
            raise ValueError(f"clip_norm must be a positive number or None, got {clip_norm!r}")
        clip_norm = float(clip_norm)
        if not math.isfinite(clip_norm):
            raise ValueError(f"clip_norm must be a positive number or None, got {clip_norm!r}")
    strangers = [cb for cb in callbacks if not isinstance(cb, Callback)]
    if strangers:
        raise TypeError(f"callbacks must be chainrule.Callback objects, got {strangers[0]!r}")
    if clip_norm is not None and not check_gradients:
        raise ValueError("clip_norm needs check_gradients=True: clipping is done by the gradient check")
    if (sample_weight is not None or penalty is not None) and not world.row_weights:
        raise ValueError(f"sample_weight and penalty are not supported by {world!r}: train on one process")
    if not isinstance(resume, bool):  # resume="no" is true
        raise TypeError(f"resume must be True or False, got {resume!r}")
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(f"checkpoint must be a run directory's path, got {checkpoint!r}")
    if checkpoint is not None and not os.fspath(checkpoint):  # "" would be the working directory
        raise ValueError("checkpoint='' names no directory: give the run directory's path")
    if checkpoint is None and (checkpoint_every is not None or resume):
        raise ValueError("checkpoint_every and resume need checkpoint=RUN_DIR, the run's directory")
    every = parse_interval(checkpoint_every)
    opt = make_optimizer(optimizer, lr)
    X, y = world.rows(network, X, y, "X")
    s = None if sample_weight is None else _row_weights(sample_weight, X.shape[0], network.dtype)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, y_val)")
        val = world.rows(network, *validation_data, "X_val")
    callbacks = list(callbacks)
    if early_stopping is not None:
        callbacks.append(
            early_stopping if isinstance(early_stopping, EarlyStopping) else EarlyStopping(early_stopping)
        )

    batches = world.batches(X, y, batch_size, shuffle, s)
    opt.bind(network)
    history = History()
    for cb in callbacks:
        cb.on_train_begin(network, history)
    kept = [cb for cb in callbacks if keeps_state(cb)]  # a progress bar is not part of the run
    run = Run(network, opt, batches, kept, history, clip_norm, world.root)
    if checkpoint is not None:
        # early stopping with its settings, any other callback with a state by its class
        names = [repr(cb) if isinstance(cb, EarlyStopping) else type(cb).__name__ for cb in kept]
        settings = fingerprint(world, X, y, val, batch_size, shuffle, opt, clip_norm, names)
        if s is not None or penalty is not None:  # only then, so that older runs still resume
            settings["sample_weight"] = None if s is None else hashlib.sha256(s.data).hexdigest()
            settings["penalty"] = repr(penalty)
        run.checkpoint_to(Path(checkpoint), every, settings, resume, epochs)
    logs: dict[str, float] = {}
    grew = False  # warned that the loss grew
    run.signals = Signals(world.signals) if checkpoint is not None else None  # SIGINT, SIGTERM: save and stop
    with np.errstate(over="ignore", invalid="ignore"), run.signals or contextlib.nullcontext():
        for epoch in range(run.pos.epoch, epochs):
            if run.stopped:
                break
            opt.start_epoch(epoch)
            epoch_batches = batches.epoch(network.rng, run.pos.batch)
            logs = _train_epoch(
                world, network, opt, epoch_batches, callbacks, run, penalty, accuracy, check_gradients
            )
            unchecked = not check_gradients and not np.isfinite(network.flat_params).all()
            if not math.isfinite(logs["loss"]) or unchecked:  # unchecked: the last step's gradient
                raise run.diverged(logs["loss"])
            if val is not None:
                logs.update({f"val_{k}": v for k, v in world.evaluate(network, *val).items()})
            history.append(logs)
            per_row = run.pos.total / max(run.pos.seen, 1)  # the epoch's C per row, whatever the reduction
            if not grew and _grew(run.first, per_row):
                grew = True
                warnings.warn(
                    f"the training loss per row grew from {run.first:.4g} (the first batch) to "
                    f"{per_row:.4g} (epoch {epoch + 1}): the learning rate is probably too high "
                    f"(it is {opt.lr:g})",
                    TrainingWarning,
                    stacklevel=3,
                )
            run.end_epoch(stop=any([cb.on_epoch_end(epoch, logs) for cb in callbacks]))
        run.end()
    for cb in callbacks:
        cb.on_train_end(logs)
    return history


def _train_epoch(
    world: World,
    network: Network,
    opt: Optimizer,
    batches: Iterator[tuple[Array, ...]],
    callbacks: list[Callback],
    run: Run,
    penalty: Callable[[float], float] | None = None,
    accuracy: bool = True,
    check_gradients: bool = True,
) -> dict[str, float]:
    """One pass over the data (the rest of it, when resumed): per batch, forward, backward (and,
    with N processes, the Allreduce), the guard, θ ← θ − η∇L. Returns the epoch's mean (or
    summed) training loss and accuracy, accumulated as the weights moved."""
    loss, step = network.loss, world.step
    total, correct, seen = run.pos.total, run.pos.correct, run.pos.seen  # 0 unless resumed
    for batch, rows in enumerate(batches, start=run.pos.batch):
        value, sum_c, right, n = step(network, rows, run.pos.step, penalty, accuracy)  # L, Σ C^n, right, rows
        if run.first is None and n:
            run.first = sum_c / n  # C per row of the first batch, before any update: `_grew`'s reference
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
    if loss.classifier and accuracy:
        logs["accuracy"] = correct / seen
    return logs


class TrainingWarning(UserWarning):
    """Training went on, but not as it should (the loss grew far above where it started)."""


def _grew(first: float | None, loss: float) -> bool:
    """Whether an epoch's C per row is five times the first batch's and more than one above it."""
    return first is not None and first > 0 and loss > 5 * first and loss > first + 1


def _count(value: Any, message: str) -> int:
    """A count given as any integer (Python's or NumPy's), as a Python int ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{message}, got {value!r}")
    return int(value)


def _row_weights(sample_weight: Any, n: int, dtype: np.dtype) -> Array:
    """``sample_weight`` as the network's dtype, one finite weight ≥ 0 per row, not all zero."""
    s = np.asarray(unmasked(sample_weight, "sample_weight"))
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
