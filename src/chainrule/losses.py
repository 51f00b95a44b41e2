"""Losses L(θ) = Σ_n C^n(θ) (``reduction="sum"``, the seeds' L) or its mean over the batch
(``reduction="mean"``, the default), and the output layer's δ^(O) = ∂L/∂z^(O) that starts the
backward pass (seed 002):

    δ^(O) = ∂C/∂a^(O) ⊙ σ'(z^(O))

Each loss owns its value ``value`` and its ``delta`` (as Nielsen's cost classes do). Cross
entropy on a softmax output and binary cross entropy on a sigmoid output fold σ'(z) into ∂C/∂a,
which leaves the famous δ^(O) = a − y; squared error works with any output activation.

Row weights s_n (optional, ``s``): L = Σ_n s_n C^n, or its weighted mean Σ_n s_n C^n / Σ_n s_n.
A loss is a sum over rows, so each row's δ^(O)_n is scaled the same way, δ^(O)_n ← s_n δ^(O)_n
(and by 1 / Σ_n s_n for the mean): the batch's n is its rows, or Σ_n s_n with weights.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from chainrule.activations import Activation, Exp, Sigmoid, Softmax
from chainrule.base import Array, Buffered

REDUCTIONS = ("mean", "sum")
_INTP = np.dtype(np.intp)


class Loss(Buffered):
    """A loss C^n(a, y) of one example, summed or averaged over the batch."""

    name: ClassVar[str] = ""
    output: ClassVar[type[Activation] | None] = None  # the output activation it needs, if any
    classifier: ClassVar[bool] = False

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"unknown reduction {reduction!r}: use 'mean' or 'sum'")
        super().__init__()
        self.reduction = reduction

    def config(self) -> dict[str, Any]:
        return {"type": self.name, "reduction": self.reduction}

    def total(self, out: Activation, y: Array, s: Array | None = None) -> float:
        """Σ_n s_n C^n over the rows of the last forward pass (``out`` is the output activation;
        s_n = 1 without row weights ``s``)."""
        raise NotImplementedError

    def value(self, out: Activation, y: Array, s: Array | None = None) -> float:
        """L: Σ_n s_n C^n, or its mean Σ_n s_n C^n / Σ_n s_n with ``reduction="mean"``."""
        return self.total(out, y, s) * self.scale(count(y, s))

    def delta(self, out: Activation, y: Array, s: Array | None = None) -> Array:
        """δ^(O) = ∂L/∂z^(O) (row n times s_n), in an array the loss owns until its next call."""
        raise NotImplementedError

    def value_and_delta(self, out: Activation, y: Array, s: Array | None = None) -> tuple[float, Array]:
        """L and δ^(O) together: what a training step needs (a loss may share work between them)."""
        return self.value(out, y, s), self.delta(out, y, s)

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> Array:
        """Check ``y`` and return it in the form `total` and `delta` take."""
        raise NotImplementedError

    def predict(self, a: Array) -> Array:
        """The prediction read off the output a: class labels, or a itself for regression."""
        return a

    def correct(self, a: Array, y: Array) -> int:
        """How many rows are predicted right (classifiers only)."""
        raise TypeError(f"{self.name} is not a classification loss: it has no accuracy")

    def scale(self, n: float) -> float:
        """L / Σ_n s_n C^n for a batch of n rows (n = Σ_n s_n with row weights): 1/n for the mean
        (0 for n = 0: a batch of zero weight counts nothing), 1 for the sum."""
        if self.reduction == "sum":
            return 1.0
        return 1.0 / n if n else 0.0

    def _weigh(self, d: Array, y: Array, s: Array | None) -> Array:
        """δ^(O) ← scale · δ^(O), row n times s_n with row weights (in place, no new array)."""
        if s is None:
            d *= self.scale(len(y))
            return d
        w = self._buffer("s", s.shape, d.dtype)
        np.multiply(s, self.scale(float(s.sum())), out=w)  # s_n / Σ_m s_m for the mean
        d *= w[:, None]
        return d

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


def count(y: Array, s: Array | None) -> float:
    """The batch's n: its rows, or Σ_n s_n with row weights."""
    return len(y) if s is None else float(s.sum())


def _float_targets(y: Any, n_outputs: int, dtype: np.dtype, what: str) -> Array:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{what} targets must be numbers, got an array of {y.dtype}")
    if y.ndim == 1 and n_outputs == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(
            f"{what} targets must have shape (n_samples, {n_outputs}) to match the network's "
            f"{n_outputs} output(s), got shape {y.shape}"
        )
    y = np.ascontiguousarray(y, dtype=dtype)
    if not np.isfinite(y).all():
        raise ValueError(f"{what} targets contain NaN or inf: remove or impute those rows")
    return y


