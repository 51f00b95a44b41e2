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

run as ``mpiexec -n 4 python -m mpi4py train.py``. For ``chainrule train`` under mpiexec,
`load_shard` gives each rank its rows of a data set's splits (reading only those of
Fashion-MNIST and CSV files) and `fit_standardizer` fits the standardiser on all ranks' training
rows. See docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import itertools
import json
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import data
from chainrule.base import Array
from chainrule.layers import Dropout
from chainrule.network import Network
from chainrule.optimizers import Optimizer
from chainrule.schedules import Schedule
from chainrule.training import Callback, EarlyStopping, History, _fit


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            "distributed training needs mpi4py: pip install 'chainrule[mpi]' (or mpi4py built "
            "against your cluster's MPI)"
        ) from None
    return MPI


# --------------------------------------------------------------------------------- shards
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


def read_npy_shard(path: str | os.PathLike[str], rank: int, size: int) -> np.ndarray:
    """This rank's rows (`shard_bounds`) of the array in a ``.npy`` file, memory-mapped: only the
    pages of those rows are ever read from disk."""
    try:
        data = np.load(path, mmap_mode="r")  # allow_pickle stays False: object arrays are refused
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except ValueError as e:
        raise ValueError(f"{path} is not a .npy array of numbers: {e}") from None
    if not isinstance(data, np.ndarray) or data.ndim == 0:
        raise ValueError(f"{path} must hold an array of rows (.npy, at least 1-D), not a .npz or a scalar")
    start, stop = shard_bounds(len(data), rank, size)
    return data[start:stop]


def read_idx_shard(path: str | os.PathLike[str], rank: int, size: int) -> np.ndarray:
    """This rank's rows (`shard_bounds`) of an IDX file (gzip or not): only the header and those
    rows are read (`chainrule.data.read_idx`)."""
    _, shape, _ = data.idx_header(path)
    return data.read_idx(path, *shard_bounds(shape[0], rank, size))


def read_csv_shard(path: str | os.PathLike[str], rank: int, size: int) -> tuple[list[str], np.ndarray]:
    """The header and this rank's rows (`shard_bounds` of the data rows; cells as strings, as
    `chainrule.data.read_csv` gives them) of a CSV file with a header row and one row per line.

    The other rows are only counted (as lines), never split into values."""
    path = Path(path)
    if not path.is_file():
        raise data.DataError(f"no such file: {path}: check the path")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = (line for line in f if line.strip())  # read_csv skips blank lines too
            header = [name.strip() for name in next(csv.reader([next(lines, "")]), [])]
            n = sum(1 for _ in lines)
            if not header or n == 0:
                raise data.DataError(
                    f"{path} has no data rows: give a header row and at least one row of values"
                )
            start, stop = shard_bounds(n, rank, size)
            f.seek(0)
            lines = (line for line in f if line.strip())
            rows = list(csv.reader(itertools.islice(lines, 1 + start, 1 + stop)))
    except (UnicodeDecodeError, csv.Error) as e:
        raise data.DataError(
            f"{path} is not a readable CSV text file ({e}): give a CSV file with a header row"
        ) from None
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise data.DataError(
                f"{path}, data row {start + i + 1}: {len(row)} values but the header has {len(header)} "
                "columns: give every row one value per column, on one line"
            )
    return header, np.array(rows, dtype=str).reshape(len(rows), len(header))


# --------------------------------------------------------------------------------- data sets
def load_shard(
    name: str,
    comm: Any,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    target: str | None = None,
    task: str = "auto",
    samples: int | None = None,
    noise: float = 0.1,
    classes: int = 2,
    seed: int | None = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.25,
    **find: Any,
) -> data.Dataset:
    """This rank's rows of the training, validation and test splits of the data set ``name``,
    which `chainrule.data.load` (whose arguments these are) splits on one process: the same
    rows, in the same order, once the ranks' parts are put end to end in rank order.

    Fashion-MNIST and CSV files are read in shards: the ranks split the labels of all rows
    as one process does, and each reads (or parses) only the feature rows of its own part.
    The digits and the 2-D toys are small and made in memory: every rank loads them whole
    and keeps its shard of each split."""
    val_fraction = data.check_fraction(val_fraction, "--val-fraction", low_ok=True)
    if samples is not None and samples < 1:
        raise data.DataError(f"--samples must be a positive integer, got {samples}")
    if name == "fashion-mnist":
        return _fashion_mnist_shard(comm, data_dir, samples, seed, val_fraction, find)
    if name not in data.DATASETS and data.is_csv(name):
        return _csv_shard(name, comm, target, task, samples, seed, val_fraction, test_fraction)
    ds = data.load(
        name,
        target=target,
        task=task,
        samples=samples,
        noise=noise,
        classes=classes,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
    )

    def mine(rows: Array) -> Array:
        return rows[slice(*shard_bounds(len(rows), comm.rank, comm.size))]

    return dataclasses.replace(
        ds,
        X_train=mine(ds.X_train),
        y_train=mine(ds.y_train),
        X_val=mine(ds.X_val),
        y_val=mine(ds.y_val),
        X_test=mine(ds.X_test),
        y_test=mine(ds.y_test),
    )


