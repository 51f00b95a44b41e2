"""Preprocessing of a data set's rows: class labels as indices 0..K−1 (`encode_labels`), the
training / validation / test split (`split_indices`), and the standardiser

    x' = (x − mean) / scale

fitted on the training rows only and stored in ``network.metadata["standardize"]``, so that
whoever predicts from a model file applies the same transformation first (`standardize`)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.datafiles import DataError, _is_number

Array = np.ndarray
TASKS = ("auto", "classification", "regression")


# ------------------------------------------------------------------------------------- labels
class WordTargetsError(DataError):
    """Regression asked of a target that holds words."""


def encode_labels(raw: Array, task: str = "auto") -> tuple[Array, list[Any] | None]:
    """Class labels as indices 0..K−1 and the sorted classes (ints if every label is an integer,
    else strings), or, for regression, the float values and None.

    ``task="auto"`` takes numbers with a fractional part as regression targets and anything
    else (integers, words) as class labels."""
    if task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    raw = np.asarray(raw)
    if raw.dtype.kind in "UST":  # fixed-width or variable-width (StringDType) strings
        if (np.char.str_len(raw) == 0).any():
            r = int(np.argmax(np.char.str_len(raw) == 0))
            raise DataError(f"the target of row {r + 1} is empty: fill in or remove rows without a target")
        numbers = all(_is_number(v) for v in np.unique(raw))
        values = raw.astype(np.float64) if numbers else None
    else:
        values = raw.astype(np.float64)
    if values is not None and not np.isfinite(values).all():
        raise DataError("the target holds NaN or inf: remove or impute those rows")
    integral = values is not None and bool((values == np.round(values)).all())
    if task == "regression" or (task == "auto" and values is not None and not integral):
        if values is None:
            raise WordTargetsError(
                "task regression needs numeric targets, but the target holds words: "
                "use task= auto or classification"
            )
        return values, None
    if integral:
        classes, y = np.unique(values.astype(np.int64), return_inverse=True)
        if raw.dtype.kind in "UST":  # fixed-width or variable-width (StringDType) strings
            _warn_merged(raw, y, classes)
        return y.astype(np.intp), [int(c) for c in classes]
    classes, y = np.unique(raw, return_inverse=True)
    return y.astype(np.intp), [str(c) for c in classes]


def _warn_merged(raw: Array, y: Array, classes: Array) -> None:
    """Say so when labels written differently are one number, so one class ('07' and '7')."""
    spellings, first = np.unique(raw, return_index=True)
    if len(spellings) == len(classes):
        return
    per_class: dict[int, list[str]] = {}
    for text, k in zip(spellings.tolist(), y[first].tolist(), strict=True):
        per_class.setdefault(int(k), []).append(str(text).strip())
    for k, texts in per_class.items():
        if len(set(texts)) == 1:  # only spaces around it differ
            continue
        shown = " and ".join(repr(t) for t in sorted(set(texts))[:3])
        warnings.warn(
            f"the labels {shown} are the same number, {classes[k]}: they are taken as one class "
            "(give them names that are not numbers to keep them apart)",
            stacklevel=3,
        )
        return


def labels_to_indices(raw: Array, classes: Sequence[Any]) -> Array:
    """Original labels (as read from a file: strings or numbers) as indices into ``classes``."""
    lookup = {str(c): k for k, c in enumerate(classes)}
    keys = [str(v).strip() for v in np.asarray(raw).tolist()]
    unknown = sorted({k for k in keys if k not in lookup and _as_int(k) not in lookup})
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise DataError(
            f"labels {shown} are not classes of the model ({', '.join(map(str, classes))}): "
            "evaluate on data with the classes it was trained on"
        )
    return np.array([lookup.get(k, lookup.get(_as_int(k))) for k in keys], dtype=np.intp)


def _as_int(key: str) -> str:
    """'3.0' → '3': an integer label written as a float."""
    try:
        value = float(key)
    except ValueError:
        return key
    return str(int(value)) if value.is_integer() else key


# ------------------------------------------------------------------------------ standardising
@dataclass(frozen=True)
class Standardizer:
    """x' = (x − mean) / scale, per feature. ``scale`` is the standard deviation on the training
    rows (1 where a feature is constant)."""

    mean: Array
    scale: Array

    @classmethod
    def fit(cls, X: Array, per_feature: bool = True) -> Standardizer:
        """Fitted on the training rows; ``per_feature=False`` uses one mean and one scale for all
        features (pixels of images: a nearly blank border pixel is not blown up). Two passes of
        float64 sums over blocks of rows (no float64 copy of X, which ``X.std`` would make):

            mean = Σ_n x_n / N        scale² = Σ_n (x_n − mean)² / N"""
        X = np.asarray(X)
        axis = 0 if per_feature else None
        n = len(X) if per_feature else X.size
        if n == 0:
            raise DataError("the standardiser needs at least one training row: give more rows")
        total = sum((X[b].sum(axis=axis, dtype=np.float64) for b in _blocks(X)), np.zeros(()))
        mean = total / n
        squares = np.zeros_like(mean)
        for b in _blocks(X):
            deviation = np.subtract(X[b], mean, dtype=np.float64)
            squares += np.square(deviation, out=deviation).sum(axis=axis)
        return cls.from_moments(mean, np.sqrt(squares / n), X.shape[1:])

    @classmethod
    def from_moments(cls, mean: Any, std: Any, shape: tuple[int, ...]) -> Standardizer:
        """From the mean and standard deviation (per feature, or one of each for all features)
        spread to the features' ``shape``; the scale is 1 where the standard deviation is ~0."""
        mean, std = np.broadcast_to(mean, shape).copy(), np.broadcast_to(std, shape).copy()
        return cls(mean, np.where(std > 1e-12, std, 1.0))

    def __call__(self, X: Array, dtype: Any = None) -> Array:
        """x' = (x − mean) / scale as a new array of ``dtype`` (by default X's precision, float64
        for integer X), computed block by block in a precision that holds x exactly (float64 when
        ``dtype`` does not) and only then rounded to ``dtype``: a feature far from 0 (a timestamp
        of 1.7e12 with a spread of 60) keeps its digits, which a float32 copy of x would lose
        before the mean is taken away. The result is the only array
        of X's size made (uint8 pixels to float32 take 4 bytes a value, never 8)."""
        X = np.asarray(X)
        if dtype is None:
            dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DataError(f"dtype must be a floating-point type such as float32, got {dtype}")
        out = np.empty(X.shape, dtype=dtype)
        wide = dtype if np.can_cast(X.dtype, dtype) else np.dtype(np.float64)  # x exact in it
        mean, scale = self.mean.astype(wide), self.scale.astype(wide)
        for b in _blocks(X):
            block = out[b] if wide == dtype else np.empty(out[b].shape, wide)
            np.subtract(X[b], mean, out=block, dtype=wide)
            np.divide(block, scale, out=out[b], casting="same_kind")
        return out

    def to_metadata(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_metadata(cls, entry: Any, n_features: int) -> Standardizer:
        try:
            mean = np.asarray(entry["mean"], dtype=np.float64)
            scale = np.asarray(entry["scale"], dtype=np.float64)
        except (TypeError, KeyError, ValueError):
            raise DataError("the model's standardize entry is not {mean: [...], scale: [...]}") from None
        if mean.shape != (n_features,) or scale.shape != (n_features,) or not (scale > 0).all():
            raise DataError(
                f"the model's standardize entry does not fit its {n_features} inputs: the file is damaged"
            )
        return cls(mean, scale)


def _blocks(X: Array, values: int = 1 << 20) -> Iterator[slice]:
    """Slices of about ``values`` values of X along its first axis (at least one row each)."""
    rows = max(1, values // max(1, int(np.prod(X.shape[1:], dtype=np.int64))))
    return (slice(start, start + rows) for start in range(0, len(X), rows))


def standardize(X: Array, metadata: dict[str, Any]) -> Array:
    """Apply a model file's ``metadata["standardize"]`` (if any) to raw features X."""
    entry = metadata.get("standardize")
    if entry is None:
        return X
    return Standardizer.from_metadata(entry, np.shape(X)[1])(X)


# ------------------------------------------------------------------------------------ splits
def split_indices(
    y: Array, test_fraction: float, val_fraction: float, seed: int | None, stratify: bool = True
) -> tuple[Array, Array, Array]:
    """Train, validation and test row indices: ``test_fraction`` of all rows for testing,
    ``val_fraction`` of the rest for validation, per class when ``stratify``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    groups = [order[y[order] == c] for c in np.unique(y)] if stratify else [order]
    parts: tuple[list[Array], list[Array], list[Array]] = ([], [], [])
    for g in groups:
        n_test = round(len(g) * test_fraction)
        n_val = round((len(g) - n_test) * val_fraction)
        parts[0].append(g[n_test + n_val :])
        parts[1].append(g[n_test : n_test + n_val])
        parts[2].append(g[:n_test])
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]
