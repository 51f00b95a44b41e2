"""Where the rows live and how sums are taken: one process (`Local`) or N MPI ranks (`MPIWorld`).

The loss is a sum over the examples, L(θ) = Σ_n C^n(θ), and so is its gradient (seeds 001, 003):

    ∂L/∂w = Σ_n ∂C^n/∂w = Σ_r Σ_{n on rank r} ∂C^n/∂w

so N processes can each hold a shard of the rows and add their sums. A `World` is that choice:
which rows this process reads (`shard`), sums over the processes (`sum`), the fingerprint of all
rows (`digest`), which process writes files and prints (`root`), and, for the fit loop of
`chainrule.training`, one step of a (global) batch: forward and backward passes on this process's
rows of it, then the sum of the gradients. `Local` is one process, whose sums are its own;
`MPIWorld` wraps an MPI communicator (mpi4py is imported only when one is made).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.base import Array
from chainrule.batches import Batches
from chainrule.layers import Dropout
from chainrule.network import Network

# Launchers set these in every process they start (MPICH/Hydra, Slurm's srun with PMI or PMIx,
# Open MPI, MVAPICH): with a size above 1, this process is one rank of a parallel job.
MPI_SIZE_VARIABLES = ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def shard_bounds(n_rows: int, rank: int, size: int) -> tuple[int, int]:
    """Rows [start, stop) of rank ``rank`` of ``size``: contiguous blocks in rank order, the first
    ``n_rows % size`` ranks holding one row more (as ``np.array_split``)."""
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank must be in 0..size-1 with size ≥ 1, got rank {rank} of size {size}")
    if n_rows < 0:
        raise ValueError(f"n_rows must be ≥ 0, got {n_rows}")
    base, extra = divmod(n_rows, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class World:
    """The processes that train one model together; this one is ``rank`` of ``size``."""

    rank: int = 0
    size: int = 1
    signals: bool = True  # SIGINT and SIGTERM save and stop a checkpointed run
    row_weights: bool = True  # fit's sample_weight and penalty

    @property
    def root(self) -> bool:
        """Whether this process writes the files and prints (rank 0)."""
        return self.rank == 0

    def shard(self, n_rows: int) -> slice:
        """This process's rows of ``n_rows`` (`shard_bounds`)."""
        return slice(*shard_bounds(n_rows, self.rank, self.size))

    # ------------------------------------------------------------------- sums and messages
    def sum(self, values: Array) -> Array:
        """``values`` (float64 or int64) summed over the processes, in place."""
        return values

    def offset_and_total(self, n: int) -> tuple[int, int]:
        """The index of this process's first row among all, and the rows of all processes."""
        return 0, n

    def digest(self, hexdigest: str) -> str:
        """The fingerprint of all processes' rows from each one's SHA-256 ``hexdigest``."""
        return hexdigest

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (JSON) on every process."""
        return value

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (JSON), in rank order."""
        return [value]

    def concat(self, values: Array) -> Array:
        """The processes' 1-D arrays end to end, in rank order."""
        return values

    @contextlib.contextmanager
    def abort_on_error(self) -> Iterator[None]:
        """Raise an error as usual (`MPIWorld` ends every rank instead)."""
        yield

    # ------------------------------------------------------------------- the fit loop's part
    def start(self, network: Network) -> None:
        """Before the first step: every process holds the same weights and generator."""

    def stop(self, network: Network) -> None:
        """After the last step."""

    def rows(self, network: Network, X: Any, y: Any, what: str) -> tuple[Array, Array]:
        """This process's rows, checked against the network."""
        X = network.check_X(X)
        return X, network.check_y(y, X.shape[0])

    def batches(
        self, X: Array, y: Array, batch_size: int | None, shuffle: bool, s: Array | None = None
    ) -> Batches:
        """The batches of an epoch, each (X, y) or, with row weights ``s``, (X, y, s)."""
        return Batches(X, y, batch_size, shuffle, s)

    def step(
        self,
        network: Network,
        batch: tuple[Array, ...],
        index: int,
        penalty: Callable[[float], float] | None = None,
        accuracy: bool = True,
    ) -> tuple[float, float, int, int]:
        """One step on a batch: (L of the batch, L / scale(rows), correctly classified rows, rows),
        with ∇L in ``network.flat_grads``; L / scale(rows) is Σ_n C^n without weights or penalty.
        ``index`` is the number of steps before this one; ``accuracy=False`` counts no right
        predictions (no argmax)."""
        if len(batch) == 2:
            (Xb, yb), s = batch, None
        else:  # with a weight per row
            Xb, yb, s = batch
        value = network.train_step(Xb, yb, s, penalty)
        loss, n = network.loss, len(yb)
        correct = loss.correct(network.output.a, yb) if loss.classifier and accuracy else 0
        return value, value / loss.scale(n), correct, n

    def evaluate(self, network: Network, X: Array, y: Array) -> dict[str, float]:
        """The loss (and accuracy) over all processes' rows X, y."""
        return network._evaluate(X, y)