class CrossEntropy(Loss):
    """C^n = −Σ_k y_k log a_k on a softmax output a = softmax(z).

    Computed as log Σ_j e^(z_j) − Σ_k y_k z_k (log-sum-exp: no log(0), no overflow), and
        δ^(O) = a − y          (softmax's Jacobian times −y/a, simplified)
    Targets: integer class labels 0..K−1 (kept as integers, no one-hot matrix), or rows of class
    probabilities (one-hot or soft labels).
    """

    name = "cross_entropy"
    output = Softmax
    classifier = True

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> Array:
        y = np.asarray(y)
        if y.ndim == 2:
            y = _float_targets(y, n_outputs, dtype, "cross-entropy")
            if (y < 0).any() or not np.allclose(y.sum(axis=1), 1, atol=1e-4):
                raise ValueError(
                    "2-D cross-entropy targets must be rows of class probabilities (one-hot or "
                    "soft labels, each row summing to 1); for class labels pass a 1-D integer array"
                )
            return y
        if y.ndim != 1:
            raise ValueError(f"class labels must be a 1-D array, got shape {y.shape}")
        if y.dtype.kind == "f":
            if not np.isfinite(y).all():
                raise ValueError("class labels contain NaN or inf: remove those rows")
            if (y != np.round(y)).any():
                raise ValueError("class labels must be whole numbers 0..K-1, got fractional values")
        elif y.dtype.kind not in "biu":
            raise TypeError(
                f"class labels must be integers 0..{n_outputs - 1}, got an array of {y.dtype}; "
                "map string labels to integers first"
            )
        labels = y.astype(np.intp)
        if len(labels) and (labels.min() < 0 or labels.max() >= n_outputs):
            raise ValueError(
                f"class labels must lie in 0..{n_outputs - 1} for a network with {n_outputs} "
                f"outputs, got values from {labels.min()} to {labels.max()}"
            )
        return labels

    def _resize(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        """Views for an output of ``shape`` (made again only when it changes): δ^(O), and the
        row offsets 0, K, 2K, ... and flat indices n·K + y_n of each row's true class."""
        super()._resize(shape, dtype)
        n, k = shape
        self._starts = np.arange(n) * k
        self._idx = self._buffer("idx", (n,), _INTP)
        self._d = self._buffer("delta", shape, dtype)

    def _label_index(self, out: Activation, y: Array) -> Array | None:
        """Flat indices n·K + y_n of each row's true class, for integer labels (a gather, no
        one-hot matrix); None for rows of class probabilities."""
        a = out.a
        if a.shape != self._shape or a.dtype is not self._dtype:
            self._resize(a.shape, a.dtype)
        return np.add(self._starts, y, out=self._idx) if y.ndim == 1 else None

    def total(self, out: Activation, y: Array, s: Array | None = None) -> float:
        return self._total(out, y, self._label_index(out, y), s)

    def delta(self, out: Activation, y: Array, s: Array | None = None) -> Array:
        return self._delta(out, y, self._label_index(out, y), s)

    def value_and_delta(self, out: Activation, y: Array, s: Array | None = None) -> tuple[float, Array]:
        idx = self._label_index(out, y)  # the true classes' places, found once for L and δ
        return self._total(out, y, idx, s) * self.scale(count(y, s)), self._delta(out, y, idx, s)

    def _total(self, out: Activation, y: Array, idx: Array | None, s: Array | None) -> float:
        assert isinstance(out, Softmax)
        z, lse = out.z, out.log_sum_exp
        if idx is not None:  # Σ_n s_n (log Σ_j e^(z_nj) − z_n,y_n)
            if s is None:
                return float(lse.sum() - z.ravel()[idx].sum())
            return float(lse @ s - z.ravel()[idx] @ s)
        rows = lse * y.sum(axis=1) - np.einsum("ij,ij->i", y, z)
        return float(rows.sum() if s is None else rows @ s)

    def _delta(self, out: Activation, y: Array, idx: Array | None, s: Array | None) -> Array:
        d = self._d  # made by _label_index, which comes first
        d[...] = out.a
        if idx is not None:
            d.ravel()[idx] -= 1  # a − y with y one-hot
        else:
            d -= y
        return self._weigh(d, y, s)  # (a − y) / N, or s_n (a − y) / Σ s

    def predict(self, a: Array) -> Array:
        return a.argmax(axis=1)

    def correct(self, a: Array, y: Array) -> int:
        labels = y if y.ndim == 1 else y.argmax(axis=1)
        return int(np.count_nonzero(a.argmax(axis=1) == labels))


class BinaryCrossEntropy(Loss):
    """C^n = −Σ_k [y_k log a_k + (1 − y_k) log(1 − a_k)] on a sigmoid output a = σ(z).

    Computed as Σ_k softplus(z_k) − y_k z_k (never log(0), never overflows), and
        δ^(O) = a − y
    One output for binary labels 0/1, K outputs for K independent labels (multi-label).
    """

    name = "binary_cross_entropy"
    output = Sigmoid
    classifier = True

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> Array:
        y = _float_targets(y, n_outputs, dtype, "binary cross-entropy")
        if ((y < 0) | (y > 1)).any():
            raise ValueError("binary cross-entropy targets must lie in [0, 1] (labels 0 or 1)")
        return y

    def total(self, out: Activation, y: Array, s: Array | None = None) -> float:
        z = out.z
        # softplus(z) = log(1 + e^z) = max(z, 0) + log(1 + e^(−|z|))
        softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        if s is None:
            return float(softplus.sum() - np.einsum("ij,ij->", y, z))
        return float((softplus.sum(axis=1) - np.einsum("ij,ij->i", y, z)) @ s)

    def delta(self, out: Activation, y: Array, s: Array | None = None) -> Array:
        d = self._buffer("delta", out.a.shape, out.a.dtype)
        np.subtract(out.a, y, out=d)
        return self._weigh(d, y, s)

    def predict(self, a: Array) -> Array:
        labels = (a > 0.5).astype(np.intp)
        return labels[:, 0] if labels.shape[1] == 1 else labels

    def correct(self, a: Array, y: Array) -> int:
        """Rows whose every label is right (subset accuracy, as scikit-learn counts it)."""
        return int(np.count_nonzero(((a > 0.5) == (y > 0.5)).all(axis=1)))


class SquaredError(Loss):
    """C^n = ½ Σ_k (a_k − y_k)², with any output activation (seed 002):

    δ^(O) = (a − y) ⊙ σ'(z)
    """

    name = "squared_error"

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> Array:
        return _float_targets(y, n_outputs, dtype, "regression")

    def total(self, out: Activation, y: Array, s: Array | None = None) -> float:
        r = out.a - y
        if s is None:
            return 0.5 * float(np.einsum("ij,ij->", r, r))
        return 0.5 * float(np.einsum("ij,ij->i", r, r) @ s)

    def delta(self, out: Activation, y: Array, s: Array | None = None) -> Array:
        d = self._buffer("delta", out.a.shape, out.a.dtype)
        np.subtract(out.a, y, out=d)  # ∂C/∂a
        return out.backward(self._weigh(d, y, s))  # ⊙ σ'(z)


class Poisson(Loss):
    """Half the Poisson deviance on an exponential output a = e^z (the log link), scikit-learn's
    ``loss="poisson"``:

        C^n = Σ_k y_k log(y_k / a_k) − y_k + a_k        (y log y = 0 at y = 0)
        δ^(O) = ∂C/∂a ⊙ σ'(z) = (1 − y/a) ⊙ a = a − y

    Computed from z as y (log y − z) − y + e^z, so a saturated a never meets log(0). Targets y ≥ 0.
    """

    name = "poisson"
    output = Exp

    def targets(self, y: Any, n_outputs: int, dtype: np.dtype) -> Array:
        y = _float_targets(y, n_outputs, dtype, "Poisson")
        if (y < 0).any():
            raise ValueError("Poisson targets must be ≥ 0 (counts, rates)")
        return y

    def total(self, out: Activation, y: Array, s: Array | None = None) -> float:
        z, a = out.z, out.a
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0)
        rows = (ylogy - y * z - y + a).sum(axis=1)
        return float(rows.sum() if s is None else rows @ s)

    def delta(self, out: Activation, y: Array, s: Array | None = None) -> Array:
        d = self._buffer("delta", out.a.shape, out.a.dtype)
        np.subtract(out.a, y, out=d)  # (1 − y/a) · a: σ'(z) = a folded in
        return self._weigh(d, y, s)


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (CrossEntropy, BinaryCrossEntropy, SquaredError, Poisson)
}
LOSSES["mse"] = SquaredError
LOSSES["bce"] = BinaryCrossEntropy
LOSSES["ce"] = CrossEntropy


def loss(name: str | Loss, reduction: str | None = None) -> Loss:
    """A loss from its name (``"cross_entropy"``, ``"binary_cross_entropy"``, ``"squared_error"``,
    ``"poisson"``)."""
    if isinstance(name, Loss):
        if reduction is not None and reduction != name.reduction:
            raise ValueError("give the reduction either in the Loss object or as reduction=, not both")
        return name
    if not isinstance(name, str) or name.lower() not in LOSSES:
        raise ValueError(f"unknown loss {name!r}: use one of {', '.join(sorted(LOSSES))}")
    return LOSSES[name.lower()](reduction or "mean")
