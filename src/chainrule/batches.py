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
        self.X, self.y, self.n = X, y, X.shape[0]
        self.arrays = (X, y) if s is None else (X, y, s)
        self.size = self.n if batch_size is None else min(batch_size, self.n)
        self.count = -(-self.n // self.size)  # batches per epoch
        self.gather = shuffle and self.size < self.n  # a full batch is the same sum in any order
        if self.gather:
            self.order = np.arange(self.n)
            self.buffers = tuple(
                np.empty((self.size, *a.shape[1:]), dtype=a.dtype) if isinstance(a, np.ndarray) else None
                for a in self.arrays
            )

    def epoch(self, rng: np.random.Generator, first: int = 0) -> Iterator[tuple[Array, ...]]:
        """The batches from batch ``first`` on; a resumed epoch (``first`` > 0) keeps its order."""
        if self.gather and not first:
            rng.shuffle(self.order)
        arrays, size = self.arrays, self.size
        pairs = list(zip(arrays, self.buffers, strict=True)) if self.gather else []
        for start in range(first * size, self.n, size):
            if not self.gather:
                yield tuple([a[start : start + size] for a in arrays])
                continue
            rows = self.order[start : start + size]
            m = len(rows)
            # mode="clip": the rows are a permutation, always in range, and numpy buffers (and
            # so copies twice) when it must check them, as with the default mode="raise"
            yield tuple(
                [
                    a.take(rows, axis=0, out=buf[:m], mode="clip") if buf is not None else a[rows]
                    for a, buf in pairs
                ]
            )