class Local(World):
    """One process: it holds every row, and its sums are its own."""

    def __repr__(self) -> str:
        return "Local()"


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            "distributed training needs mpi4py: pip install 'chainrule[mpi]' (or mpi4py built "
            "against your cluster's MPI)"
        ) from None
    return MPI


class MPIWorld(World):
    """N MPI processes (``comm``, default ``MPI.COMM_WORLD``), each holding a shard of the rows.

    A step takes this rank's rows of a global batch (drawn from one seeded permutation of all
    the rows, the same on every rank), runs the forward and backward passes on them, and one
    ``Allreduce`` adds the ranks' gradients: every rank then holds ∇L of the whole batch and
    applies the identical update, so the copies never drift apart."""

    signals = False  # a signal may reach the ranks after different batches: mpiexec ends the job
    row_weights = False

    def __init__(self, comm: Any = None) -> None:
        self.MPI = _mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.rank, self.size = self.comm.rank, self.comm.size
        self.stats = np.zeros(3)
        self.dropouts: list[Dropout] = []

    def __repr__(self) -> str:
        return f"MPIWorld(rank {self.rank} of {self.size})"

    def sum(self, values: Array) -> Array:
        self.comm.Allreduce(self.MPI.IN_PLACE, values, op=self.MPI.SUM)
        return values

    def offset_and_total(self, n: int) -> tuple[int, int]:
        counts = np.zeros(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([n], dtype=np.int64), counts)
        return int(counts[: self.rank].sum()), int(counts.sum())

    def digest(self, hexdigest: str) -> str:
        """A SHA-256 of the ranks' own, in rank order."""
        mine = np.frombuffer(bytes.fromhex(hexdigest), dtype=np.uint8)
        every = np.empty(self.size * len(mine), dtype=np.uint8)
        self.comm.Allgather(mine, every)
        return hashlib.sha256(every.tobytes()).hexdigest()

    def broadcast(self, value: Any) -> Any:
        """Sent as JSON text, never pickle."""
        data = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8) if self.root else None
        size = np.array([0 if data is None else len(data)], dtype=np.int64)
        self.comm.Bcast(size, root=0)
        buf = data.copy() if data is not None else np.empty(int(size[0]), dtype=np.uint8)
        self.comm.Bcast(buf, root=0)
        return json.loads(buf.tobytes())

    def gather(self, value: Any) -> list[Any]:
        """Sent as JSON text, never pickle."""
        mine = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
        every = self.concat(mine)
        sizes = self.concat(np.array([len(mine)], dtype=np.int64))
        bounds = np.append(0, np.cumsum(sizes)).tolist()
        return [json.loads(every[a:b].tobytes()) for a, b in itertools.pairwise(bounds)]

    def concat(self, values: Array) -> Array:
        counts = np.zeros(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([len(values)], dtype=np.int64), counts)
        every = np.empty(int(counts.sum()), dtype=values.dtype)
        self.comm.Allgatherv(np.ascontiguousarray(values), [every, counts])
        return every

    @contextlib.contextmanager
    def abort_on_error(self) -> Iterator[None]:
        """With several ranks, an error on one prints its message and aborts them all: the
        others would otherwise wait for it in their next collective forever."""
        try:
            yield
        except Exception as e:
            if self.size == 1:
                raise
            if not isinstance(e, ValueError | TypeError | OSError | FloatingPointError):
                traceback.print_exc()  # a bug, not bad input: show where
            print(f"chainrule: rank {self.rank} of {self.size}: {type(e).__name__}: {e}", file=sys.stderr)
            self.abort(1)

    def abort(self, status: int) -> None:
        """End every rank with ``status`` (``MPI_Abort``), once the launcher has had a moment to
        pass on what this rank printed (it drops what is still in flight when the job ends)."""
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.2)
        self.comm.Abort(status)

    # ------------------------------------------------------------------- the fit loop's part
    def start(self, network: Network) -> None:
        """Rank 0's weights and generator (the batch permutation) on every rank."""
        self.comm.Bcast(network.flat_params, root=0)
        network.rng.bit_generator.state = self.broadcast(network.rng.bit_generator.state)
        # with one process, dropout draws from the network's generator, as in chainrule.fit
        self.dropouts = [la for la in network.layers if isinstance(la, Dropout)] if self.size > 1 else []

    def stop(self, network: Network) -> None:
        for layer in self.dropouts:
            layer.rng = network.rng
        self.dropouts = []

    def rows(self, network: Network, X: Any, y: Any, what: str) -> tuple[Array, Array]:
        """X and y as `Network.check_X`/`check_y` give them, except that a shard may be empty."""
        X = np.asarray(X)
        if X.ndim == 2 and len(X) == 0:
            if X.shape[1] != network.n_features:
                raise ValueError(
                    f"{what} has {X.shape[1]} features but the network expects {network.n_features}"
                )
            X = np.empty((0, network.n_features), dtype=network.dtype)
        else:
            X = network.check_X(X)
        y = network.check_y(y, len(X))
        if self.offset_and_total(len(X))[1] == 0:
            raise ValueError(f"{what} is empty on every rank: give the ranks the rows of the data set")
        return X, y

    def batches(
        self, X: Array, y: Array, batch_size: int | None, shuffle: bool, s: Array | None = None
    ) -> Parts:
        start, n = self.offset_and_total(len(X))
        return Parts(X, y, start, n, batch_size, shuffle)

    def step(
        self,
        network: Network,
        batch: tuple[Array, ...],
        index: int,
        penalty: Callable[[float], float] | None = None,
        accuracy: bool = True,
    ) -> tuple[float, float, int, int]:
        """Of the global batch, summed over the ranks (no row weights, no penalty)."""
        Xb, yb, n = batch
        if self.dropouts:
            self.own_masks(network, index)
        stats = self.reduced_step(network, Xb, yb, n)
        return stats[0] * network.loss.scale(n), stats[0], int(stats[1]), n

    def reduced_step(self, network: Network, X: Array, y: Array, n_total: int) -> Array:
        """Forward and backward passes on this rank's ``len(y)`` rows of a global batch of
        ``n_total`` rows (possibly none), then ``Allreduce``: ∇L of the whole batch in
        ``network.flat_grads`` on every rank, and [Σ_n C^n, right predictions, rows] returned.

        Each rank's ∇L_r (the mean over its rows, or their sum) is first scaled by
        scale(n_total) / scale(n_r), so that the sum over the ranks is the global batch's."""
        loss, grads, n, stats = network.loss, network.flat_grads, len(y), self.stats
        stats[:] = 0.0, 0.0, n
        if n:
            stats[0] = network.train_step(X, y) / loss.scale(n)  # Σ_n C^n over this rank's rows
            if loss.classifier:
                stats[1] = loss.correct(network.output.a, y)
            factor = loss.scale(n_total) / loss.scale(n)  # n_r / n_total for the mean, 1 for the sum
            if factor != 1.0:
                grads *= factor
        else:
            grads.fill(0.0)  # an empty part of the batch adds nothing to Σ_n ∂C^n/∂w
        self.sum(grads)
        self.sum(stats)
        return stats

    def own_masks(self, network: Network, index: int) -> None:
        """This rank's dropout masks of step ``index``: from the network's generator jumped
        1 + rank + size · index times, a stream of its own for every (rank, step).

        Within a run the generator only shuffles, at the start of an epoch, and a checkpoint
        keeps it: so the masks are a function of the run's position, and a resumed run draws
        those that the uninterrupted run drew."""
        jumps = 1 + self.rank + self.size * index
        own = np.random.Generator(network.rng.bit_generator.jumped(jumps))
        for layer in self.dropouts:
            layer.rng = own

    def evaluate(self, network: Network, X: Array, y: Array) -> dict[str, float]:
        loss, n = network.loss, len(y)
        stats = np.array([0.0, 0.0, n])
        if n:
            result = network._evaluate(X, y)
            stats[0] = result["loss"] / loss.scale(n)
            stats[1] = round(result["accuracy"] * n) if loss.classifier else 0
        self.sum(stats)
        n = int(stats[2])
        logs = {"loss": float(stats[0] * loss.scale(n))}
        if loss.classifier:
            logs["accuracy"] = float(stats[1] / n)
        return logs


