"""The data of a session: a toy set or an uploaded CSV, split into training and test rows.

A CSV has three columns, ``x1, x2, label`` (an optional header row names them). The label
column is a class label (numbers or text, at most ``MAX_CLASSES`` distinct) unless it holds
numbers that are not all whole or take more distinct values than that: then it is a regression
target. A CSV's inputs are standardised with the training rows' mean and standard deviation
(the network sees x' = (x − mean) / scale, saved in the model file's metadata as
``standardize``); the toys lie in about [−1, 1]² and are used as they are. The network's inputs
are the chosen `features` of these points (x₁, x₂ themselves by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.data import Standardizer, load, split_indices
from chainrule.datafiles import RaggedRowError, read_rows
from chainrule.playground.features import DEFAULT, EQUATIONS, featurize, input_names
from chainrule.playground.settings import MAX_CLASSES, MAX_SAMPLES, MIN_SAMPLES, Settings

Array = np.ndarray


@dataclass(frozen=True)
class Table:
    """A parsed CSV: the inputs X (n, 2), the label or target column as given, and the names."""

    X: Array
    labels: list[Any]  # class labels (int or str) or float targets
    task: str  # "classification" or "regression"
    feature_names: list[str]
    target: str


@dataclass(frozen=True)
class Data:
    """Training and test rows: ``X_*`` as the network sees them (the chosen features), ``P_*`` in
    the plane's coordinates, ``y_*`` class indices 0..K−1 or float targets."""

    X_train: Array
    y_train: Array
    X_test: Array
    y_test: Array
    P_train: Array
    P_test: Array
    task: str
    classes: list[Any]  # the original labels: output k ↔ classes[k]
    feature_names: list[str]  # the plane's two columns
    target: str
    standardizer: Standardizer  # fitted on a CSV's training rows; the toys are used as they are
    features: list[str]  # the network's inputs, `chainrule.playground.features` of (x₁, x₂)

    @property
    def inputs(self) -> list[str]:
        """The network's inputs by name, one per column of ``X_*`` (``x1``, ``x1²``, ``sin x2``)."""
        return input_names(self.features, self.feature_names)

    def prepare(self, P: Array) -> Array:
        """Points of the plane as the network takes them: standardised, then the chosen features."""
        return featurize(self.standardizer(P), self.features)

    def metadata(self) -> dict[str, Any]:
        """``network.metadata`` by the project's convention for model files. With features other
        than (x₁, x₂), the model takes the feature columns (``feature_names``), and ``features``
        says how they are made from the two columns (standardised first for a CSV)."""
        meta: dict[str, Any] = {"feature_names": self.inputs, "target": self.target, "task": self.task}
        if self.task == "classification":
            meta["classes"] = self.classes
        standardize = None
        if (self.standardizer.mean != 0).any() or (self.standardizer.scale != 1).any():
            standardize = self.standardizer.to_metadata()
        if self.features == DEFAULT:
            if standardize is not None:
                meta["standardize"] = standardize
        else:
            meta["features"] = {
                "columns": self.feature_names,
                "names": self.features,
                "equations": EQUATIONS,
                **({"standardize": standardize} if standardize is not None else {}),
                "note": "the model's inputs are these features of (x1, x2) = the two columns"
                + (", standardised first: x' = (x − mean) / scale" if standardize is not None else ""),
            }
        return meta


def make_data(settings: Settings, table: Table | None) -> Data:
    """The rows that ``settings`` describe, split into training and test rows by its seed, as
    `chainrule.data` splits every data set (by class for class labels)."""
    if settings.data == "csv":
        if table is None:
            raise ValueError("no CSV uploaded in this session: upload one (a CSV is not kept in the URL)")
        if table.task == "classification":
            classes = sorted(set(table.labels), key=_label_order)
            index = {c: k for k, c in enumerate(classes)}
            y = np.array([index[label] for label in table.labels], dtype=np.intp)
        else:
            classes, y = [], np.asarray(table.labels, dtype=float)
        train, _, test = split_indices(
            y, settings.test_fraction, 0.0, settings.seed, stratify=table.task == "classification"
        )
        P_train, P_test, y_train, y_test = table.X[train], table.X[test], y[train], y[test]
        names, target, task = table.feature_names, table.target, table.task
    else:
        ds = load(
            settings.data,
            samples=settings.samples,
            noise=settings.noise,
            classes=settings.classes,
            seed=settings.seed,
            val_fraction=0.0,
            test_fraction=settings.test_fraction,
        )
        P_train, P_test, y_train, y_test = ds.X_train, ds.X_test, ds.y_train, ds.y_test
        task = ds.task
        classes = [] if ds.classes is None else list(range(settings.classes))
        names, target = ["x1", "x2"], "y" if task == "regression" else "label"
    if settings.data == "csv":
        standardizer = Standardizer.fit(P_train)  # a constant column stays as it is, centred
    else:
        standardizer = Standardizer(np.zeros(2), np.ones(2))
    features = list(settings.features)
    return Data(
        X_train=featurize(standardizer(P_train), features),
        y_train=y_train,
        X_test=featurize(standardizer(P_test), features),
        y_test=y_test,
        P_train=P_train,
        P_test=P_test,
        task=task,
        classes=classes,
        feature_names=names,
        target=target,
        standardizer=standardizer,
        features=features,
    )


