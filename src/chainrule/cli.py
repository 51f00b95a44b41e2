"""The command line: ``chainrule train | evaluate | predict | gradcheck | explain | export |
playground``.

Each command is one function of the Typer app ``app`` (another command is one more function).
`main` runs the app and turns every problem with the user's input (a missing file, a bad
option value, data that cannot be learned from) into one line on stderr and a non-zero exit
status, never a traceback.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

import chainrule as cr
from chainrule import data as datasets
from chainrule import plots
from chainrule.activations import activation as make_activation
from chainrule.evaluation import held_out, model_classes, model_features
from chainrule.pipeline import (
    Experiment,
    interval,
    prepare_run_dir,
    score,
    store_experiment,
    stored_experiment,
)
from chainrule.run import parse_interval
from chainrule.world import Local, MPIWorld, World, from_environment

app = typer.Typer(
    name="chainrule",
    help="Feed-forward networks trained by explicit backpropagation: train, evaluate, predict, "
    "check and explain them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Click's plain help: Typer's Rich panels would print a <bool> type after every flag; as wide
    # as the terminal, up to 110 columns (Click's default stops at 80, cutting the commands' lines)
    rich_markup_mode=None,
    context_settings={"max_content_width": 110},
)
console = Console(highlight=False)

# Typer (like Click) reports bad command lines with a UsageError, the base of BadParameter;
# taken from there because newer Typer versions vendor Click under a private module name.
_UsageError: type[Exception] = typer.BadParameter.__bases__[0]


class CLIError(Exception):
    """A problem with the user's input; the message names it and the fix."""


_world: World = Local()  # the processes of a train, for _error to end them all


DATA_HELP = (
    "digits, fashion-mnist, xor, circles, moons, spiral, gaussians, plane, or a path to a .csv file "
    "with a header row"
)
# options with a fixed set of values: Typer checks them and --help lists them
LossName = Literal["cross_entropy", "binary_cross_entropy", "squared_error"]
OptimizerName = Literal["sgd", "momentum", "nesterov", "adam"]
PRESETS = {
    # the network of the lecture notes: sigmoid hidden layers, softmax + cross entropy, and plain
    # gradient descent θ ← θ − η ∇L(θ) on all the training examples at once
    "lecture": {
        "activation": "sigmoid",
        "loss": "cross_entropy",
        "optimizer": "sgd",
        "batch_size": "full",
        "lr": 2.0,
        "epochs": 300,
    },
}
PresetName = Literal["lecture"]  # the names of PRESETS
DEFAULTS = {"layers": "256", "activation": "relu", "optimizer": "adam", "batch_size": "32", "epochs": 30}


# ------------------------------------------------------------------ checks of option values
# Typer checks types, choices and closed ranges (min=, max=); these callbacks check what it cannot
# express: a range with an open end, and the free-form options (128,64; full; 10m; relu,tanh). A
# value they reject is a usage error that names the option (exit status 2), like Typer's own.
def _within(low: float, high: float, *, low_open: bool = False, example: str) -> Callable[[Any], Any]:
    """A callback: the number must lie in [low, high), or (low, high) with ``low_open``."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g})"

    def check(value: float | None) -> float | None:
        if value is None:  # not given
            return value
        above = low < value if low_open else low <= value  # False for nan
        if not (above and value < high):
            raise typer.BadParameter(f"must lie in {interval}, got {value}: e.g. {example}")
        return value

    return check


def _checked_by(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A callback: the text must be one that ``parse`` accepts (its ValueError says what is
    expected); the option keeps the text, which is parsed again where it is used."""

    def check(text: str | None) -> str | None:
        if text is not None:
            try:
                parse(text)
            except ValueError as e:
                raise typer.BadParameter(str(e)) from None
        return text

    return check


