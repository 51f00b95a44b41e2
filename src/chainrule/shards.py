"""Each process's rows of a data set (`chainrule.world`): the splits that `chainrule.data.load`
makes on one process, of which every process of a `World` reads only its own part, and the
standardiser fitted on the training rows of all of them.

Put end to end in rank order, the processes' parts are the rows one process would hold, in the
same order. Fashion-MNIST and CSV files are read in shards (each process parses only its own
feature rows); the digits and the 2-D toys are small and made in memory, whole, on every process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import chainrule.data as data
from chainrule.base import Array
from chainrule.world import World, shard_bounds


# --------------------------------------------------------------------------------- files
def read_npy_shard(path: str | os.PathLike[str], rank: int, size: int) -> np.ndarray:
    """This rank's rows (`shard_bounds`) of the array in a ``.npy`` file, memory-mapped: only the
    pages of those rows are ever read from disk."""
    try:
        array = np.load(path, mmap_mode="r")  # allow_pickle stays False: object arrays are refused
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except ValueError as e:
        raise ValueError(f"{path} is not a .npy array of numbers: {e}") from None
    if not isinstance(array, np.ndarray) or array.ndim == 0:
        raise ValueError(f"{path} must hold an array of rows (.npy, at least 1-D), not a .npz or a scalar")
    start, stop = shard_bounds(len(array), rank, size)
    return array[start:stop]


def read_idx_shard(path: str | os.PathLike[str], rank: int, size: int) -> np.ndarray:
    """This rank's rows (`shard_bounds`) of an IDX file (gzip or not): only the header and those
    rows are read (`chainrule.data.read_idx`)."""
    _, shape, _ = data.idx_header(path)
    return data.read_idx(path, *shard_bounds(shape[0], rank, size))


def read_csv_shard(path: str | os.PathLike[str], rank: int, size: int) -> tuple[list[str], np.ndarray]:
    """The header and this rank's rows (`shard_bounds` of the data rows; cells as strings) of a
    CSV file with a header row, by the one CSV reader (`chainrule.data.read_rows`): the other
    rows are only counted, never split into values."""
    n = data.read_rows(path, 0, 0).n_rows
    if n == 0:
        raise data.DataError(f"{path} has no data rows: give a header row and at least one row of values")
    rows = data.read_rows(path, *shard_bounds(n, rank, size))
    return rows.header, rows.cells


# --------------------------------------------------------------------------------- data sets
def load(name: str, world: World, **options: Any) -> data.Dataset:
    """This process's rows of the training, validation and test splits of the data set ``name``
    (``options`` are those of `chainrule.data.load`): on one process, `chainrule.data.load`."""
    if world.size == 1:
        return data.load(name, **options)
    val_fraction = data.check_fraction(options.get("val_fraction", 0.1), "val_fraction", low_ok=True)
    samples = options.get("samples")
    if samples is not None and samples < 1:
        raise data.DataError(f"samples must be a positive integer, got {samples}")
    seed = options.get("seed", 0)
    if name == "fashion-mnist":
        find = {
            k: v for k, v in options.items() if k in ("search", "cache_dir", "base_url", "sha256", "report")
        }
        return _fashion_mnist(world, options.get("data_dir"), samples, seed, val_fraction, find)
    if name not in data.DATASETS and data.is_csv(name):
        target, task = options.get("target"), options.get("task", "auto")
        test_fraction = options.get("test_fraction", 0.25)
        return _csv(name, world, target, task, samples, seed, val_fraction, test_fraction)
    ds = data.load(name, **options)

    def mine(rows: Array) -> Array:
        return rows[world.shard(len(rows))]

    return data.Dataset(
        ds.name,
        mine(ds.X_train),
        mine(ds.y_train),
        mine(ds.X_val),
        mine(ds.y_val),
        mine(ds.X_test),
        mine(ds.y_test),
        ds.classes,
        ds.feature_names,
        ds.target,
        ds.images,
    )


def _fashion_mnist(
    world: World,
    data_dir: str | os.PathLike[str] | None,
    samples: int | None,
    seed: int | None,
    val_fraction: float,
    find: dict[str, Any],
) -> data.Dataset:
    """Every rank reads all the training labels (60 kB) and splits them as `chainrule.data.load`
    does, then reads only the images of its shard of the training and of the validation rows
    (sorted row numbers: one range of the file), and its shard of the test images."""
    if world.root:  # rank 0 downloads the files if no folder has them, before the others look
        data.fashion_mnist_files(data_dir, **find)
    world.broadcast(None)  # the others wait for it
    files = data.fashion_mnist_files(data_dir, **find)
    images, labels = files["train-images-idx3-ubyte.gz"], files["train-labels-idx1-ubyte.gz"]
    y = data.read_idx(labels, 0, samples)
    shape = data.idx_header(images)[1]  # the images one process would read: the first `samples`
    data.check_fashion_mnist((min(shape[0], samples or shape[0]), *shape[1:]), y, "training")
    train, val, _ = data.split_indices(y, 0.0, val_fraction, seed)
    train, val = (rows[world.shard(len(rows))] for rows in (train, val))
    X_train, X_val = _read_idx_rows(images, train, val)
    test_images, test_labels = files["t10k-images-idx3-ubyte.gz"], files["t10k-labels-idx1-ubyte.gz"]
    y_test = data.read_idx(test_labels)
    data.check_fashion_mnist(data.idx_header(test_images)[1], y_test, "test")
    test = np.arange(len(y_test))[world.shard(len(y_test))]
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
    """The images of each array of sorted row numbers ``rows``, as vectors of their pixels (uint8,
    as one process holds them), from one read of the range of the file that holds them all."""
    used = [r for r in rows if len(r)]
    start = min((int(r[0]) for r in used), default=0)
    stop = max((int(r[-1]) + 1 for r in used), default=0)
    block = data.read_idx(path, start, stop)
    features = int(np.prod(block.shape[1:]))
    return [block[r - start].reshape(len(r), features) for r in rows]


def _csv(
    path: str,
    world: World,
    target: str | None,
    task: str,
    samples: int | None,
    seed: int | None,
    val_fraction: float,
    test_fraction: float,
) -> data.Dataset:
    """Every rank parses only its rows of the file (`chainrule.data.read_rows`). The classes depend on the
    set of labels only: the ranks' sets are gathered (as JSON), and every rank decides them as
    one process does. Then every rank gathers the encoded targets of all rows (8 bytes a row)
    to split them as `chainrule.data.load` does, and keeps the rows of each split it holds."""
    n = data.read_rows(path, 0, 0).n_rows
    if n == 0:
        raise data.DataError(f"{path} has no data rows: give a header row and at least one row of values")
    start, stop = shard_bounds(n, world.rank, world.size)
    rows = data.read_rows(path, start, stop)
    X, raw, names, target = data.features_and_target(
        rows.header, rows.cells, path, target, first_row=start, lines=rows.lines
    )
    if samples is not None:  # the first rows of the file
        keep = min(len(raw), max(samples - start, 0))
        X, raw = X[:keep], raw[:keep]
    if (np.char.str_len(raw) == 0).any():
        r = start + int(np.argmax(np.char.str_len(raw) == 0))
        raise data.DataError(f"the target of row {r + 1} is empty: fill in or remove rows without a target")
    seen = sorted(set().union(*world.gather(np.unique(raw).tolist())))
    _, labels = data.encode_labels(np.array(seen, dtype=str), task)
    y = data.encode_labels(raw, "regression")[0] if labels is None else data.labels_to_indices(raw, labels)
    y_all = world.concat(y)
    test_fraction = data.check_fraction(test_fraction, "test_fraction", low_ok=False)
    splits = data.split_indices(y_all, test_fraction, val_fraction, seed, stratify=labels is not None)
    data.check_split(path, y_all, labels, test_fraction, len(splits[0]), len(splits[2]), val_fraction)
    tr, va, te = (rows[(rows >= start) & (rows < start + len(y))] - start for rows in splits)
    return data.Dataset(path, X[tr], y[tr], X[va], y[va], X[te], y[te], labels, names, target)


def fit_standardizer(X: Array, world: World, per_feature: bool = True) -> data.Standardizer:
    """`chainrule.data.Standardizer.fit` on the training rows of all processes, this one holding
    X (possibly no rows), in two passes of float64 sums, each summed over the processes:

        mean = Σ_n x_n / N        scale² = Σ_n (x_n − mean)² / N

    per feature, or over all the features' values (``per_feature=False``, for pixels)."""
    X = np.asarray(X)
    axis = 0 if per_feature else None
    sums = world.sum(np.append(len(X) if per_feature else X.size, X.sum(axis=axis, dtype=np.float64)))
    n = sums[0]
    if n == 0:
        raise ValueError("no process has training rows: the standardisation needs at least one")
    mean = sums[1:] / n
    squares = np.zeros_like(mean)
    for start in range(0, len(X), 4096):  # block by block: no float64 copy of all of X at once
        deviation = X[start : start + 4096] - mean
        squares += np.square(deviation, out=deviation).sum(axis=axis)
    world.sum(squares)
    return data.Standardizer.from_moments(mean, np.sqrt(squares / n), X.shape[1:])