class Parts:
    """This rank's parts of the global batches of an epoch.

    One permutation of all ``n`` rows, shuffled by the network's generator (the same on every
    rank, and the same one `chainrule.fit` draws on one process); global batch k is positions
    [kB, (k+1)B) of it, and this rank takes the rows of it that it holds, in the permutation's
    order, gathered into buffers made once. Without shuffling, its part is a view of its rows.
    ``n``, ``count``, ``gather`` and ``order`` are those of `Batches` (checkpoints save and
    restore the permutation).
    """

    def __init__(self, X: Array, y: Array, start: int, n: int, batch_size: int | None, shuffle: bool):
        self.X, self.y, self.start, self.n = X, y, start, n
        self.size = n if batch_size is None else min(batch_size, n)
        self.edges = np.append(np.arange(0, n, self.size), n)  # batch k: edges[k:k+2]
        self.count = len(self.edges) - 1  # global batches per epoch
        self.gather = shuffle and self.size < n  # a full batch is the same sum in any order
        if self.gather:
            self.order = np.arange(n)
            rows = min(self.size, len(X))
            self.X_buf = np.empty((rows, *X.shape[1:]), dtype=X.dtype)
            self.y_buf = np.empty((rows, *y.shape[1:]), dtype=y.dtype)

    def epoch(self, rng: np.random.Generator, first: int = 0) -> Iterator[tuple[Array, Array, int]]:
        """(X part, y part, rows of the global batch) for every global batch from ``first`` on; a
        resumed epoch (``first`` > 0) keeps its permutation."""
        totals = np.diff(self.edges).tolist()[first:]
        if not self.gather:
            cuts = np.clip(self.edges[first:] - self.start, 0, len(self.X)).tolist()
            for a, b, n in zip(cuts[:-1], cuts[1:], totals, strict=True):
                yield self.X[a:b], self.y[a:b], n
            return
        if not first:
            rng.shuffle(self.order)
        mine = (self.order >= self.start) & (self.order < self.start + len(self.X))
        rows = self.order[mine] - self.start  # my rows, in the order the permutation visits them
        cuts = np.concatenate(([0], np.cumsum(mine)))[self.edges[first:]].tolist()
        for a, b, n in zip(cuts[:-1], cuts[1:], totals, strict=True):
            k = b - a  # mode="clip": rows are in range, and numpy would copy twice to check them
            yield (
                np.take(self.X, rows[a:b], axis=0, out=self.X_buf[:k], mode="clip"),
                np.take(self.y, rows[a:b], axis=0, out=self.y_buf[:k], mode="clip"),
                n,
            )


def launched_size() -> int:
    """The number of processes the launcher (mpiexec, srun) started, from its environment (1 when
    none did); mpi4py is not imported."""
    sizes = [os.environ.get(v, "") for v in MPI_SIZE_VARIABLES]
    return max([int(s) for s in sizes if s.isdigit()], default=1)


def from_environment() -> World:
    """`MPIWorld` when this process is one of several started by mpiexec or srun, else `Local`
    (and mpi4py is never imported)."""
    if launched_size() <= 1:
        return Local()
    world = MPIWorld()
    return world if world.size > 1 else Local()