def _fashion_mnist_shard(
    comm: Any,
    data_dir: str | os.PathLike[str] | None,
    samples: int | None,
    seed: int | None,
    val_fraction: float,
    find: dict[str, Any],
) -> data.Dataset:
    """Every rank reads all the training labels (60 kB) and splits them as `chainrule.data.load`
    does, then reads only the images of its shard of the training and of the validation rows
    (sorted row numbers: one range of the file), and its shard of the test images."""
    if comm.rank == 0:  # rank 0 downloads the files if no folder has them, before the others look
        data.fashion_mnist_files(data_dir, **find)
    comm.Barrier()
    files = data.fashion_mnist_files(data_dir, **find)
    images, labels = files["train-images-idx3-ubyte.gz"], files["train-labels-idx1-ubyte.gz"]
    y = data.read_idx(labels, 0, samples)
    shape = data.idx_header(images)[1]  # the images one process would read: the first `samples`
    data.check_fashion_mnist((min(shape[0], samples or shape[0]), *shape[1:]), y, "training")
    train, val, _ = data.split_indices(y, 0.0, val_fraction, seed)
    train, val = (rows[slice(*shard_bounds(len(rows), comm.rank, comm.size))] for rows in (train, val))
    X_train, X_val = _read_idx_rows(images, train, val)
    test_images, test_labels = files["t10k-images-idx3-ubyte.gz"], files["t10k-labels-idx1-ubyte.gz"]
    y_test = data.read_idx(test_labels)
    data.check_fashion_mnist(data.idx_header(test_images)[1], y_test, "test")
    test = np.arange(*shard_bounds(len(y_test), comm.rank, comm.size))
    (X_test,) = _read_idx_rows(test_images, test)
    return data.Dataset(
        "fashion-mnist",
        X_train,
        y[train].astype(np.intp),
        X_val,
        y[val].astype(np.intp),
        X_test,
        y_test[test].astype(np.intp),
        list(data.FASHION_MNIST_CLASSES),
        images=True,
    )


def _read_idx_rows(path: Path, *rows: Array) -> list[Array]:
    """The images of each array of sorted row numbers ``rows``, as float32 vectors, from one read
    of the range of the file that holds them all."""
    used = [r for r in rows if len(r)]
    start = min((int(r[0]) for r in used), default=0)
    stop = max((int(r[-1]) + 1 for r in used), default=0)
    block = data.read_idx(path, start, stop)
    features = int(np.prod(block.shape[1:]))
    return [block[r - start].reshape(len(r), features).astype(np.float32) for r in rows]


def _csv_shard(
    path: str,
    comm: Any,
    target: str | None,
    task: str,
    samples: int | None,
    seed: int | None,
    val_fraction: float,
    test_fraction: float,
) -> data.Dataset:
    """Every rank parses only its rows of the file (`read_csv_shard`). The classes depend on the
    set of labels only: the ranks' sets are gathered (as JSON), and every rank decides them as
    one process does. Then every rank gathers the encoded targets of all rows (8 bytes a row)
    to split them as `chainrule.data.load` does, and keeps the rows of each split it holds."""
    header, cells = read_csv_shard(path, comm.rank, comm.size)
    start = _offset_and_total(comm, len(cells))[0]  # the file's data row of this rank's first
    X, raw, names, target = data.features_and_target(header, cells, path, target, first_row=start)
    if samples is not None:  # the first rows of the file
        keep = min(len(raw), max(samples - start, 0))
        X, raw = X[:keep], raw[:keep]
    if (np.char.str_len(raw) == 0).any():
        r = start + int(np.argmax(np.char.str_len(raw) == 0))
        raise data.DataError(f"the target of row {r + 1} is empty: fill in or remove rows without a target")
    seen = sorted(set().union(*_allgather_json(comm, np.unique(raw).tolist())))
    _, labels = data.encode_labels(np.array(seen, dtype=str), task)
    y = data.encode_labels(raw, "regression")[0] if labels is None else data.labels_to_indices(raw, labels)
    y_all = _allgatherv(comm, y)
    test_fraction = data.check_fraction(test_fraction, "--test-fraction", low_ok=False)
    splits = data.split_indices(y_all, test_fraction, val_fraction, seed, stratify=labels is not None)
    if len(splits[0]) == 0 or len(splits[2]) == 0:
        raise data.DataError(
            f"{path} has {len(y_all)} rows, too few to split into training and test rows: give more rows"
        )
    tr, va, te = (rows[(rows >= start) & (rows < start + len(y))] - start for rows in splits)
    return data.Dataset(path, X[tr], y[tr], X[va], y[va], X[te], y[te], labels, names, target)


