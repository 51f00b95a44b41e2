"""One `fit` in progress: where it is, the divergence guard, and the checkpoints it writes and
resumes from (the file format is `chainrule.checkpoint`'s).

`Run` keeps the position (epoch, batch, step and the epoch's running sums). Before every update
its guard checks the loss and ‖∇L‖ (and can clip ‖∇L‖), so that a NaN or inf stops training
with the last good weights (`DivergenceError`); with ``checkpoint=RUN_DIR`` the whole training
state is saved at the start, every few epochs or minutes (`parse_interval`), on SIGINT/SIGTERM
(`Signals`, then `TrainingInterrupted`) and at the end, and ``resume=True`` continues it bit for
bit, if the data and settings have the same `fingerprint`. See docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import math
import re
import signal
import threading
import time
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.base import Array
from chainrule.batches import Batches
from chainrule.callbacks import Callback, History
from chainrule.checkpoint import Checkpoint, CheckpointError, checkpoints, load_checkpoint, save_checkpoint
from chainrule.network import Network
from chainrule.optimizers import Optimizer
from chainrule.world import World


class DivergenceError(FloatingPointError):
    """Training produced NaN or inf (in the loss or a gradient); the weights of the last good
    step are kept, and the files on disk are left as they were."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a checkpointed `fit` after it saved its state; ``checkpoint``
    is the file, ``signal`` the signal's number. Resume with ``resume=True``."""

    def __init__(self, message: str, signum: int, checkpoint: Path) -> None:
        super().__init__(message)
        self.signal, self.checkpoint = signum, checkpoint


@dataclass
class Position:
    """Where a fit is: the epoch (from 0), the batches done in it, the steps done in all, and the
    epoch's running sums (Σ_n C^n, right predictions, rows seen)."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    total: float = 0.0
    correct: int = 0
    seen: int = 0


class Run:
    """One `fit` in progress: its position, the divergence guard, and its checkpoints."""

    def __init__(
        self,
        network: Network,
        opt: Optimizer,
        batches: Batches,
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
        self.pos = Position()
        self.stopped = False  # a callback (early stopping) ended the run
        self.good = network.flat_params.copy()  # the weights at the start of the epoch
        self.signals: Signals | None = None
        self.run_dir: Path | None = None
        self.every_epochs: int | None = None
        self.every_seconds: float | None = None
        self.deadline = math.inf
        self.saved: tuple[Any, ...] | None = None
        self.last: Path | None = None
        self.first: float | None = None  # L of the run's first batch (this call's, when resumed)

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
        """The error for a step that broke (its update not made), the weights left good: those
        before this step if only its gradient broke, else (its forward pass broke on them, or
        an update overflowed) those the epoch started with."""
        network, pos = self.network, self.pos
        kept = "the weights before this step are kept"
        if not math.isfinite(value) or not np.isfinite(network.flat_params).all():
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
        self.pos = Position(self.pos.epoch + 1, step=self.pos.step)
        self.stopped = stop
        if np.isfinite(self.network.flat_params).all():  # else the last good ones stay
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
                f"{found.path} is a checkpoint of another network ({_sizes(found.network)}), not of "
                f"this one ({_sizes(network)}): resume with the network the run started with"
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


def _sizes(network: Network) -> str:
    """A network as its layer widths and loss: 784-256-10, cross_entropy."""
    widths = [network.n_features, *(level.dense.n_out for level in network.levels)]
    return f"{'-'.join(map(str, widths))}, {network.loss.name}"


def _position(d: Any, n_batches: int) -> Position:
    names = [f.name for f in fields(Position)]
    if not isinstance(d, dict) or not all(
        isinstance(d.get(k), float if k == "total" else int) and not isinstance(d.get(k), bool) for k in names
    ):
        raise ValueError(f"invalid position {d!r}")
    pos = Position(**{k: d[k] for k in names})
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


def parse_interval(every: int | str | timedelta | None) -> tuple[int | None, float | None]:
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


def fingerprint(
    world: World,
    X: Array,
    y: Array,
    val: tuple[Array, Array] | None,
    batch_size: int | None,
    shuffle: bool,
    opt: Optimizer,
    clip_norm: float | None,
    callbacks: list[str],
) -> dict[str, Any]:
    """What a resumed run must share with the run it continues, or it could not end the same.
    ``callbacks`` are named as `fit` names them (early stopping with its settings)."""

    def digest(*arrays: Array) -> str:
        h = hashlib.sha256()
        for a in arrays:
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.require(a, requirements="C").data)
        return world.digest(h.hexdigest())  # with N processes: of all their rows

    return {
        "data": digest(X, y),
        "validation data": None if val is None else digest(*val),
        "batch_size": batch_size,
        "shuffle": shuffle,
        "optimizer": repr(opt),
        "clip_norm": clip_norm,
        "callbacks": callbacks,
    }


class Signals:
    """While a checkpointed fit runs: the first SIGINT or SIGTERM asks it to save and stop after
    the current batch; a second one stops it at once (KeyboardInterrupt, no checkpoint). With
    ``install=False`` (N processes, which could not all stop after the same batch) it leaves
    the handlers alone."""

    def __init__(self, install: bool = True) -> None:
        self.received = 0
        self.install = install
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
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
