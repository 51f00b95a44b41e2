"""Sparse inputs x (scipy CSR): a data set such as TF-IDF features is never densified. The first
layer's products take the stored entries only, z = x W + b and ∂L/∂W = xᵀ δ (`chainrule.layers.Dense`),
and a batch is the CSR matrix of its rows (`chainrule.batches`). scipy is not imported here: a
sparse matrix brings its own methods."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_sparse(X: Any) -> bool:
    """Whether X is a scipy sparse matrix or array."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def check_sparse(X: Any, n_features: int, dtype: np.dtype) -> Any:
    """A sparse X as CSR of ``dtype``, its stored values checked for NaN and inf (never densified)."""
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != n_features:
        raise ValueError(f"X must be a non-empty (n_samples, {n_features}) matrix, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold numbers, got a sparse matrix of {X.dtype}")
    with np.errstate(over="ignore"):
        X = X.tocsr().astype(dtype, copy=False)
    if not np.isfinite(X.data).all():
        raise ValueError(
            f"X contains NaN or inf (or values too large for {dtype.name}): remove or impute them"
        )
    return X
