"""The commands that read a model file: ``evaluate``, ``predict``, ``explain`` and ``export``."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

import chainrule as cr
from chainrule import data as datasets
from chainrule.cli.app import (
    CLIError,
    DataDirOpt,
    DataOpt,
    ModelArg,
    TargetOpt,
    _checked_by,
    _classification_table,
    _confusion,
    _confusion_table,
    _load_model,
    _parse_pair,
    _probabilities,
    _UsageError,
    app,
    console,
)  # fmt: skip
from chainrule.datafiles import check_file
from chainrule.evaluation import held_out, model_classes, model_features, score
from chainrule.explain import EXAMPLES
from chainrule.rundir import json_text
from chainrule.safefile import atomic_write, writable
from chainrule.world import Local


# ---------------------------------------------------------------------------------- evaluate
@app.command()
def evaluate(
    model: ModelArg, data: DataOpt = None, data_dir: DataDirOpt = None, target: TargetOpt = None
) -> None:
    """Loss, accuracy, per-class precision and recall, and the confusion matrix of a model.

    Without --data: the test rows of the data it was trained on; with a .csv file: all its rows."""
    network = _load_model(model)
    X, y, rows = held_out(network, data, data_dir=data_dir, target=target)
    result = network.evaluate(X, y)
    classes = model_classes(network)
    console.print(f"{model}: {rows}", soft_wrap=True, markup=False)
    figures = dict(result)
    if classes is None:
        figures = score(network, X, y, Local())
    console.print("  ".join(f"{k} {v:.4f}" for k, v in figures.items()), markup=False)
    if classes is not None:
        cm = _confusion(y, np.argmax(_probabilities(network, X), axis=1), len(classes))
        console.print(_classification_table(cm, classes))
        console.print("confusion matrix (rows: true class, columns: predicted class)", markup=False)
        console.print(_confusion_table(cm, classes))


# ----------------------------------------------------------------------------------- predict
@app.command()
def predict(
    model: ModelArg,
    input: Annotated[
        Path,
        typer.Argument(
            help="rows to predict: a CSV file with a header row (any suffix but .npy), or a .npy array"
        ),
    ],
    output: Annotated[
        Path | None, typer.Option(help="write the predictions here (CSV) instead of stdout")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite --output if it exists")] = False,
) -> None:
    """Class labels and probabilities (or regression values) for new rows, after the model's
    preprocessing."""
    network = _load_model(model)
    if output is not None and output.is_dir():
        raise CLIError(f"--output {output} is a folder: give a file name, e.g. {output / 'predictions.csv'}")
    if output is not None:  # checked before the work: not there (or --force), a regular file
        writable(output, force)
    X = _read_rows(network, input)
    X = datasets.standardize(X, network.metadata)
    classes = model_classes(network)
    if classes is None:
        column = str(network.metadata.get("target") or "prediction")
        k = network.n_outputs
        header_out = [column] if k == 1 else [f"{column}_{j}" for j in range(k)]
        rows = [[str(v) for v in row] for row in network.predict(X)]  # every digit of the dtype's
    else:
        p = _probabilities(network, X).astype(network.dtype)  # printed with the dtype's digits
        header_out = ["label", *(f"p_{c}" for c in classes)]
        rows = [[str(classes[k]), *map(str, row)] for k, row in zip(np.argmax(p, axis=1), p, strict=True)]
    if output is None:
        csv.writer(sys.stdout, lineterminator="\n").writerows([header_out, *rows])
        return
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header_out, *rows])
    atomic_write(output, text.getvalue().encode(), overwrite=force)  # all of it, or the old file as it was
    console.print(f"wrote {len(rows)} predictions to {output}", markup=False)


def _read_rows(network: cr.Network, path: Path) -> np.ndarray:
    """The raw features of new rows: a .npy array, or the model's columns of a CSV file."""
    check_file(path)
    if path.suffix.lower() != ".npy":  # a CSV file, whatever its suffix (.tsv, .txt), as train reads it
        header, cells = datasets.read_csv(path)
        return model_features(network, header, cells, path, network.metadata.get("target"))
    try:
        X = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise CLIError(f"{path} is not a numeric .npy array ({e}): save one with numpy.save") from None
    if X.size == 0:
        raise CLIError(f"{path} is an empty array: give at least one row")
    X = X.reshape(1, -1) if X.ndim == 1 else X
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise CLIError(f"{path} holds a {X.dtype} array of shape {X.shape}: give a 2-D array of numbers")
    if X.shape[1] != network.n_features:
        raise CLIError(
            f"{path} has {X.shape[1]} features per row but the model expects {network.n_features}: "
            "give the same columns as in training"
        )
    if not np.isfinite(X).all():
        raise CLIError(f"{path} contains NaN or inf: remove or impute those values")
    return X


