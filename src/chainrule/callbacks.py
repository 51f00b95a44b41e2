"""What a fit reports and who listens: the `History` of the loss and accuracy per epoch, the
`Callback` hooks, and `EarlyStopping`, which keeps the best weights and stops when the
monitored figure no longer improves."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.network import Network


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


def keeps_state(callback: Callback) -> bool:
    """Whether a checkpoint must keep ``callback``'s state (it overrides `Callback.state`): a
    callback without state, such as a progress bar, may differ between a run and its resume."""
    return type(callback).state is not Callback.state