def _label_order(label: Any) -> tuple[int, Any]:
    return (0, label) if isinstance(label, int) else (1, str(label))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def parse_csv(raw: bytes) -> Table:
    """Read ``x1, x2, label`` rows (by `chainrule.datafiles.read_rows`: any of its delimiters,
    quotes, blank lines skipped), or say which line is wrong and how."""
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the CSV is not UTF-8 text: save it as a plain .csv file") from None
    if b"\0" in raw:
        raise ValueError("the CSV contains NUL bytes: it looks like a binary file, not a CSV")
    try:
        read = read_rows(raw, header=False, columns=3)
    except RaggedRowError as e:
        raise ValueError(f"line {e.line} has {e.found} fields: each row needs 3 (x1, x2, label)") from None
    keep = (np.char.str_len(np.char.strip(read.cells)) > 0).any(axis=1)  # a row of blank fields: skipped
    cells, lines = read.cells[keep], read.lines[keep]
    if len(cells) == 0:
        raise ValueError("the CSV is empty: it needs rows of x1, x2, label")
    header = ["x1", "x2", "label"]
    if _number(cells[0, 0]) is None or _number(cells[0, 1]) is None:
        header = [f.strip() or default for f, default in zip(cells[0], header, strict=True)]
        cells, lines = cells[1:], lines[1:]
        if len(set(header)) < 3:
            raise ValueError(
                f"the header names a column twice ({', '.join(header)}): give the three columns "
                "three names (x1, x2, label, or your own)"
            )
    if not MIN_SAMPLES <= len(cells) <= MAX_SAMPLES:
        raise ValueError(
            f"the CSV has {len(cells)} data rows: the playground takes {MIN_SAMPLES} to {MAX_SAMPLES}"
        )
    X = np.empty((len(cells), 2))
    labels: list[str] = []
    for r, (line, row) in enumerate(zip(lines.tolist(), cells, strict=True)):
        for c in range(2):
            value = _number(row[c])
            if value is None or not math.isfinite(value):
                raise ValueError(f"line {line}: {header[c]} = {row[c].strip()[:40]!r} is not a finite number")
            X[r, c] = value
        label = row[2].strip()
        if not label:
            raise ValueError(f"line {line}: the label is empty")
        labels.append(label)
    if not np.isfinite(X.std(axis=0)).all():
        raise ValueError("the CSV's x1 or x2 values are too large to compute with: rescale them")
    return _table(X, labels, header)


def _table(X: Array, labels: list[str], header: list[str]) -> Table:
    numbers = [_number(label) for label in labels]
    distinct = set(labels)
    if all(v is not None for v in numbers):
        values = np.array(numbers, dtype=float)
        if not np.isfinite(values).all():
            raise ValueError(f"the {header[2]} column contains NaN or inf: remove those rows")
        whole = bool((values == np.round(values)).all())
        if not whole or len(set(values.tolist())) > MAX_CLASSES:
            return Table(X, values.tolist(), "regression", header[:2], header[2])
        classes: list[Any] = [int(v) for v in values]
    elif len(distinct) > MAX_CLASSES:
        raise ValueError(
            f"the {header[2]} column has {len(distinct)} distinct labels: the playground takes at most "
            f"{MAX_CLASSES} classes"
        )
    else:
        classes = labels
    if len(set(classes)) < 2:
        raise ValueError(f"the {header[2]} column has a single class: classification needs 2 or more")
    return Table(X, classes, "classification", header[:2], header[2])
