"""Data-parallel training on MPI: one model trained by N processes, each holding a shard of the rows.

The loss is a sum over the examples, L(θ) = Σ_n C^n(θ), and so is its gradient (seeds 001, 003):

    ∂L/∂w = Σ_n ∂C^n/∂w = Σ_r Σ_{n on rank r} ∂C^n/∂w

Every step, each process (rank r of N) takes the rows it holds of one global batch, drawn from
one seeded permutation of all the rows (the same on every rank), runs the forward and backward
passes on them, and one ``Allreduce`` adds the ranks' gradients: every rank then holds ∇L of the
whole batch and applies the identical update θ ← θ − η ∇L, so the copies never drift apart. SGD,
momentum and Adam all work unchanged, because every rank feeds them the same gradient.

    from mpi4py import MPI
    import chainrule
    from chainrule import distributed
    comm = MPI.COMM_WORLD
    X = distributed.read_npy_shard("X.npy", comm.rank, comm.size)   # only this rank's rows
    y = distributed.read_npy_shard("y.npy", comm.rank, comm.size)
    net = chainrule.Network.from_sizes([784, 30, 10], seed=0)
    distributed.fit(net, X, y, comm=comm, epochs=5, batch_size=1024, optimizer="adam")

run as ``mpiexec -n 4 python -m mpi4py train.py``. This module is the MPI face of
`chainrule.world.MPIWorld` (the sums and the steps) and `chainrule.shards` (each rank's rows of
a data set); ``chainrule.fit(..., world=MPIWorld(comm))`` is the same fit. See docs/distributed.md.
"""

from __future__ import annotations

from typing import Any

from chainrule.base import Array
from chainrule.data import Dataset, Standardizer
from chainrule.network import Network
from chainrule.shards import fit_standardizer as _fit_standardizer
from chainrule.shards import load as _load
from chainrule.shards import read_csv_shard, read_idx_shard, read_npy_shard
from chainrule.training import History
from chainrule.training import fit as _fit
from chainrule.world import MPIWorld, shard_bounds

__all__ = [
    "MPIWorld",
    "allreduce_sum",
    "evaluate",
    "fit",
    "fit_standardizer",
    "load_shard",
    "read_csv_shard",
    "read_idx_shard",
    "read_npy_shard",
    "shard_bounds",
    "train_step",
]


def fit(network: Network, X: Any, y: Any, *, comm: Any = None, **kwargs: Any) -> History:
    """Train ``network`` on the rows of all ranks of ``comm`` (default ``MPI.COMM_WORLD``) together.

    Every rank calls it with its own shard (X, y), possibly empty; the data set is the shards in
    rank order, and ``batch_size`` is the global batch. The other arguments are those of
    `chainrule.fit`, the loop is its loop, and with one process the result is the same, bit for
    bit. On every rank the network starts from rank 0's weights and generator, steps
    identically, and gets the same `History` (computed over all ranks' rows; ``validation_data``
    is this rank's shard of the validation rows); callbacks run on every rank (print or save
    from rank 0 only). ``checkpoint``: rank 0 writes the run directory (it must be one that
    every rank can read, for ``resume=True``); SIGINT/SIGTERM do not save (mpiexec ends the
    job), so resume from the last periodic checkpoint.

    With more than one process, an error on any rank prints its message and aborts the whole job
    (``MPI_Abort``). Dropout masks come from a stream of each rank's own and step's (they cannot
    match one process's); a resumed run draws the same ones as the uninterrupted run.
    """
    return _fit(network, X, y, world=MPIWorld(comm), **kwargs)


def train_step(
    network: Network, X: Array, y: Array, n_total: int, comm: Any, stats: Array | None = None
) -> Array:
    """One step of a global batch of ``n_total`` rows on this rank's ``len(y)`` of them (see
    `MPIWorld.reduced_step`): ∇L of the whole batch in ``network.flat_grads`` on every rank, and
    [Σ_n C^n, correctly classified rows, rows] summed over the ranks."""
    world = MPIWorld(comm)
    if stats is not None:
        world.stats = stats
    return world.reduced_step(network, X, y, n_total)


def load_shard(name: str, comm: Any, **options: Any) -> Dataset:
    """This rank's rows of the splits of the data set ``name`` (`chainrule.shards.load`)."""
    return _load(name, MPIWorld(comm), **options)


def fit_standardizer(X: Array, comm: Any, per_feature: bool = True) -> Standardizer:
    """The standardiser of the training rows of all ranks (`chainrule.shards.fit_standardizer`)."""
    return _fit_standardizer(X, MPIWorld(comm), per_feature)


def evaluate(network: Network, X: Any, y: Any, comm: Any) -> dict[str, float]:
    """`Network.evaluate` on the rows of all ranks, this rank holding X, y (possibly no rows)."""
    world = MPIWorld(comm)
    return world.evaluate(network, *world.rows(network, X, y, "X"))


def allreduce_sum(comm: Any, values: Array) -> Array:
    """``values`` (an array of numbers) summed over the ranks, in place."""
    return MPIWorld(comm).sum(values)
