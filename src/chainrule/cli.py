"""The command line: ``chainrule train | evaluate | predict | gradcheck | explain | export |
playground``.

Each command is one function of the Typer app ``app`` (another command is one more function).
`main` runs the app and turns every problem with the user's input (a missing file, a bad
option value, data that cannot be learned from) into one line on stderr and a non-zero exit
status, never a traceback.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
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
from chainrule import distributed
from chainrule.activations import activation as make_activation
from chainrule.checkpoint import checkpoints
from chainrule.optimizers import optimizer as make_optimizer
from chainrule.run import parse_interval
from chainrule.safefile import atomic_write

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


# Launchers set these in every process they start (MPICH/Hydra, Slurm's srun with PMI or PMIx,
# Open MPI, MVAPICH): with a size above 1, train runs as one rank of a data-parallel job.
_MPI_SIZE_VARIABLES = ("PMI_SIZE", "PMIX_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
_comm: Any = None  # the MPI communicator of a distributed train, for _error to abort the job


def _mpi_world() -> Any:
    """MPI.COMM_WORLD when this process was started by mpiexec or srun with more than one
    process, else None (and mpi4py is never imported)."""
    global _comm
    sizes = [os.environ.get(v, "") for v in _MPI_SIZE_VARIABLES]
    if not any(size.isdigit() and int(size) > 1 for size in sizes):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        raise CLIError(
            "started by mpiexec on several processes, but mpi4py is not installed: "
            "pip install 'chainrule[mpi]'"
        ) from None
    _comm = MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None
    return _comm


RUN_OPTIONS = "run.json"  # the options of a checkpointed run, read by --resume
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


def _classes(network: cr.Network) -> list[Any] | None:
    """The model's class labels (None for regression), checked against its outputs."""
    classes = network.metadata.get("classes")
    if not network.loss.classifier:
        return None
    n = 2 if network.n_outputs == 1 else network.n_outputs
    if classes is None:
        return list(range(n))
    if not isinstance(classes, list) or len(classes) != n:
        raise CLIError(f"the model's classes {classes!r} do not fit its {n} outputs: the file is damaged")
    return classes


def _probabilities(network: cr.Network, X: np.ndarray) -> np.ndarray:
    """P(class k | x) for every class: the softmax outputs, or [1 − a, a] for one sigmoid output."""
    p = network.predict_proba(X).astype(np.float64)
    return np.column_stack([1 - p[:, 0], p[:, 0]]) if p.shape[1] == 1 else p


def _build(ds: datasets.Dataset, settings: dict[str, Any], **kwargs: Any) -> cr.Network:
    """The network for ``ds``: softmax + cross entropy for classes (or one sigmoid output with
    binary cross entropy for two), a linear output with squared error for regression."""
    loss = settings["loss"]
    if ds.classes is None:
        loss = loss or "squared_error"
        if loss != "squared_error":
            raise CLIError(
                f"{ds.name} has numeric targets (regression): use --loss squared_error, not {loss}"
            )
        n_out = 1
    else:
        loss = loss or "cross_entropy"
        if loss == "squared_error":
            raise CLIError(
                f"{ds.name} has class labels: use --loss cross_entropy (or binary_cross_entropy for two "
                "classes), or --task regression for numeric targets"
            )
        if loss == "binary_cross_entropy" and len(ds.classes) != 2:
            raise CLIError(
                f"binary_cross_entropy needs two classes, {ds.name} has {len(ds.classes)}: "
                "use --loss cross_entropy"
            )
        if len(ds.classes) < 2:
            raise CLIError(f"{ds.name} has a single class: a classifier needs at least two")
        n_out = 1 if loss == "binary_cross_entropy" else len(ds.classes)
    activation = settings["activation"]
    acts = activation.split(",") if "," in activation else activation
    return cr.Network.from_sizes([ds.n_features, *settings["hidden"], n_out], acts, loss=loss, **kwargs)