def _parse_layers(text: str) -> list[int]:
    """'128,64' → [128, 64]; '' or 'none' → no hidden layer."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(f"expected hidden-layer widths such as 128,64 (or none), got {text!r}")
    return sizes


def _parse_batch_size(text: str) -> int | None:
    """A positive integer, or 0 / 'full' for full-batch gradient descent (None)."""
    if text.strip().lower() in ("0", "full"):
        return None
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size < 1:
        raise ValueError(f"expected a positive integer, or 0 or full for full batch, got {text!r}")
    return size


def _parse_activations(text: str) -> str | list[str]:
    """'relu' → 'relu'; 'relu,tanh' → one activation per hidden layer, each a known name."""
    names = [name.strip() for name in text.split(",")]
    for name in names:
        make_activation(name)  # ValueError: unknown activation 'swish': use one of ...
    return names if len(names) > 1 else names[0]


def _parse_pair(text: str) -> tuple[int, int]:
    """'3,7' → (3, 7): the weight from input i to neuron j."""
    try:
        i, j = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"expected two indices i,j (from input i to neuron j), got {text!r}") from None
    return i, j


def _checkpoint_every(text: str | None) -> int | str | None:
    """--checkpoint-every: a number of epochs, or a time interval (90s, 10m, 1h)."""
    if text is None:
        return None
    every: int | str = int(text) if text.strip().isdigit() else text
    try:
        parse_interval(every)
    except ValueError:
        raise ValueError(
            f"expected a number of epochs ≥ 1 or a time such as 90s, 10m, 1h, got {text!r}"
        ) from None
    return every


ModelArg = Annotated[Path, typer.Argument(help="a model file written by chainrule train", show_default=False)]
DataOpt = Annotated[str | None, typer.Option(help=f"data set: {DATA_HELP}", show_default=False)]
DataDirOpt = Annotated[
    Path | None, typer.Option(help="folder holding the Fashion-MNIST IDX files", show_default=False)
]
TargetOpt = Annotated[
    str | None, typer.Option(help="CSV: the target column (default: the last)", show_default=False)
]


# ----------------------------------------------------------------------------------- helpers
def _run_dir(out: Path | None, force: bool) -> Path:
    """The run directory: ``out``, or runs/<date-time>; an existing non-empty one only with --force."""
    if out is None:
        base = Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
        out, n = base, 1
        while out.exists():
            n += 1
            out = base.with_name(f"{base.name}-{n}")
        return out
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} is a file, not a directory: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CLIError(
            f"run directory {out} exists and is not empty: pass --force to overwrite its files, "
            "or choose another --out"
        )
    return out


def _load_model(path: Path) -> cr.Network:
    try:
        return cr.load(path)
    except FileNotFoundError:
        raise CLIError(
            f"no model file at {path}: check the path (chainrule train writes model.safetensors)"
        ) from None
    except cr.ModelFileError as e:
        raise CLIError(f"{e}: give a model.safetensors written by chainrule train") from None


def _probabilities(network: cr.Network, X: np.ndarray) -> np.ndarray:
    """P(class k | x) for every class: the softmax outputs, or [1 − a, a] for one sigmoid output."""
    p = network.predict_proba(X).astype(np.float64)
    return np.column_stack([1 - p[:, 0], p[:, 0]]) if p.shape[1] == 1 else p


def _confusion(y: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """C[t, p] = number of rows of true class t predicted as p."""
    return np.bincount(y * k + predicted, minlength=k * k).reshape(k, k)


def _classification_table(cm: np.ndarray, classes: Sequence[Any]) -> Table:
    table = Table(title="per class")
    for column in ("class", "precision", "recall", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for k, name in enumerate(classes):
        predicted, actual = cm[:, k].sum(), cm[k].sum()
        precision = cm[k, k] / predicted if predicted else float("nan")
        recall = cm[k, k] / actual if actual else float("nan")
        table.add_row(Text(str(name)), f"{precision:.4f}", f"{recall:.4f}", str(actual))
    return table


def _confusion_table(cm: np.ndarray, classes: Sequence[Any]) -> Table:
    table = Table()
    table.add_column("")
    for k in range(len(classes)):
        table.add_column(str(k), justify="right")
    for k, name in enumerate(classes):
        table.add_row(Text(f"{k} {name}"), *(str(v) for v in cm[k]))  # Text: no markup in names
    return table


# ------------------------------------------------------------------------------------- train
class _Progress(cr.Callback):
    """A progress bar per epoch (batches, running loss, throughput, ETA) and a line per epoch."""

    def __init__(self, epochs: int, n_batches: int) -> None:
        self.epochs, self.n_batches = epochs, n_batches
        self.bar = Progress(
            TextColumn("epoch {task.fields[epoch]}/" + str(epochs)),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("batches  loss {task.fields[loss]:.4f}  {task.fields[rate]:,.0f} samples/s"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )

    def on_train_begin(self, network: cr.Network, history: cr.History) -> None:
        self.bar.start()
        self.task = self.bar.add_task("train", total=self.n_batches, epoch=1, loss=float("nan"), rate=0.0)
        self.start = time.perf_counter()

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        rate = logs["samples"] / max(time.perf_counter() - self.start, 1e-9)
        self.bar.update(self.task, completed=batch + 1, loss=logs["loss"], rate=rate)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        seconds = time.perf_counter() - self.start
        figures = "  ".join(f"{k} {v:.4f}" for k, v in logs.items())
        self.bar.console.print(
            f"epoch {epoch + 1}/{self.epochs}  {figures}  ({seconds:.2f} s)", soft_wrap=True, markup=False
        )
        if epoch + 1 < self.epochs:
            self.bar.reset(self.task, total=self.n_batches, epoch=epoch + 2, loss=float("nan"), rate=0.0)
        self.start = time.perf_counter()


class _DownloadBar:
    """A progress bar per file while Fashion-MNIST downloads (`datasets.Report`)."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("downloading {task.description}"), BarColumn(), console=console, transient=True
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        if not self.tasks:
            self.bar.start()
        if name not in self.tasks:
            self.tasks[name] = self.bar.add_task(name, total=total or None)
        self.bar.update(self.tasks[name], completed=done)

    def close(self) -> None:
        if self.tasks:
            self.bar.stop()


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[str, typer.Option(help=f"data set: {DATA_HELP}")] = "digits",
    data_dir: DataDirOpt = None,
    target: TargetOpt = None,
    task: Annotated[
        Literal["auto", "classification", "regression"], typer.Option(help="what the CSV targets are")
    ] = "auto",
    samples: Annotated[
        int | None,
        typer.Option(
            min=1, help="toys: points to draw; other data: use the first N rows", show_default=False
        ),
    ] = None,
    noise: Annotated[float, typer.Option(min=0, help="toys: standard deviation of the jitter")] = 0.1,
    classes: Annotated[int, typer.Option(min=2, help="spiral, gaussians: number of classes")] = 2,
    # --preset may set layers, activation, loss, optimizer, lr, batch_size and epochs: their
    # default is None ("not given"), and _settings fills them in
    layers: Annotated[
        str | None,
        typer.Option(
            help="hidden-layer widths, e.g. 128,64, or none (default: 256)",
            callback=_checked_by(_parse_layers),
        ),
    ] = None,
    activation: Annotated[
        str | None,
        typer.Option(
            help="hidden activation, or one per hidden layer: relu,tanh (default: relu)",
            callback=_checked_by(_parse_activations),
        ),
    ] = None,
    loss: Annotated[
        LossName | None, typer.Option(help="loss to minimise (default: by the targets)", show_default=False)
    ] = None,
    optimizer: Annotated[OptimizerName | None, typer.Option(help="the update rule (default: adam)")] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="learning rate η > 0 (default: 0.001 for adam, 0.01 for sgd)",
            callback=_within(0, math.inf, low_open=True, example="--lr 0.001"),
            show_default=False,
        ),
    ] = None,
    schedule: Annotated[
        Literal["constant", "cosine"],
        typer.Option(help="learning rate: constant, or cosine (decays from --lr to 0 over the epochs)"),
    ] = "constant",
    batch_size: Annotated[
        str | None,
        typer.Option(
            help="rows per step; 0 or full: full batch (default: 32)", callback=_checked_by(_parse_batch_size)
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="passes over the training rows (default: 30)")
    ] = None,
    weight_decay: Annotated[
        float,
        typer.Option(
            help="L2 weight decay λ ≥ 0", callback=_within(0, math.inf, example="--weight-decay 0.0001")
        ),
    ] = 0.0,
    dropout: Annotated[
        float,
        typer.Option(
            help="dropout probability after each hidden layer, in [0, 1)",
            callback=_within(0, 1, example="--dropout 0.2"),
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="seed of the weights, the split, shuffling and dropout")] = 0,
    dtype: Annotated[
        Literal["float32", "float64"], typer.Option(help="of the weights and the data")
    ] = "float32",
    val_fraction: Annotated[
        float,
        typer.Option(
            help="part of the training rows held out for validation, in [0, 1)",
            callback=_within(0, 1, example="--val-fraction 0.2"),
        ),
    ] = 0.1,
    test_fraction: Annotated[
        float,
        typer.Option(
            help="part of the rows held out for testing (no test split), in (0, 1)",
            callback=_within(0, 1, low_open=True, example="--test-fraction 0.2"),
        ),
    ] = 0.25,
    early_stopping: Annotated[
        int, typer.Option(min=0, help="stop after N epochs without a better validation loss (0: off)")
    ] = 0,
    preset: Annotated[
        PresetName | None,
        typer.Option(
            help="lecture: sigmoid hidden layers, softmax + cross entropy, full-batch gradient descent "
            "(η = 2, 300 epochs); the options given override it"
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="run directory (default: runs/<date-time>)", show_default=False)
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="overwrite files in an existing run directory")
    ] = False,
    checkpoint_every: Annotated[
        str | None,
        typer.Option(
            help="save the training state in --out every N epochs, or every 90s, 10m, 1h (then "
            "--resume continues the run after a crash or Ctrl+C)",
            callback=_checked_by(_checkpoint_every),
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="continue the checkpointed run in this directory, with its settings", show_default=False
        ),
    ] = None,
) -> None:
    """Train a network and write model.safetensors, history.json, metrics.json and plots into --out.

    Under mpiexec -n N (or srun), the N processes train one model together (docs/distributed.md)."""
    world = from_environment()  # first: from here on an error on any rank aborts them all
    global _world
    _world = world
    if not world.root:
        console.quiet = True  # rank 0 prints and writes the files
    if resume is not None:
        if ctx is not None:
            _resume_takes_no_options(ctx)
        experiment, every = stored_experiment(resume)
        run = resume
    else:
        settings = _settings(
            preset,
            {
                "layers": layers,
                "activation": activation,
                "loss": loss,
                "optimizer": optimizer,
                "batch_size": batch_size,
                "lr": lr,
                "epochs": epochs,
            },
        )
        acts = settings["activation"]
        experiment = Experiment(
            data=data,
            data_dir=None if data_dir is None else str(data_dir),
            target=target,
            task=task,
            samples=samples,
            noise=noise,
            classes=classes,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            hidden=tuple(settings["hidden"]),
            activation=tuple(acts.split(",")) if "," in acts else acts,
            loss=settings["loss"],
            dropout=dropout,
            optimizer=settings["optimizer"],
            lr=settings["lr"],
            schedule=schedule,
            batch_size=settings["batch"],
            epochs=settings["epochs"],
            weight_decay=weight_decay,
            early_stopping=early_stopping or None,
            seed=seed,
            dtype=dtype,
        )
        every = _checkpoint_every(checkpoint_every)
        run = Path(world.broadcast(str(_run_dir(out, force)) if world.root else None))  # JSON, never pickle
    downloads = _DownloadBar()
    try:
        pipe = experiment.pipeline(world, report=downloads)
    finally:
        downloads.close()
    if resume is None:  # the data is good: now the run directory, before the training
        prepare_run_dir(run, force, world)
        if every is not None and world.root:
            store_experiment(run, experiment, every, force)
    rows = pipe.rows
    console.print(
        f"training {'-'.join(map(str, pipe.sizes))} network ({pipe.network.n_parameters:,} parameters) "
        f"on {experiment.data}: {rows['train']} training, {rows['val']} validation, {rows['test']} test "
        f"rows; {pipe.optimizer!r}, batch {experiment.batch_size or 'full'}"
        + (f"; {world.size} processes" if world.size > 1 else ""),
        soft_wrap=True,
        markup=False,
    )
    progress = _Progress(experiment.epochs, pipe.batches_per_epoch)
    try:
        pipe.fit(
            callbacks=[progress],
            checkpoint=None if every is None else run,
            checkpoint_every=None if every is None else interval(every),
            resume=resume is not None,
        )
    except cr.TrainingInterrupted as e:
        progress.bar.stop()
        name = signal.Signals(e.signal).name
        _error(
            f"{name}: training stopped, its state saved in {e.checkpoint}; continue it with: "
            f"chainrule train --resume {run}",
            128 + e.signal,
        )
    finally:
        progress.bar.stop()
    result = pipe.finish(run, overwrite=True)
    if not world.root:
        return  # the weights are rank 0's, bit for bit: it wrote the run
    console.print(_summary(result.metrics, pipe.classes is not None))
    files = "model.safetensors, history.json, metrics.json, curves.png"
    confusion = pipe.classes is not None and len(pipe.classes) <= plots.MAX_CONFUSION_CLASSES
    console.print(
        f"wrote {run}/: {files}" + (", confusion.png" if confusion else ""), soft_wrap=True, markup=False
    )


