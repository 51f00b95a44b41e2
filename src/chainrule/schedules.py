"""Learning-rate schedules η(epoch) for θ ← θ − η ∇L(θ); the epoch counts from 0."""

from __future__ import annotations

import math
import numbers
from typing import Any


def _check_lr(lr: Any, what: str = "learning rate") -> float:
    """η as a Python float: any positive finite real number (Python's or NumPy's)."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"{what} must be a positive number, got {lr!r}")
    return float(lr)


class Schedule:
    """η as a function of the epoch."""

    def __init__(self, lr: float) -> None:
        self.lr = _check_lr(lr)

    def __call__(self, epoch: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """η(t) = η₀."""

    def __call__(self, epoch: int) -> float:
        return self.lr


class StepDecay(Schedule):
    """η(t) = η₀ · γ^⌊t / step⌋: multiply by γ every ``step`` epochs."""

    def __init__(self, lr: float, step: int, gamma: float = 0.1) -> None:
        super().__init__(lr)
        if not isinstance(step, int) or step < 1:
            raise ValueError(f"StepDecay step must be a positive number of epochs, got {step!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"StepDecay gamma must be in (0, 1], got {gamma!r}")
        self.step, self.gamma = step, float(gamma)

    def __call__(self, epoch: int) -> float:
        return self.lr * self.gamma ** (epoch // self.step)


class ExponentialDecay(Schedule):
    """η(t) = η₀ · γ^t."""

    def __init__(self, lr: float, gamma: float = 0.95) -> None:
        super().__init__(lr)
        if not 0 < gamma <= 1:
            raise ValueError(f"ExponentialDecay gamma must be in (0, 1], got {gamma!r}")
        self.gamma = float(gamma)

    def __call__(self, epoch: int) -> float:
        return self.lr * self.gamma**epoch


class CosineDecay(Schedule):
    """η(t) = η_min + ½ (η₀ − η_min)(1 + cos(π t / T)) for t < T, then η_min."""

    def __init__(self, lr: float, epochs: int, min_lr: float = 0.0) -> None:
        super().__init__(lr)
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"CosineDecay epochs must be a positive integer, got {epochs!r}")
        if not 0 <= min_lr <= lr:
            raise ValueError(f"CosineDecay min_lr must be in [0, lr], got {min_lr!r}")
        self.epochs, self.min_lr = epochs, float(min_lr)

    def __call__(self, epoch: int) -> float:
        t = min(epoch, self.epochs)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * t / self.epochs))


class InverseScaling(Schedule):
    """η = η₀ / (t + 1)^p, t the samples seen before the epoch: t = t₀ + epoch · rows
    (scikit-learn's ``learning_rate="invscaling"``; ``seen`` = t₀, the samples of earlier fits)."""

    def __init__(self, lr: float, power: float, rows: int, seen: int = 0) -> None:
        super().__init__(lr)
        if isinstance(power, bool) or not isinstance(power, int | float) or not power >= 0:
            raise ValueError(f"InverseScaling power must be a number ≥ 0, got {power!r}")
        for what, v, least in (("rows", rows, 1), ("seen", seen, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise ValueError(f"InverseScaling {what} must be an integer ≥ {least}, got {v!r}")
        self.power, self.rows, self.seen = float(power), rows, seen

    def __call__(self, epoch: int) -> float:
        return self.lr / (self.seen + epoch * self.rows + 1) ** self.power


def as_schedule(lr: float | Schedule) -> Schedule:
    return lr if isinstance(lr, Schedule) else Constant(lr)
