"""The batches of an epoch: the rows in shuffled (or given) order, ``batch_size`` at a time.

The hot loop allocates nothing per batch: a batch is gathered from the shuffled row order into
a reused buffer with ``np.take(..., out=...)``, never a shuffled copy of the data set. A sparse
(CSR) X is gathered as the CSR matrix of the batch's rows: only a batch is ever copied.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from chainrule.base import Array


class Batches:
    """The batches of an epoch: (X, y), or (X, y, s) with a weight s_n per row. Shuffled batches
    are gathered row by row from a permutation into buffers made once (``X.take(rows,
    out=...)``): never a shuffled copy of the data set."""

    def __init__(
        self, X: Array, y: Array, batch_size: int | None, shuffle: bool, s: Array | None = None
    ) -> None:
        self.X, self.y, self.s, self.n = X, y, s, X.shape[0]
        self.size = self.n if batch_size is None else min(batch_size, self.n)
        self.count = -(-self.n // self.size)  # batches per epoch
        self.gather = shuffle and self.size < self.n  # a full batch is the same sum in any order
        if self.gather:
            self.order = np.arange(self.n)
            self.X_buf = _buffer(X, self.size)  # None for a sparse X: its batch is a new CSR matrix
            self.y_buf = _buffer(y, self.size)
            self.s_buf = None if s is None else _buffer(s, self.size)

    def epoch(self, rng: np.random.Generator, first: int = 0) -> Iterator[tuple[Array, ...]]:
        """The batches from batch ``first`` on; a resumed epoch (``first`` > 0) keeps its order."""
        if self.gather and not first:
            rng.shuffle(self.order)
        X, y, s, size = self.X, self.y, self.s, self.size
        for start in range(first * size, self.n, size):
            if not self.gather:
                stop = start + size
                yield (
                    (X[start:stop], y[start:stop])
                    if s is None
                    else (X[start:stop], y[start:stop], s[start:stop])
                )
                continue
            rows = self.order[start : start + size]
            Xb, yb = _take(X, rows, self.X_buf), _take(y, rows, self.y_buf)
            yield (Xb, yb) if s is None else (Xb, yb, _take(s, rows, self.s_buf))


def _buffer(a: Array, size: int) -> Array | None:
    """The buffer a batch of ``a``'s rows is gathered into, made once (None for a sparse matrix)."""
    return np.empty((size, *a.shape[1:]), dtype=a.dtype) if isinstance(a, np.ndarray) else None


def _take(a: Array, rows: Array, buf: Array | None) -> Array:
    """The rows of ``a`` into ``buf``. mode="clip": the rows are a permutation, always in range,
    and numpy buffers (and so copies twice) when it must check them, as with mode="raise"."""
    if buf is None:
        return a[rows]  # a sparse matrix: the CSR matrix of these rows
    return a.take(rows, axis=0, out=buf[: len(rows)], mode="clip")
