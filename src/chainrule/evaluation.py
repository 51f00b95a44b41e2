"""The rows a model file is evaluated on, and the fingerprint of the data it was trained on.

A model records its data (`trained_on`): the data set's name, the settings that split it, and
a SHA-256 of its source. `held_out` splits that data again only while the source still has
that fingerprint, and reads a file only when the user names it: so a score is never silently
taken on other rows than the test rows, and a model file never makes the tool read a path.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import chainrule.data as data
from chainrule.network import Network
from chainrule.preprocessing import WordTargetsError
from chainrule.world import World


def trained_on(e: Any) -> dict[str, Any]:
    """What a model file records of its data (``e``, a `chainrule.pipeline.Experiment`): enough to
    split it again, and its fingerprint."""
    name = str(Path(e.data).resolve()) if data.is_csv(e.data) else e.data
    return {
        "name": name,
        "samples": e.samples,
        "noise": e.noise,
        "classes": e.classes,
        "seed": e.seed,
        "val_fraction": e.val_fraction,
        "test_fraction": e.test_fraction,
        "fingerprint": fingerprint(e.data, e.data_dir),
    }


def fingerprint(name: str, data_dir: str | os.PathLike[str] | None = None) -> str:
    """A SHA-256 of the data set's source: a CSV file's bytes, the four Fashion-MNIST files' bytes,
    scikit-learn's digits; a toy is drawn from its settings alone."""
    h = hashlib.sha256(name.encode() if name in data.DATASETS else b"csv")
    if name == "fashion-mnist":
        files = data.fashion_mnist_files(data_dir)
        paths = [files[k] for k in sorted(files)]
    elif name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        h.update(np.ascontiguousarray(X).data)
        h.update(np.ascontiguousarray(y).data)
        paths = []
    else:
        paths = [] if name in data.DATASETS else [Path(name)]
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


@contextmanager
def _numeric_targets(name: str) -> Iterator[None]:
    """A regression model's data whose target holds words: said so (the model's task is not the
    user's to choose here, as ``task=`` in training is)."""
    try:
        yield
    except WordTargetsError:
        raise data.DataError(
            f"the model predicts numbers (regression), but the target of {name} holds words: "
            "give data whose target column holds numbers"
        ) from None