def fit_standardizer(X: Array, comm: Any, per_feature: bool = True) -> data.Standardizer:
    """`chainrule.data.Standardizer.fit` on the rows of all ranks, this rank holding X (possibly
    no rows), in two passes of float64 sums, each Allreduced:

        mean = Σ_n x_n / N        scale² = Σ_n (x_n − mean)² / N

    per feature, or over all the features' values (``per_feature=False``, for pixels)."""
    MPI = _mpi()
    X = np.asarray(X)
    axis = 0 if per_feature else None
    sums = np.append(len(X) if per_feature else X.size, X.sum(axis=axis, dtype=np.float64))
    comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
    n = sums[0]
    if n == 0:
        raise ValueError("no rank has training rows: the standardisation needs at least one")
    mean = sums[1:] / n
    squares = np.zeros_like(mean)
    for start in range(0, len(X), 4096):  # block by block: no float64 copy of all of X at once
        deviation = X[start : start + 4096] - mean
        squares += np.square(deviation, out=deviation).sum(axis=axis)
    comm.Allreduce(MPI.IN_PLACE, squares, op=MPI.SUM)
    return data.Standardizer.from_moments(mean, np.sqrt(squares / n), X.shape[1:])


def evaluate(network: Network, X: Any, y: Any, comm: Any) -> dict[str, float]:
    """`Network.evaluate` on the rows of all ranks, this rank holding X, y (possibly no rows)."""
    return _evaluate(network, *_check_shard(network, X, y, "X"), comm)


def allreduce_sum(comm: Any, values: Array) -> Array:
    """``values`` (an array of numbers) summed over the ranks, in place."""
    MPI = _mpi()
    comm.Allreduce(MPI.IN_PLACE, values, op=MPI.SUM)
    return values


# --------------------------------------------------------------------------------- one step
def train_step(
    network: Network, X: Array, y: Array, n_total: int, comm: Any, stats: Array | None = None
) -> Array:
    """One step of the global batch: forward and backward passes on this rank's ``len(y)`` rows of
    it (X and y from `Network.check_X`/`check_y`; they may be empty), then ``Allreduce``.

    Leaves ∇L of the whole batch of ``n_total`` rows in ``network.flat_grads`` on every rank and
    returns ``stats`` = [Σ_n C^n, correctly classified rows, rows], summed over the ranks; L is
    ``stats[0] * network.loss.scale(n_total)``. Each rank's gradient ∇L_r (the mean over its rows,
    or their sum) is first scaled by scale(n_total) / scale(n_r), so that the sum over the ranks
    is the mean over the global batch (or its sum) directly.
    """
    MPI = _mpi()
    loss, grads, n = network.loss, network.flat_grads, len(y)
    stats = np.zeros(3) if stats is None else stats
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
    comm.Allreduce(MPI.IN_PLACE, grads, op=MPI.SUM)
    comm.Allreduce(MPI.IN_PLACE, stats, op=MPI.SUM)
    return stats