def _resume_takes_no_options(ctx: typer.Context) -> None:
    """--resume continues a run with the settings it started with: no other option is taken."""
    given = [
        p.opts[0]
        for p in ctx.command.params
        if p.name != "resume" and getattr(ctx.get_parameter_source(p.name or ""), "name", "") != "DEFAULT"
    ]
    if given:
        raise CLIError(
            f"--resume continues the run with the settings it started with: leave out {', '.join(given)}"
        )


def _settings(preset: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """The options of the network and its training: those given, else the preset's, else the
    defaults (Typer has checked each), with ``hidden`` (the hidden-layer widths) and ``batch``
    (None: full batch) parsed."""
    settings = {"loss": None, "lr": None, **DEFAULTS, **PRESETS.get(preset or "", {})}
    settings.update({k: v for k, v in given.items() if v is not None})
    settings["hidden"] = _parse_layers(settings["layers"])
    settings["batch"] = _parse_batch_size(settings["batch_size"])
    return settings


def _summary(metrics: dict[str, Any], classifier: bool) -> Table:
    table = Table("summary", "value")
    for figure in ("accuracy", "loss") if classifier else ("loss", "rmse", "r2"):
        for split in ("train", "val", "test"):
            if f"{split}_{figure}" in metrics:
                table.add_row(f"{split} {figure}", f"{metrics[f'{split}_{figure}']:.4f}")
    best = f" (best: {metrics['best_epoch']})" if metrics["best_epoch"] else ""
    table.add_row("epochs", f"{metrics['epochs']}{best}")
    table.add_row("wall time", f"{metrics['train_seconds']:.2f} s")
    table.add_row("parameters", f"{metrics['parameters']:,}")
    return table


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
        Path, typer.Argument(help="rows to predict: a .csv file with a header row, or a .npy array")
    ],
    output: Annotated[
        Path | None, typer.Option(help="write the predictions here (CSV) instead of stdout")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite --output if it exists")] = False,
) -> None:
    """Class labels and probabilities (or regression values) for new rows, after the model's
    preprocessing."""
    network = _load_model(model)
    if output is not None and output.exists() and not force:
        raise CLIError(f"{output} exists: pass --force to overwrite it, or choose another --output")
    X = _read_rows(network, input)
    X = datasets.standardize(X, network.metadata)
    classes = model_classes(network)
    if classes is None:
        column = str(network.metadata.get("target") or "prediction")
        header_out = [column]
        rows = [[f"{v:.6g}"] for v in network.predict(X)[:, 0]]
    else:
        p = _probabilities(network, X)
        header_out = ["label", *(f"p_{c}" for c in classes)]
        rows = [
            [str(classes[k]), *(f"{v:.6f}" for v in row)]
            for k, row in zip(np.argmax(p, axis=1), p, strict=True)
        ]
    if output is None:
        csv.writer(sys.stdout, lineterminator="\n").writerows([header_out, *rows])
        return
    with open(output, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header_out, *rows])
    console.print(f"wrote {len(rows)} predictions to {output}", markup=False)