def held_out(
    network: Network,
    data_name: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    target: str | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Standardised features and targets to evaluate ``network`` on, and what they are.

    Without ``data_name``: the test rows of the data set the model was trained on, split as in
    training, if that data set is a built-in one whose source still has the fingerprint the
    model recorded (else an error). Named, a built-in data set gives its test rows, said to be
    of another copy when its fingerprint differs. A CSV file is read only when named: the test
    rows of the file the model was trained on (if its fingerprint matches), else all its rows."""
    meta = network.metadata
    trained = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    classes = model_classes(network)
    trained_target = meta.get("target")
    inputs = meta.get("feature_names")
    if target is not None and isinstance(inputs, list) and target in inputs:
        raise ValueError(
            f"target={target} is one of the model's input columns; the model predicts {trained_target!r}: "
            "give the column that holds its targets, or leave out target="
        )
    target = target or trained_target
    recorded = trained.get("fingerprint")
    named = data_name is not None
    if data_name is None:
        data_name = trained.get("name")
        if not isinstance(data_name, str):
            raise ValueError("the model does not record the data it was trained on: pass data=")
        if data_name not in data.DATASETS:
            raise ValueError(
                f"the model was trained on {data_name}, a file that is read only when you name it: "
                f"pass data={data_name} (its test rows, if unchanged) or another CSV file"
            )
    csv = data_name not in data.DATASETS and data.is_csv(data_name)
    same = str(Path(data_name).resolve()) == trained.get("name") if csv else data_name == trained.get("name")
    changed = same and recorded is not None and fingerprint(data_name, data_dir) != recorded
    if changed and not (csv or named):
        raise ValueError(
            f"the {data_name} data found now differs from the data the model was trained on "
            f"(another fingerprint): pass data={data_name} (and data_dir=) to evaluate on this copy"
        )
    if csv and (not same or recorded is None or changed):  # a file's test rows only while unchanged
        with _numeric_targets(data_name):
            return _csv_rows(network, Path(data_name), target, classes)
    if not same:
        trained = {}
    settings = {
        k: trained[k] for k in ("samples", "noise", "classes", "seed", "test_fraction") if k in trained
    }
    if "val_fraction" in trained:
        settings["val_fraction"] = trained["val_fraction"]
    task = "regression" if classes is None else "classification"
    with _numeric_targets(data_name):
        ds = data.load(data_name, data_dir=data_dir, target=target, task=task, **settings)
    if ds.n_features != network.n_features:
        raise ValueError(
            f"{data_name} has {ds.n_features} features but the model expects {network.n_features}: "
            "evaluate on the data it was trained on"
        )
    wanted = meta.get("feature_names")
    if isinstance(wanted, list) and ds.feature_names != wanted:
        theirs = ", ".join((ds.feature_names or ["unnamed"])[:5])
        raise ValueError(
            f"the model's inputs are {', '.join(wanted[:5])}{', ...' if len(wanted) > 5 else ''}, but "
            f"{data_name}'s features are {theirs}: give data with the model's columns (a CSV "
            "file that has them, by name)"
        )
    y = ds.y_test
    if classes is not None and ds.classes != classes:
        y = data.labels_to_indices(np.asarray(ds.classes, dtype=object)[ds.y_test], classes)
    X = data.standardize(ds.X_test, meta)
    copy = " (another copy than the model was trained on)" if changed else ""
    return X, y, f"the {len(y)} test rows of {data_name}{copy}"


def _csv_rows(
    network: Network, path: Path, target: str | None, classes: list[Any] | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Every row of a CSV file, with the model's feature columns and a target column."""
    header, cells = data.read_csv(path)
    target = target or header[-1]
    if target not in header:
        raise ValueError(f"{path} has no column {target!r} (columns: {', '.join(header)}): pass target=")
    X = model_features(network, header, cells, path, target)
    raw = np.char.strip(cells[:, header.index(target)])
    y = data.encode_labels(raw, "regression")[0] if classes is None else data.labels_to_indices(raw, classes)
    X = data.standardize(X, network.metadata)
    return X, y, f"all {len(y)} rows of {path} (target {target})"


def model_features(
    network: Network, header: list[str], cells: np.ndarray, path: Path, target: str | None
) -> np.ndarray:
    """The model's input columns of a CSV table, as numbers: found by name when the model
    records its feature names (any order, other columns ignored; every one of them needed, never
    a column taken by its position instead), else every column but the target, which must then
    be as many as the model's inputs."""
    wanted = network.metadata.get("feature_names")
    used = set(wanted) if isinstance(wanted, list) else None
    twice = sorted(n for n, k in Counter(header).items() if k > 1 and (used is None or n in used))
    if twice:
        raise ValueError(
            f"{path} has more than one column named {', '.join(map(repr, twice[:5]))}: name each column "
            "once, so that the model's inputs are not taken from the wrong one"
        )
    if isinstance(wanted, list):
        missing = [name for name in wanted if name not in header]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise ValueError(
                f"{path} lacks the model's feature column(s) {shown} (its columns: "
                f"{', '.join(header[:10])}): give the columns the model was trained on, by their names"
            )
        names = list(wanted)
    else:
        names = [name for name in header if name != target]
        if len(names) != network.n_features:
            raise ValueError(
                f"{path} has {len(names)} feature columns but the model expects {network.n_features}: "
                "give the same columns as in training"
            )
    return data.numeric(cells[:, [header.index(n) for n in names]], names, path)


def model_classes(network: Network) -> list[Any] | None:
    """The model's class labels (None for regression), checked against its outputs."""
    classes = network.metadata.get("classes")
    if not network.loss.classifier:
        return None
    n = 2 if network.n_outputs == 1 else network.n_outputs
    if classes is None:
        return list(range(n))
    if not isinstance(classes, list) or len(classes) != n:
        raise ValueError(f"the model's classes {classes!r} do not fit its {n} outputs: the file is damaged")
    return classes


def predictions(network: Network, X: np.ndarray) -> np.ndarray:
    """`Network.predict`, also of no rows (a process's empty shard)."""
    if len(X):
        return network.predict(X)
    return network.loss.predict(np.empty((0, network.n_outputs), dtype=network.dtype))


def score(network: Network, X: np.ndarray, y: np.ndarray, world: World) -> dict[str, float]:
    """The loss and accuracy, or for regression the loss, RMSE, MAE and R² = 1 − mean(r²) / var(y)
    of the residuals r, of the rows of all processes (each passing its own)."""
    result = world.evaluate(network, *world.rows(network, X, y, "X"))
    if network.loss.classifier:
        return result
    residual = predictions(network, X)[:, 0].astype(np.float64) - y
    sums = world.sum(np.array([len(y), np.sum(residual**2), np.sum(np.abs(residual)), np.sum(y)]))
    n, squares, absolute, total = sums.tolist()
    variance = float(world.sum(np.array([np.sum((y - total / n) ** 2)]))[0]) / n
    return {
        **result,
        "rmse": math.sqrt(squares / n),
        "mae": absolute / n,
        "r2": 1 - (squares / n) / variance if variance > 0 else float("nan"),
    }


def confusion_matrix(network: Network, X: np.ndarray, y: np.ndarray, k: int, world: World) -> np.ndarray:
    """C[t, p] = the rows of true class t predicted as p, summed over the processes."""
    cm = np.bincount(y * k + predictions(network, X), minlength=k * k).reshape(k, k).astype(np.int64)
    return world.sum(cm)