class _Parts:
    """This rank's parts of the global batches of an epoch.

    One permutation of all ``n`` rows, shuffled by the network's generator (the same on every
    rank, and the same one `chainrule.fit` draws on one process); global batch k is positions
    [kB, (k+1)B) of it, and this rank takes the rows of it that it holds, in the permutation's
    order, gathered into buffers made once. Without shuffling, its part is a view of its rows.
    ``n``, ``count``, ``gather`` and ``order`` are those of the one-process batches (checkpoints
    save and restore the permutation).
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


class _Reduced:
    """How N processes train (the methods of `chainrule.training`'s one-process ``_Local``): each
    reads its shard, takes its part of every global batch, and `train_step` Allreduces."""

    signals = False  # a signal may reach the ranks after different batches: mpiexec ends the job

    def __init__(self, network: Network, comm: Any) -> None:
        self.network, self.comm, self.root = network, comm, comm.rank == 0
        self.stats = np.zeros(3)
        # with one process, dropout draws from the network's generator, as in chainrule.fit
        self.dropouts = [la for la in network.layers if isinstance(la, Dropout)] if comm.size > 1 else []

    def rows(self, X: Any, y: Any, what: str) -> tuple[Array, Array]:
        X, y = _check_shard(self.network, X, y, what)
        if _offset_and_total(self.comm, len(X))[1] == 0:
            raise ValueError(f"{what} is empty on every rank: give the ranks the rows of the data set")
        return X, y

    def batches(self, X: Array, y: Array, batch_size: int | None, shuffle: bool) -> _Parts:
        start, n = _offset_and_total(self.comm, len(X))
        return _Parts(X, y, start, n, batch_size, shuffle)

    def step(self, batch: tuple[Array, Array, int], index: int) -> tuple[float, float, int, int]:
        """(L of the global batch, Σ_n C^n, right predictions, rows), all summed over the ranks;
        ``index`` is the number of steps before this one."""
        Xb, yb, n = batch
        if self.dropouts:
            self.own_masks(index)
        stats = train_step(self.network, Xb, yb, n, self.comm, self.stats)
        return stats[0] * self.network.loss.scale(n), stats[0], int(stats[1]), n

    def own_masks(self, index: int) -> None:
        """This rank's dropout masks of step ``index``: from the network's generator jumped
        1 + rank + size · index times, a stream of its own for every (rank, step).

        Within a run the generator only shuffles, at the start of an epoch, and a checkpoint
        keeps it: so the masks are a function of the run's position, and a resumed run draws
        those that the uninterrupted run drew (each rank keeping a stream of its own across
        steps would need every rank's state in rank 0's checkpoint)."""
        comm = self.comm
        own = np.random.Generator(self.network.rng.bit_generator.jumped(1 + comm.rank + comm.size * index))
        for layer in self.dropouts:
            layer.rng = own

    def evaluate(self, X: Array, y: Array) -> dict[str, float]:
        return _evaluate(self.network, X, y, self.comm)

    def digest(self, value: str) -> str:
        """The fingerprint of all ranks' rows: a SHA-256 of the ranks' own, in rank order."""
        mine = np.frombuffer(bytes.fromhex(value), dtype=np.uint8)
        every = np.empty(self.comm.size * len(mine), dtype=np.uint8)
        self.comm.Allgather(mine, every)
        return hashlib.sha256(every.tobytes()).hexdigest()


# --------------------------------------------------------------------------------- the fit loop
def fit(
    network: Network,
    X: Any,
    y: Any,
    *,
    comm: Any = None,
    epochs: int = 10,
    batch_size: int | None = 32,
    optimizer: str | Optimizer = "sgd",
    lr: float | Schedule | None = None,
    validation_data: tuple[Any, Any] | None = None,
    shuffle: bool = True,
    early_stopping: int | EarlyStopping | None = None,
    callbacks: Sequence[Callback] = (),
    clip_norm: float | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | str | timedelta | None = None,
    resume: bool = False,
) -> History:
    """Train ``network`` on the rows of all ranks of ``comm`` (default ``MPI.COMM_WORLD``) together.

    Every rank calls it with its own shard (X, y), possibly empty; the data set is the shards in
    rank order, and ``batch_size`` is the global batch. The arguments are those of
    `chainrule.fit`, the loop is its loop, and with one process the result is the same, bit for
    bit. On every rank the network starts from rank 0's weights and generator, steps
    identically, and gets the same `History` (computed over all ranks' rows; ``validation_data``
    is this rank's shard of the validation rows); callbacks run on every rank (print or save
    from rank 0 only). The divergence guard and ``clip_norm`` act on the reduced loss and
    gradient, alike on every rank. ``checkpoint``: rank 0 writes the run directory (it must be
    one that every rank can read, for ``resume=True``); SIGINT/SIGTERM do not save (mpiexec
    ends the job), so resume from the last periodic checkpoint.

    With more than one process, an error on any rank prints its message and aborts the whole job
    (``MPI_Abort``): the other ranks would otherwise wait for it in the next Allreduce forever.
    Dropout masks come from a stream of each rank's own and step's (they cannot match one
    process's); a resumed run draws the same ones as the uninterrupted run.
    """
    comm = _mpi().COMM_WORLD if comm is None else comm
    with _abort_on_error(comm):
        # the same start on every rank: rank 0's weights and generator (the batch permutation)
        comm.Bcast(network.flat_params, root=0)
        network.rng.bit_generator.state = bcast_json(comm, network.rng.bit_generator.state)
        how = _Reduced(network, comm)
        try:
            return _fit(
                how,
                X,
                y,
                epochs=epochs,
                batch_size=batch_size,
                optimizer=optimizer,
                lr=lr,
                validation_data=validation_data,
                shuffle=shuffle,
                early_stopping=early_stopping,
                callbacks=callbacks,
                clip_norm=clip_norm,
                checkpoint=checkpoint,
                checkpoint_every=checkpoint_every,
                resume=resume,
            )
        finally:
            for layer in how.dropouts:
                layer.rng = network.rng


def _evaluate(network: Network, X: Array, y: Array, comm: Any) -> dict[str, float]:
    """The loss and accuracy over all ranks' validation rows."""
    MPI = _mpi()
    loss, n = network.loss, len(y)
    stats = np.array([0.0, 0.0, n])
    if n:
        result = network._evaluate(X, y)
        stats[0] = result["loss"] / loss.scale(n)
        stats[1] = round(result["accuracy"] * n) if loss.classifier else 0
    comm.Allreduce(MPI.IN_PLACE, stats, op=MPI.SUM)
    n = int(stats[2])
    logs = {"loss": float(stats[0] * loss.scale(n))}
    if loss.classifier:
        logs["accuracy"] = float(stats[1] / n)
    return logs


# --------------------------------------------------------------------------------- helpers
def _check_shard(network: Network, X: Any, y: Any, what: str) -> tuple[Array, Array]:
    """X and y as `Network.check_X`/`check_y` give them, except that a shard may be empty."""
    X = np.asarray(X)
    if X.ndim == 2 and len(X) == 0:
        if X.shape[1] != network.n_features:
            raise ValueError(f"{what} has {X.shape[1]} features but the network expects {network.n_features}")
        X = np.empty((0, network.n_features), dtype=network.dtype)
    else:
        X = network.check_X(X)
    return X, network.check_y(y, len(X))


def _offset_and_total(comm: Any, n: int) -> tuple[int, int]:
    """The global index of this rank's first row, and the rows of all ranks (shards in rank order)."""
    counts = np.zeros(comm.size, dtype=np.int64)
    comm.Allgather(np.array([n], dtype=np.int64), counts)
    return int(counts[: comm.rank].sum()), int(counts.sum())


def bcast_json(comm: Any, value: Any) -> Any:
    """Rank 0's ``value`` on every rank, sent as JSON text (never pickle)."""
    data = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8) if comm.rank == 0 else None
    size = np.array([0 if data is None else len(data)], dtype=np.int64)
    comm.Bcast(size, root=0)
    buf = data.copy() if data is not None else np.empty(int(size[0]), dtype=np.uint8)
    comm.Bcast(buf, root=0)
    return json.loads(buf.tobytes())


def _allgather_json(comm: Any, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank, sent as JSON text (never pickle)."""
    mine = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
    sizes = np.zeros(comm.size, dtype=np.int64)
    comm.Allgather(np.array([len(mine)], dtype=np.int64), sizes)
    every = np.empty(int(sizes.sum()), dtype=np.uint8)
    comm.Allgatherv(mine, [every, sizes])
    bounds = np.append(0, np.cumsum(sizes)).tolist()
    return [json.loads(every[a:b].tobytes()) for a, b in itertools.pairwise(bounds)]


def _allgatherv(comm: Any, values: Array) -> Array:
    """The ranks' 1-D arrays ``values`` (of one dtype), end to end in rank order, on every rank."""
    counts = np.zeros(comm.size, dtype=np.int64)
    comm.Allgather(np.array([len(values)], dtype=np.int64), counts)
    every = np.empty(int(counts.sum()), dtype=values.dtype)
    comm.Allgatherv(np.ascontiguousarray(values), [every, counts])
    return every


@contextlib.contextmanager
def _abort_on_error(comm: Any) -> Iterator[None]:
    """Raise an error as usual on one process; with several, print it and abort them all.

    A rank that stops alone leaves the others waiting in their next collective forever: a hang,
    not an error. ``python -m mpi4py`` gives the same guarantee to a whole script."""
    try:
        yield
    except Exception as e:
        if comm.size == 1:
            raise
        if not isinstance(e, ValueError | TypeError | OSError | FloatingPointError):
            traceback.print_exc()  # a bug, not bad input: show where
        print(f"chainrule: rank {comm.rank} of {comm.size}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.stderr.flush()
        comm.Abort(1)