def _read_rows(network: cr.Network, path: Path) -> np.ndarray:
    """The raw features of new rows: a .npy array, or the model's columns of a CSV file."""
    if not path.is_file():
        raise CLIError(f"no such file: {path}: check the path")
    if path.suffix.lower() == ".csv":
        header, cells = datasets.read_csv(path)
        return model_features(network, header, cells, path, network.metadata.get("target"))
    if path.suffix.lower() != ".npy":
        raise CLIError(f"{path} is neither .csv nor .npy: give a CSV file with a header row or a .npy array")
    try:
        X = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise CLIError(f"{path} is not a numeric .npy array ({e}): save one with numpy.save") from None
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


# --------------------------------------------------------------------------------- gradcheck
@app.command()
def gradcheck(
    model: Annotated[
        Path | None, typer.Option(help="check this model file instead of building a network")
    ] = None,
    layers: Annotated[
        str,
        typer.Option(help="hidden-layer widths of the network to build", callback=_checked_by(_parse_layers)),
    ] = "5,4",
    activation: Annotated[
        str,
        typer.Option(
            help="hidden activation, or one per hidden layer", callback=_checked_by(_parse_activations)
        ),
    ] = "tanh",
    loss: Annotated[LossName, typer.Option(help="loss of the network to build")] = "cross_entropy",
    inputs: Annotated[int, typer.Option(min=1, help="inputs of the network to build")] = 4,
    outputs: Annotated[int, typer.Option(min=1, help="outputs of the network to build")] = 3,
    samples: Annotated[int, typer.Option(min=1, help="random examples the loss is summed over")] = 6,
    max_per_parameter: Annotated[
        int | None,
        typer.Option(
            min=1, help="check this many random entries per array (default: all; 50 for a model file)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the network, the examples and the sampled entries")] = 0,
) -> None:
    """Compare backpropagation's gradient with finite differences, parameter by parameter, in float64."""
    if model is not None:
        network = _load_model(model)
        max_per_parameter = 50 if max_per_parameter is None else max_per_parameter
    else:
        try:
            network = cr.Network.from_sizes(
                [inputs, *_parse_layers(layers), outputs],
                _parse_activations(activation),
                loss=loss,
                dtype="float64",
                seed=seed,
            )
        except ValueError as e:
            raise CLIError(str(e)) from None
        rng = np.random.default_rng(seed)
        for level in network.levels:  # biases away from 0: fewer z on a ReLU kink
            level.b[...] = rng.normal(0, 0.5, level.b.shape)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(samples, network.n_features))
    k = network.n_outputs
    if network.loss.name == "cross_entropy":
        y = rng.integers(0, k, samples)
    elif network.loss.name == "binary_cross_entropy":
        y = rng.integers(0, 2, (samples, k)).astype(float)
    else:
        y = rng.normal(size=(samples, k))
    result = cr.gradcheck(network, X, y, max_per_parameter=max_per_parameter, seed=seed)
    console.print(f"gradient check of {network!r} on {samples} random examples", soft_wrap=True, markup=False)
    console.print(str(result), markup=False)
    if not result.passed():
        console.print(
            "FAILED: backprop and finite differences disagree (relative error ≥ 1e-6)", markup=False
        )
        raise typer.Exit(1)
    console.print("passed: every relative error is below 1e-6", markup=False)


