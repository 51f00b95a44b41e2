"""scikit-learn's stopping rule as a callback of the fit loop: `Plateau`.

After every epoch the monitored figure v (the training ``loss``, or a validation score) is
compared with the best so far; the epoch stalls when it does not beat the best by more than
``tol`` (v > best − tol for a loss, v < best + tol for a score), and the best becomes v whenever
v is better at all. After more than ``patience`` stalls in a row, training stops, or, with a
``factor``, the learning rate is multiplied by it and the count starts again (scikit-learn's
``learning_rate="adaptive"``: factor 1/5) until it is no more than ``min_lr``.

Unlike `EarlyStopping`, a Plateau keeps its best figure, its count and the best weights from
one `fit` to the next (as an optimiser keeps its moments): scikit-learn's ``warm_start`` and
``partial_fit`` continue the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.network import Network
from chainrule.optimizers import Optimizer
from chainrule.training import Callback, History


class Plateau(Callback):
    """Stop (or lower the learning rate) when ``monitor`` has stalled for more than ``patience``
    epochs in a row (module docstring). ``mode`` is ``"min"`` for a loss, ``"max"`` for a score;
    ``restore_best_weights`` puts back the weights of the best epoch at the end of every fit;
    ``say`` receives a line when the rule acts (a progress bar's, a print)."""

    def __init__(
        self,
        monitor: str = "loss",
        *,
        tol: float = 1e-4,
        patience: float = 10,
        mode: str = "min",
        optimizer: Optimizer | None = None,
        factor: float | None = None,
        min_lr: float = 1e-6,
        restore_best_weights: bool = False,
        say: Callable[[str], None] | None = None,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"Plateau mode must be 'min' or 'max', got {mode!r}")
        if not (tol >= 0 and patience >= 0):
            raise ValueError(f"Plateau needs tol ≥ 0 and patience ≥ 0, got {tol!r} and {patience!r}")
        if factor is not None and (optimizer is None or not 0 < factor < 1):
            raise ValueError("Plateau's factor must be in (0, 1), with the optimizer whose lr it lowers")
        self.monitor, self.tol, self.patience, self.mode = monitor, float(tol), patience, mode
        self.optimizer, self.factor, self.min_lr = optimizer, factor, float(min_lr)
        self.restore_best_weights, self.say = restore_best_weights, say
        self.sign = 1.0 if mode == "min" else -1.0  # compare s·v: lower is better
        self.best = math.inf if mode == "min" else -math.inf  # in the monitor's own sign
        self.stalls = 0
        self.best_params: np.ndarray | None = None

    def on_train_begin(self, network: Network, history: History) -> None:
        self.network, self.history = network, history
        if self.restore_best_weights and (
            self.best_params is None or self.best_params.shape != network.flat_params.shape
        ):
            self.best_params = network.flat_params.copy()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.monitor not in logs:
            raise ValueError(f"Plateau monitors {self.monitor!r}, which fit does not report: {sorted(logs)}")
        v, s = logs[self.monitor], self.sign
        self.stalls = self.stalls + 1 if s * v > s * self.best - self.tol else 0
        if s * v < s * self.best:  # better at all: the best so far, even by less than tol
            self.best = v
            self.history.best_epoch = epoch
            if self.best_params is not None:
                np.copyto(self.best_params, self.network.flat_params)
        if self.stalls <= self.patience:
            return False
        what = "Training loss" if self.monitor == "loss" else f"{self.monitor} (validation)"
        line = f"{what} did not improve more than tol={self.tol:f} for {self.patience} consecutive epochs."
        opt = self.optimizer
        if self.factor is not None and opt is not None and opt.lr > self.min_lr:
            opt.schedule.lr *= self.factor  # the next epochs' η, from the schedule
            opt.lr *= self.factor
            self.stalls = 0
            self._say(f"{line} Setting learning rate to {opt.lr:f}")
            return False
        self._say(f"{line} Stopping.")
        self.history.stopped_early = True
        return True

    def on_train_end(self, logs: dict[str, float]) -> None:
        if self.best_params is not None:
            np.copyto(self.network.flat_params, self.best_params)

    def _say(self, line: str) -> None:
        if self.say is not None:
            self.say(line)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"best": None if math.isinf(self.best) else self.best, "stalls": self.stalls}
        if self.optimizer is not None:
            state["lr"] = self.optimizer.schedule.lr
        if self.best_params is not None:
            state["best_params"] = self.best_params
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        best, stalls = state["best"], state["stalls"]
        if isinstance(stalls, bool) or not isinstance(stalls, int) or stalls < 0:
            raise ValueError(f"Plateau's stall count must be a count, got {stalls!r}")
        self.best = (self.sign * math.inf) if best is None else float(best)
        self.stalls = stalls
        if self.optimizer is not None:
            self.optimizer.schedule.lr = float(state["lr"])
        if self.best_params is not None:
            np.copyto(self.best_params, state["best_params"])

    def __repr__(self) -> str:
        return (
            f"Plateau(monitor={self.monitor!r}, tol={self.tol}, patience={self.patience}, "
            f"mode={self.mode!r}, factor={self.factor}, min_lr={self.min_lr}, "
            f"restore_best_weights={self.restore_best_weights})"
        )
