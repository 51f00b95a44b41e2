"""The batches of an epoch: the rows in shuffled (or given) order, ``batch_size`` at a time.

The hot loop allocates nothing per batch: a batch is gathered from the shuffled row order into
a reused buffer with ``np.take(..., out=...)``, never a shuffled copy of the data set.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from chainrule.base import Array


class Batches:
    """The batches of an epoch. Shuffled batches are gathered row by row from a permutation into
    two buffers made once (``X.take(rows, out=...)``): never a shuffled copy of the data set."""

    def __init__(self, X: Array, y: Array, batch_size: int | None, shuffle: bool) -> None:
        self.X, self.y, self.n = X, y, len(X)
        self.size = self.n if batch_size is None else min(batch_size, self.n)
        self.count = -(-self.n // self.size)  # batches per epoch
        self.gather = shuffle and self.size < self.n  # a full batch is the same sum in any order
        if self.gather:
            self.order = np.arange(self.n)
            self.X_buf = np.empty((self.size, *X.shape[1:]), dtype=X.dtype)
            self.y_buf = np.empty((self.size, *y.shape[1:]), dtype=y.dtype)

    def epoch(self, rng: np.random.Generator, first: int = 0) -> Iterator[tuple[Array, Array]]:
        """The batches from batch ``first`` on; a resumed epoch (``first`` > 0) keeps its order."""
        if self.gather and not first:
            rng.shuffle(self.order)
        for start in range(first * self.size, self.n, self.size):
            if not self.gather:
                yield self.X[start : start + self.size], self.y[start : start + self.size]
                continue
            rows = self.order[start : start + self.size]
            # mode="clip": the rows are a permutation, always in range, and numpy buffers (and
            # so copies twice) when it must check them, as with the default mode="raise"
            yield (
                self.X.take(rows, axis=0, out=self.X_buf[: len(rows)], mode="clip"),
                self.y.take(rows, axis=0, out=self.y_buf[: len(rows)], mode="clip"),
            )