# ----------------------------------------------------------------------------------- explain
@app.command()
def explain(
    model: ModelArg,
    layer: Annotated[
        int, typer.Option(min=1, help="layer of weights, 1 = first hidden layer (as in the notes)")
    ],
    weight: Annotated[
        str,
        typer.Option(
            help="i,j: the weight from input i (of the layer below) to neuron j",
            callback=_checked_by(_parse_pair),
        ),
    ],
    sample: Annotated[int, typer.Option(min=0, help="which evaluation row (see --data) to explain")] = 0,
    data: DataOpt = None,
    data_dir: DataDirOpt = None,
    target: TargetOpt = None,
    terms: Annotated[
        int, typer.Option(min=1, help="show at most this many terms per sum (largest first)")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print the numbers as JSON")] = False,
) -> None:
    """The chain rule for one weight: ∂C/∂w = a · δ with every number, beside a finite difference.

    The example is row --sample of the test rows of the model's training data (or of --data)."""
    network = _load_model(model)
    i, j = _parse_pair(weight)
    X, y, _ = held_out(network, data, data_dir=data_dir, target=target)
    try:
        result = cr.explain(network, X, y, level=layer, weight=(i, j), sample=sample)
    except ValueError as e:
        raise CLIError(f"{e} (see --layer, --weight, --sample)") from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=1) + "\n")
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
    if onnx.exists() and not force:
        raise CLIError(f"{onnx} exists: pass --force to overwrite it, or choose another --onnx")
    try:
        from chainrule import onnx as onnx_export

        onnx_export.export(network, onnx, overwrite=force)
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] != "onnx":
            raise
        raise CLIError(
            f"ONNX export needs the onnx package ({e.name} is missing): pip install 'chainrule[onnx]'"
        ) from None
    console.print(f"wrote {onnx}: input 'input' (float32, N×{network.n_features})", markup=False)