# ----------------------------------------------------------------------------------- explain
@app.command()
def explain(
    model: Annotated[
        Path | None,
        typer.Argument(help="a model file written by chainrule train (or use --example)", show_default=False),
    ] = None,
    layer: Annotated[
        int | None,
        typer.Option(
            min=1, help="layer of weights, 1 = first hidden layer (as in the notes)", show_default=False
        ),
    ] = None,
    weight: Annotated[
        str | None,
        typer.Option(
            help="i,j: the weight from input i (of the layer below) to neuron j, counted from 0 "
            "(the notes' w_(i+1),(j+1))",
            callback=_checked_by(lambda v: v if v is None else _parse_pair(v)),
            show_default=False,
        ),
    ] = None,
    sample: Annotated[int, typer.Option(min=0, help="which evaluation row (see --data) to explain")] = 0,
    data: DataOpt = None,
    data_dir: DataDirOpt = None,
    target: TargetOpt = None,
    example: Annotated[
        str | None,
        typer.Option(
            help="explain a built-in example instead of a model: 'notes', the notes' 2-2-2 sigmoid network "
            "with squared error (--layer 1 --weight 0,0 unless given)",
            show_default=False,
        ),
    ] = None,
    terms: Annotated[
        int, typer.Option(min=1, help="show at most this many terms per sum (largest first)")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print the numbers as JSON")] = False,
) -> None:
    """The chain rule for one weight: ∂C/∂w = a · δ with every number, beside a finite difference.

    The example is row --sample of the test rows of the model's training data (or of --data), or
    the notes' worked example: chainrule explain --example notes"""
    if example is not None:
        if example not in EXAMPLES:
            raise typer.BadParameter(
                f"unknown example {example!r}: use {', '.join(EXAMPLES)}", param_hint="'--example'"
            )
        if model is not None:
            raise CLIError("give a model file or --example, not both")
        network, X, y = EXAMPLES[example]()
        layer = 1 if layer is None else layer
        weight = "0,0" if weight is None else weight
    else:
        if model is None:
            raise _UsageError("Missing argument 'MODEL' (a model file), or give --example notes")
        for value, hint in ((layer, "'--layer'"), (weight, "'--weight'")):
            if value is None:
                raise _UsageError(f"Missing option {hint}")
        network = _load_model(model)
        X, y, _ = held_out(network, data, data_dir=data_dir, target=target)
    i, j = _parse_pair(weight)
    try:
        result = cr.explain(network, X, y, level=layer, weight=(i, j), sample=sample)
    except ValueError as e:
        raise CLIError(f"{e} (see --layer, --weight, --sample)") from None
    if as_json:
        sys.stdout.write(json_text(result.to_dict()) + "\n")  # strict JSON: NaN as null
    else:
        console.print(result.render(max_terms=terms), markup=False, soft_wrap=True)


# ------------------------------------------------------------------------------------ export
@app.command()
def export(
    model: ModelArg,
    onnx: Annotated[Path, typer.Option("--onnx", help="write the ONNX graph here (e.g. model.onnx)")],
    force: Annotated[bool, typer.Option("--force", help="overwrite --onnx if it exists")] = False,
) -> None:
    """Export a model's forward pass (with its standardisation and class labels) as an ONNX graph."""
    network = _load_model(model)
    if onnx.is_dir():
        raise CLIError(f"--onnx {onnx} is a folder: give a file name, e.g. {onnx / 'model.onnx'}")
    writable(onnx, force)  # checked before the work: not there (or --force), a regular file
    try:
        from chainrule import onnx as onnx_export

        onnx_export.export(network, onnx, overwrite=force)
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] != "onnx":
            raise
        raise CLIError(
            f"ONNX export needs the onnx package ({e.name} is missing): pip install 'chainrule[onnx]'"
        ) from None
    dtype = "float64" if network.metadata.get("standardize") else "float32"  # as chainrule.onnx
    console.print(f"wrote {onnx}: input 'input' ({dtype}, N×{network.n_features})", markup=False)
