"""Gradient descent and its refinements, updating the network's flat parameter array in place.

    SGD:       θ ← θ − η ∇L(θ)                                     (the seeds)
    momentum:  v ← μ v − η ∇L,  θ ← θ + v
    Nesterov:  v ← μ v − η ∇L,  θ ← θ + μ v − η ∇L                 (look-ahead form, as scikit-learn)
    Adam:      m ← β₁ m + (1 − β₁) g,  v ← β₂ v + (1 − β₂) g²,
               θ ← θ − η m̂ / (√v̂ + ε),  m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)

Regularisation adds a term R(θ) to L on the weight matrices (not the biases), and its gradient to ∇L
before the rule steps:

    L2 (weight_decay λ₂):  R = (λ₂/2) Σ w²,   ∂R/∂w = λ₂ w
    L1 (l1 λ₁):            R = λ₁ Σ |w|,       ∂R/∂w = λ₁ sign(w)   (the subgradient 0 at w = 0)

`Optimizer.penalty` is R(θ), `Optimizer.gradient` the ∇L + ∇R the rule steps along. No array is
allocated per step: the scratch and state arrays are made once, in bind.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from chainrule.base import Array
from chainrule.schedules import Schedule, as_schedule


class Optimizer:
    """Updates ``network.flat_params`` from ``network.flat_grads``; the lr may be a `Schedule`."""

    name = ""
    state_names: ClassVar[tuple[str, ...]] = ()  # what the next steps depend on besides θ

    def __init__(self, lr: float | Schedule = 0.01, weight_decay: float = 0.0, l1: float = 0.0) -> None:
        self.schedule = as_schedule(lr)
        self.lr = self.schedule(0)
        for name, value in (("weight_decay", weight_decay), ("l1", l1)):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number ≥ 0, got {value!r}")
        self.weight_decay, self.l1 = float(weight_decay), float(l1)
        self._params: Array | None = None

    def bind(self, network: Any) -> None:
        """Attach to a network's flat arrays (keeping the state if it is the same network)."""
        if self._params is network.flat_params:
            return
        if self.lr > 0 and network.dtype.type(self.lr) == 0:
            raise ValueError(
                f"lr={self.lr!r} is 0 in {network.dtype.name}, the network's dtype: nothing would train; "
                f"give an lr ≥ {np.finfo(network.dtype).smallest_subnormal:.0e}"
            )
        self._params, self._grads = network.flat_params, network.flat_grads
        self._scratch = np.empty_like(self._params)
        self._weights = np.zeros(self._params.shape, dtype=bool)  # True where a weight is, not a bias
        offset = 0
        for name, p in zip(network.parameter_names, network.parameters(), strict=True):
            self._weights[offset : offset + p.size] = name.endswith(".W")
            offset += p.size
        self._decay = np.where(self._weights, self.weight_decay, 0).astype(self._params.dtype)  # λ₂ on W
        self._l1 = np.where(self._weights, self.l1, 0).astype(self._params.dtype) if self.l1 else None
        self._sign = np.empty_like(self._params) if self.l1 else None
        self._init_state()

    def start_epoch(self, epoch: int) -> None:
        self.lr = self.schedule(epoch)

    def step(self) -> None:
        """One update θ ← θ − (the rule's step), from the gradient of the last backward pass."""
        self._update(self._params, self.gradient())

    def gradient(self) -> Array:
        """∇L + ∇R at the current θ: the last backward pass's ∇L (``flat_grads``) plus λ₂ w + λ₁ sign(w)
        on the weights; ``flat_grads`` itself when there is no R (a scratch array otherwise)."""
        if self._params is None:
            raise RuntimeError("bind(network) before step()")
        if not (self.weight_decay or self.l1):
            return self._grads
        g = self.penalty_gradient(out=self._scratch)
        g += self._grads  # ∇L + ∇R
        return g

    def penalty_gradient(self, out: Array | None = None) -> Array:
        """∇R(θ) = λ₂ w + λ₁ sign(w) on the weights, 0 on the biases (into ``out``, else a new array)."""
        if self._params is None:
            raise RuntimeError("bind(network) before penalty_gradient()")
        g = np.multiply(self._decay, self._params, out=out)  # λ₂ w
        if self._l1 is not None:
            np.sign(self._params, out=self._sign)
            self._sign *= self._l1
            g += self._sign  # + λ₁ sign(w)
        return g

    def penalty(self) -> float:
        """R(θ) = (λ₂/2) Σ w² + λ₁ Σ |w| over the weights: the term that weight_decay and l1 add to L."""
        if self._params is None:
            raise RuntimeError("bind(network) before penalty()")
        w = self._params[self._weights].astype(np.float64)
        return 0.5 * self.weight_decay * float(w @ w) + self.l1 * float(np.abs(w).sum())

    def state(self) -> dict[str, Any]:
        """The arrays and counters of `state_names` (after `bind`): what a checkpoint keeps."""
        if self._params is None:
            raise RuntimeError("bind(network) before state()")
        return {name: getattr(self, name) for name in self.state_names}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a `state` of an optimiser of this kind, bound to a network of this size."""
        for name, current in self.state().items():
            value = state.get(name)
            if isinstance(current, np.ndarray):
                same = isinstance(value, np.ndarray) and value.shape == current.shape
                if not same or value.dtype != current.dtype:
                    raise ValueError(f"optimizer state {name!r} must be {current.dtype} {current.shape}")
                np.copyto(current, value)
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"optimizer state {name!r} must be a count ≥ 0, got {value!r}")
            else:
                setattr(self, name, value)

    def _init_state(self) -> None:
        pass

    def _update(self, p: Array, g: Array) -> None:
        raise NotImplementedError

    def _l1_repr(self) -> str:
        return f", l1={self.l1}" if self.l1 else ""  # absent when 0: older checkpoints still resume

    def __repr__(self) -> str:
        decay = f"weight_decay={self.weight_decay}{self._l1_repr()}"
        return f"{type(self).__name__}(lr={self.schedule!r}, {decay})"


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum μ."""

    name = "sgd"
    state_names = ("velocity",)

    def __init__(
        self,
        lr: float | Schedule = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        l1: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay, l1)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and not momentum:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _init_state(self) -> None:
        self.velocity = np.zeros_like(self._params)
        self._step_buf = np.empty_like(self._params)

    def _update(self, p: Array, g: Array) -> None:
        step = np.multiply(g, self.lr, out=self._step_buf)  # η ∇L
        if not self.momentum:
            p -= step  # θ ← θ − η ∇L
            return
        v = self.velocity
        v *= self.momentum
        v -= step  # v ← μ v − η ∇L
        if self.nesterov:
            p -= step
            step = np.multiply(v, self.momentum, out=self._step_buf)
            p += step  # θ ← θ + μ v − η ∇L
        else:
            p += v

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.schedule!r}, momentum={self.momentum}, nesterov={self.nesterov}, "
            f"weight_decay={self.weight_decay}{self._l1_repr()})"
        )


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), with bias-corrected moments.

    The moments are kept as sums, m_sum = m / (1 − β₁) and v_sum = v / (1 − β₂), which obey
    m_sum ← β₁ m_sum + g and v_sum ← β₂ v_sum + g² and so take fewer passes over θ (see
    `_update`); a checkpoint keeps them as they are."""

    name = "adam"
    state_names = ("m_sum", "v_sum", "t")

    def __init__(
        self,
        lr: float | Schedule = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        l1: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay, l1)
        for what, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= beta < 1:
                raise ValueError(f"Adam {what} must be in [0, 1), got {beta!r}")
        if not eps > 0:
            raise ValueError(f"Adam eps must be > 0, got {eps!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    @property
    def m(self) -> Array:
        """The first moment m = (1 − β₁) m_sum (a new array)."""
        return self.m_sum * (1 - self.beta1)

    @property
    def v(self) -> Array:
        """The second moment v = (1 − β₂) v_sum (a new array)."""
        return self.v_sum * (1 - self.beta2)

    def load_state(self, state: dict[str, Any]) -> None:
        """As `Optimizer.load_state`; a state saved with the moments themselves (``m``, ``v``:
        checkpoints of chainrule before the moments became sums) is converted."""
        m, v = state.get("m"), state.get("v")
        if "m_sum" not in state and isinstance(m, np.ndarray) and isinstance(v, np.ndarray):
            state = {**state, "m_sum": m / (1 - self.beta1), "v_sum": v / (1 - self.beta2)}
        super().load_state(state)

    def _init_state(self) -> None:
        self.t = 0
        self.m_sum = np.zeros_like(self._params)
        self.v_sum = np.zeros_like(self._params)
        self._tmp = np.empty_like(self._params)

    def _update(self, p: Array, g: Array) -> None:
        # m ← β₁ m + (1 − β₁) g,  v ← β₂ v + (1 − β₂) g²,  θ ← θ − η m̂ / (√v̂ + ε),
        # m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ); with m = (1 − β₁) m_sum, v = (1 − β₂) v_sum,
        # s = √(1 − β₂) and c = √(1 − β₂ᵗ), the step is the same as
        #     θ ← θ − k m_sum / (√v_sum + ε c / s),   k = η (1 − β₁) c / ((1 − β₁ᵗ) s)
        # 10 passes over θ instead of 12.
        self.t += 1
        b1, b2, tmp = self.beta1, self.beta2, self._tmp
        self.m_sum *= b1
        self.m_sum += g  # m_sum ← β₁ m_sum + g
        np.multiply(g, g, out=tmp)
        self.v_sum *= b2
        self.v_sum += tmp  # v_sum ← β₂ v_sum + g²
        s, c = math.sqrt(1 - b2), math.sqrt(1 - b2**self.t)
        np.sqrt(self.v_sum, out=tmp)
        tmp += self.eps * c / s
        np.divide(self.m_sum, tmp, out=tmp)
        tmp *= self.lr * (1 - b1) * c / ((1 - b1**self.t) * s)
        p -= tmp

    def __repr__(self) -> str:
        return (
            f"Adam(lr={self.schedule!r}, beta1={self.beta1}, beta2={self.beta2}, eps={self.eps}, "
            f"weight_decay={self.weight_decay}{self._l1_repr()})"
        )


def optimizer(name: str | Optimizer, lr: float | Schedule | None = None, **kwargs: Any) -> Optimizer:
    """An optimiser from its name: ``sgd``, ``momentum`` (μ = 0.9), ``nesterov``, ``adam``."""
    if isinstance(name, Optimizer):
        if lr is not None or kwargs:
            raise ValueError("give lr and other settings to the optimizer object, not to fit as well")
        return name
    if name == "adam":
        return Adam(lr if lr is not None else 0.001, **kwargs)
    presets = {
        "sgd": {},
        "momentum": {"momentum": 0.9},
        "nesterov": {"momentum": 0.9, "nesterov": True},
    }
    if name not in presets:
        raise ValueError(f"unknown optimizer {name!r}: use one of sgd, momentum, nesterov, adam")
    return SGD(lr if lr is not None else 0.01, **{**presets[name], **kwargs})