# -------------------------------------------------------------------------------- playground
@app.command()
def playground(
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to serve on (0: any free port)")] = 8000,
    host: Annotated[
        str, typer.Option(help="address to bind; 127.0.0.1 is this machine only, 0.0.0.0 every network")
    ] = "127.0.0.1",
) -> None:
    """Serve the web playground (watch every a, δ and ∂C/∂w while a network learns) until Ctrl+C."""
    try:
        from chainrule.playground import serve
    except ModuleNotFoundError as e:
        raise CLIError(str(e)) from None
    try:
        serve(host, port)
    except OSError as e:  # the port is taken, the address is not this machine's
        raise CLIError(e.strerror or str(e)) from None
    except KeyboardInterrupt:  # Ctrl+C, uvicorn's way to stop: a normal end (SIGTERM ends it by the signal)
        console.print("playground stopped", markup=False)


# -------------------------------------------------------------------------------------- main
# DataError and ModelFileError are ValueErrors; the core's ValueErrors name the bad value and the fix
_USER_ERRORS = (CLIError, ValueError, FileExistsError, FloatingPointError)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: run the app; a user's mistake is one line on stderr and exit status 1
    (2 for a malformed command line), never a traceback."""
    command = typer.main.get_command(app)
    try:
        status = command.main(args=argv, prog_name="chainrule", standalone_mode=False)
    except _UsageError as e:
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help())
            sys.exit(2)
        where = ctx.command_path if ctx is not None else "chainrule"
        _error(f"{e.format_message()} (see: {where} --help)", 2)  # type: ignore[attr-defined]
    except _USER_ERRORS as e:
        _error(_flags(str(e)), 1)
    except BrokenPipeError:  # the reader went away (chainrule ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as e:  # a file that cannot be read or written
        where = f" {e.filename}" if e.filename else ""
        _error(f"{e.strerror or e}:{where}: check the path and its permissions", 1)
    except KeyboardInterrupt:
        _error("interrupted", 130)
    except Exception:
        if _world.size == 1:
            raise
        traceback.print_exc()  # a bug on one rank of several: show where, and end them all
        _error("the traceback above stopped this rank", 1)
    sys.exit(status if isinstance(status, int) else 0)


# the library's arguments that the command line takes under another name
_FLAG_OF = {"hidden": "--layers", "overwrite": "--force", "data_name": "--data"}


def _flags(message: str) -> str:
    """A library message names the library's arguments (``loss=cross_entropy``, ``samples must
    be``, ``pass data=``); the command line names its flags (``--loss cross_entropy``)."""
    names = {p.name for p in typer.main.get_command(app).commands["train"].params if p.name} | set(_FLAG_OF)
    for name in sorted(names, key=len, reverse=True):
        flag = _FLAG_OF.get(name, "--" + name.replace("_", "-"))
        message = re.sub(rf"(?<![\w.-]){name}=(?=[\w/.'\"-])", flag + " ", message)
        message = re.sub(rf"(?<![\w.-]){name}=", flag, message)
        message = re.sub(rf"(^|: )({name}) (?=must|needs|'|\S+ (does|is|lacks|has))", rf"\1{flag} ", message)
    return message


def _error(message: str, status: int) -> None:
    if isinstance(_world, MPIWorld) and _world.size > 1:  # end them all, or they wait for it forever
        print(f"error: rank {_world.rank} of {_world.size}: {' '.join(message.split())}", file=sys.stderr)
        sys.stderr.flush()
        _world.comm.Abort(status)
    else:
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()