def _model_features(
    network: cr.Network, header: list[str], cells: np.ndarray, path: Path, target: str | None
) -> np.ndarray:
    """The model's input columns of a CSV table, as numbers: found by name when the model
    records its feature names (any order, other columns ignored), else every column but the
    target, which must then be as many as the model's inputs."""
    wanted = network.metadata.get("feature_names")
    if isinstance(wanted, list) and set(wanted) <= set(header):
        names = list(wanted)
    else:
        names = [name for name in header if name != target]
        if len(names) != network.n_features:
            lacks = f" (it lacks {', '.join(sorted(set(wanted) - set(header))[:5])})" if wanted else ""
            raise CLIError(
                f"{path} has {len(names)} feature columns but the model expects {network.n_features}"
                f"{lacks}: give the same columns as in training"
            )
    return datasets.numeric(cells[:, [header.index(n) for n in names]], names, path)


def _evaluation_rows(
    network: cr.Network, data: str | None, data_dir: Path | None, target: str | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Standardised features and targets (class indices or values) to evaluate ``network`` on:
    every row of a CSV file given as ``data``, or else the test rows of the data set ``data``
    (by default the one it was trained on, split as in training)."""
    meta = network.metadata
    trained_on = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    classes = _classes(network)
    target = target or meta.get("target")
    if data is not None and datasets.is_csv(data):
        path = Path(data)
        header, cells = datasets.read_csv(path)
        target = target or header[-1]
        if target not in header:
            raise CLIError(f"{path} has no column {target!r} (columns: {', '.join(header)}): pass --target")
        X = _model_features(network, header, cells, path, target)
        raw = np.char.strip(cells[:, header.index(target)])
        y = (
            datasets.encode_labels(raw, "regression")[0]
            if classes is None
            else datasets.labels_to_indices(raw, classes)
        )
        return datasets.standardize(X, meta), y, f"all {len(y)} rows of {path} (target {target})"
    name = data or trained_on.get("name")
    if name is None:
        raise CLIError("the model does not record its training data: pass --data")
    same = {"samples", "noise", "classes", "seed", "test_fraction"}
    settings = {k: v for k, v in trained_on.items() if k in same} if name == trained_on.get("name") else {}
    task = "regression" if classes is None else "classification"
    ds = datasets.load(name, data_dir=data_dir, target=target, task=task, **settings)
    if ds.n_features != network.n_features:
        raise CLIError(
            f"{name} has {ds.n_features} features but the model expects {network.n_features}: "
            "evaluate on the data it was trained on"
        )
    y = ds.y_test
    if classes is not None and ds.classes != classes:
        y = datasets.labels_to_indices(np.asarray(ds.classes, dtype=object)[ds.y_test], classes)
    return datasets.standardize(ds.X_test, meta), y, f"the {len(y)} test rows of {name}"


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


def _regression_figures(
    network: cr.Network, X: np.ndarray, y: np.ndarray, comm: Any = None
) -> dict[str, float]:
    """RMSE, MAE and R² = 1 − mean(r²) / var(y) of the residuals r; with ``comm``, of the rows of
    all ranks (each passing its own), from sums Allreduced in two passes."""
    residual = _predictions(network, X)[:, 0].astype(np.float64) - y
    n, squares, absolute, total = _summed(
        comm, [len(y), np.sum(residual**2), np.sum(np.abs(residual)), np.sum(y)]
    )
    variance = float(_summed(comm, np.sum((y - total / n) ** 2)) / n)
    return {
        "rmse": float(np.sqrt(squares / n)),
        "mae": float(absolute / n),
        "r2": 1 - float(squares / n) / variance if variance > 0 else float("nan"),
    }


def _scores(network: cr.Network, X: np.ndarray, y: np.ndarray, comm: Any) -> dict[str, float]:
    """The loss and accuracy (or the regression figures) on rows X, y; with ``comm``, on the rows
    of all ranks (each passing its own)."""
    result = network.evaluate(X, y) if comm is None else distributed.evaluate(network, X, y, comm)
    if not network.loss.classifier:
        result.update(_regression_figures(network, X, y, comm))
    return result


def _confusion_matrix(network: cr.Network, X: np.ndarray, y: np.ndarray, k: int, comm: Any) -> np.ndarray:
    """The confusion matrix of the rows X, y (with ``comm``: summed over the ranks' rows)."""
    cm = _confusion(y, _predictions(network, X), k)
    return cm if comm is None else distributed.allreduce_sum(comm, cm)


def _predictions(network: cr.Network, X: np.ndarray) -> np.ndarray:
    """`Network.predict`, also of no rows (a rank's empty shard): read off no outputs."""
    if len(X):
        return network.predict(X)
    return network.loss.predict(np.empty((0, network.n_outputs), dtype=network.dtype))


def _summed(comm: Any, values: Any) -> Any:
    """Numbers of this process, or (with ``comm``) summed over the ranks: float64, or int for ints."""
    values = np.asarray(values)
    if comm is not None:
        values = distributed.allreduce_sum(
            comm, values.astype(np.int64 if values.dtype.kind in "iub" else np.float64)
        )
    return values.item() if values.ndim == 0 else values


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


def _plot_curves(history: cr.History, path: Path) -> None:
    from matplotlib.figure import Figure  # the Agg canvas: no display needed
    from matplotlib.ticker import MaxNLocator

    metrics = [m for m in ("loss", "accuracy") if m in history.metrics]
    fig = Figure(figsize=(5 * len(metrics), 3.8), layout="constrained")
    epochs = np.arange(1, history.epochs + 1)
    for ax, metric in zip(fig.subplots(1, len(metrics), squeeze=False)[0], metrics, strict=True):
        ax.plot(epochs, history[metric], label="train")
        if f"val_{metric}" in history.metrics:
            ax.plot(epochs, history[f"val_{metric}"], label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=100)


def _plot_confusion(cm: np.ndarray, classes: Sequence[Any], path: Path) -> None:
    from matplotlib.figure import Figure

    k = len(classes)
    fig = Figure(figsize=(1.2 + 0.55 * k, 1 + 0.5 * k), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(c) for c in classes])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix (test rows)")
    if k <= 20:
        for t in range(k):
            for p in range(k):
                color = "white" if cm[t, p] > cm.max() / 2 else "black"
                ax.text(p, t, str(cm[t, p]), ha="center", va="center", color=color, fontsize=8)
    fig.savefig(path, dpi=100)


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
    if resume is not None and ctx is not None:  # run this command again with the run's own settings
        train(None, **{**_stored_options(ctx, resume), "resume": resume})  # type: ignore[arg-type]
        return
    options = {k: v for k, v in locals().items() if k not in ("ctx", "resume", "force", "out")}
    comm = _mpi_world()  # first: from here on an error on any rank aborts them all
    root = comm is None or comm.rank == 0
    if not root:
        console.quiet = True  # rank 0 prints and writes the files
    given = {"layers": layers, "activation": activation, "loss": loss, "optimizer": optimizer}
    settings = _settings(preset, {**given, "batch_size": batch_size, "lr": lr, "epochs": epochs})
    every = _checkpoint_every(checkpoint_every)
    run = resume if resume is not None else _run_dir(out, force) if root else Path()
    if comm is not None:  # every rank resumes from the checkpoints rank 0 writes there
        run = Path(distributed.bcast_json(comm, str(run)))  # JSON, never pickle

    downloads = _DownloadBar()
    try:
        # under MPI, each rank reads only its own rows of every split (and fits the standardiser
        # on the training rows of all ranks together)
        load = datasets.load if comm is None else functools.partial(distributed.load_shard, comm=comm)
        ds = load(
            data,
            data_dir=data_dir,
            target=target,
            task=task,
            samples=samples,
            noise=noise,
            classes=classes,
            seed=seed,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            report=downloads,
        )
    finally:
        downloads.close()
    standardizer = (  # fitted on the training rows only
        ds.standardizer() if comm is None else distributed.fit_standardizer(ds.X_train, comm, not ds.images)
    )
    splits = {
        "train": (standardizer(ds.X_train), ds.y_train),
        "val": (standardizer(ds.X_val), ds.y_val),
        "test": (standardizer(ds.X_test), ds.y_test),
    }
    rows = {split: _summed(comm, len(y)) for split, (_, y) in splits.items()}  # of all ranks
    try:
        network = _build(ds, settings, dropout=dropout, dtype=dtype, seed=seed)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if resume is None and root:  # before training, not after it: a directory we cannot write to fails now
        _prepare_run(run, options if every is not None else None, force)
    sizes = [network.n_features, *settings["hidden"], network.n_outputs]
    network.metadata = {
        **ds.metadata(),
        "standardize": standardizer.to_metadata(),
        "data": {  # what evaluate and explain need to split the same data again
            "name": str(Path(data).resolve()) if datasets.is_csv(data) else data,
            "samples": samples,
            "noise": noise,
            "classes": classes,
            "seed": seed,
            "test_fraction": test_fraction,
        },
    }
    opt = make_optimizer(settings["optimizer"], settings["lr"], weight_decay=weight_decay)
    base_lr = opt.lr  # the optimiser's own default when --lr is not given
    if schedule == "cosine":
        decay = cr.CosineDecay(base_lr, settings["epochs"])
        opt = make_optimizer(settings["optimizer"], decay, weight_decay=weight_decay)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = splits.values()
    console.print(
        f"training {'-'.join(map(str, sizes))} network ({network.n_parameters:,} parameters) "
        f"on {data}: {rows['train']} training, {rows['val']} validation, {rows['test']} test rows; "
        f"{opt!r}, batch {settings['batch'] or 'full'}" + (f"; {comm.size} processes" if comm else ""),
        soft_wrap=True,
        markup=False,
    )
    progress = _Progress(settings["epochs"], math.ceil(rows["train"] / (settings["batch"] or rows["train"])))
    start = time.perf_counter()
    fit_kwargs: dict[str, Any] = {
        "epochs": settings["epochs"],
        "batch_size": settings["batch"],
        "optimizer": opt,
        "validation_data": (X_val, y_val) if rows["val"] else None,
        "early_stopping": early_stopping or None,
        "checkpoint": None if every is None else run,
        "checkpoint_every": every,
        "resume": resume is not None,
    }
    try:
        if comm is None:
            history = cr.fit(network, X_train, y_train, callbacks=[progress], **fit_kwargs)
        else:  # on this rank's rows; the progress bar on rank 0 only
            callbacks = [progress] if root else []
            history = distributed.fit(network, X_train, y_train, comm=comm, callbacks=callbacks, **fit_kwargs)
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
    seconds = time.perf_counter() - start
    scores: dict[str, float] = {}
    for split, (X, y) in splits.items():  # under MPI, every rank scores its rows: all together
        if rows[split]:
            scores.update({f"{split}_{k}": v for k, v in _scores(network, X, y, comm).items()})
    cm = None if ds.classes is None else _confusion_matrix(network, X_test, y_test, len(ds.classes), comm)
    if not root:
        return  # the weights are rank 0's, bit for bit: it writes the run

    metrics: dict[str, Any] = {
        "data": data,
        "epochs": history.epochs,
        "best_epoch": None if history.best_epoch is None else history.best_epoch + 1,
        "stopped_early": history.stopped_early,
        "train_seconds": seconds,
        "parameters": network.n_parameters,
        "layers": sizes,
        "activation": settings["activation"],
        "loss": network.loss.name,
        "optimizer": settings["optimizer"],
        "lr": base_lr,
        "schedule": schedule,
        "batch_size": settings["batch"] or "full",
        "weight_decay": weight_decay,
        "dropout": dropout,
        "seed": seed,
        "dtype": dtype,
        **scores,
    }
    _write_run(run, network, history, metrics, ds.classes, cm, force or resume is not None)
    console.print(_summary(metrics, ds.classes is not None))
    files = "model.safetensors, history.json, metrics.json, curves.png"
    console.print(
        f"wrote {run}/: {files}" + (", confusion.png" if ds.classes is not None else ""),
        soft_wrap=True,
        markup=False,
    )


def _prepare_run(run: Path, options: dict[str, Any] | None, force: bool) -> None:
    """Create the run directory and check that it can be written; for a checkpointed run, keep
    its options in RUN/run.json for --resume (paths made absolute)."""
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(
            f"cannot create the run directory {run} ({e.strerror}): choose another --out"
        ) from None
    if not os.access(run, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write in the run directory {run}: choose another --out")
    if options is None:
        return
    if checkpoints(run):
        raise CLIError(
            f"{run} holds checkpoints of an earlier run: continue it with chainrule train --resume {run}, "
            "or choose another --out"
        )
    stored = {k: str(v.resolve()) if isinstance(v, Path) else v for k, v in options.items()}
    if datasets.is_csv(options["data"]):
        stored["data"] = str(Path(options["data"]).resolve())
    atomic_write(run / RUN_OPTIONS, (json.dumps(stored, indent=1) + "\n").encode(), overwrite=force)


def _stored_options(ctx: typer.Context, run: Path) -> dict[str, Any]:
    """The options RUN/run.json holds, for --resume (which takes no other option)."""
    given = [
        p.opts[0]
        for p in ctx.command.params
        if p.name != "resume" and getattr(ctx.get_parameter_source(p.name or ""), "name", "") != "DEFAULT"
    ]
    if given:
        raise CLIError(
            f"--resume continues the run with the settings it started with: leave out {', '.join(given)}"
        )
    path = run / RUN_OPTIONS
    if not path.is_file():
        raise CLIError(
            f"{run} is not a checkpointed run (it has no {RUN_OPTIONS}): give the --out of a "
            "chainrule train --checkpoint-every run"
        )
    damaged = CLIError(f"{path} is not as chainrule train wrote it: start the run again")
    try:
        stored = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise damaged from None
    params = {p.name: p for p in ctx.command.params if p.name not in ("resume", "force", "out")}
    if not isinstance(stored, dict) or stored.keys() != params.keys():
        raise damaged
    # the stored options parsed again as if typed: each value checked and made its option's type
    argv: list[str] = []
    for name, value in stored.items():
        if isinstance(value, bool):  # a flag
            argv += [params[name].opts[0]] if value else []
        elif value is not None:
            argv += [params[name].opts[0], str(value)]
    try:
        options = ctx.command.make_context("train", argv, parent=ctx.parent).params
    except _UsageError:
        raise damaged from None
    return {**options, "resume": None, "out": run, "force": False}


def _settings(preset: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """The options of the network and its training: those given, else the preset's, else the
    defaults (Typer has checked each), with ``hidden`` (the hidden-layer widths) and ``batch``
    (None: full batch) parsed."""
    settings = {"loss": None, "lr": None, **DEFAULTS, **PRESETS.get(preset or "", {})}
    settings.update({k: v for k, v in given.items() if v is not None})
    settings["hidden"] = _parse_layers(settings["layers"])
    settings["batch"] = _parse_batch_size(settings["batch_size"])
    return settings


def _write_run(
    run: Path,
    network: cr.Network,
    history: cr.History,
    metrics: dict[str, Any],
    classes: list[Any] | None,
    cm: np.ndarray | None,
    force: bool,
) -> None:
    """model.safetensors, history.json, metrics.json, curves.png and, for classes, confusion.png
    (of the confusion matrix ``cm`` on the test rows)."""
    run.mkdir(parents=True, exist_ok=True)
    cr.save(network, run / "model.safetensors", overwrite=force)
    (run / "history.json").write_text(json.dumps(history.to_dict(), indent=1) + "\n")
    (run / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    _plot_curves(history, run / "curves.png")
    if classes is not None and cm is not None:
        _plot_confusion(cm, classes, run / "confusion.png")


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
    X, y, rows = _evaluation_rows(network, data, data_dir, target)
    try:
        result = network.evaluate(X, y)
    except ValueError as e:
        raise CLIError(f"{e}") from None
    classes = _classes(network)
    console.print(f"{model}: {rows}", soft_wrap=True, markup=False)
    figures = dict(result)
    if classes is None:
        figures.update(_regression_figures(network, X, y))
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
    classes = _classes(network)
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
        return _model_features(network, header, cells, path, network.metadata.get("target"))
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
    X, y, _ = _evaluation_rows(network, data, data_dir, target)
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
        _error(str(e), 1)
    except BrokenPipeError:  # the reader went away (chainrule ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as e:  # a file that cannot be read or written
        where = f" {e.filename}" if e.filename else ""
        _error(f"{e.strerror or e}:{where}: check the path and its permissions", 1)
    except KeyboardInterrupt:
        _error("interrupted", 130)
    except Exception:
        if _comm is None:
            raise
        traceback.print_exc()  # a bug on one rank of several: show where, and end them all
        _error("the traceback above stopped this rank", 1)
    sys.exit(status if isinstance(status, int) else 0)


def _error(message: str, status: int) -> None:
    if _comm is not None:  # one rank of several: end them all, or they wait for it forever
        print(f"error: rank {_comm.rank} of {_comm.size}: {' '.join(message.split())}", file=sys.stderr)
        sys.stderr.flush()
        _comm.Abort(status)
    else:
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()
