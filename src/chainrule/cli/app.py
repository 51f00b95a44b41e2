"""The command line's app and what its commands share: the Typer ``app``, the console, the
options' types and checks, reading a model file, and the tables of scores."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

import chainrule as cr
from chainrule.activations import activation as make_activation
from chainrule.run import parse_interval
from chainrule.rundir import check_run_dir
from chainrule.world import Local, MPIWorld, World

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
console = Console(highlight=False, soft_wrap=True)  # lines whole when piped (no wrap at 80)

# Typer (like Click) reports bad command lines with a UsageError, the base of BadParameter;
# taken from there because newer Typer versions vendor Click under a private module name.
_UsageError: type[Exception] = typer.BadParameter.__bases__[0]


class CLIError(Exception):
    """A problem with the user's input; the message names it and the fix."""


world: World = Local()  # the processes of this command (a train under mpiexec: several)
training = False  # a train is under way (what a signal's message says)


DATA_HELP = (
    "digits, fashion-mnist, xor, circles, moons, spiral, gaussians, plane, or a path to a .csv file "
    "with a header row"
)
# options with a fixed set of values: Typer checks them and --help lists them
LossName = Literal["cross_entropy", "binary_cross_entropy", "squared_error", "poisson"]
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
    check_run_dir(out, force)  # before the data is read
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


def _error(message: str, status: int) -> None:
    """Print ``message`` as one line on stderr and exit with ``status`` (under mpiexec, ending every rank)."""
    if isinstance(world, MPIWorld) and world.size > 1:  # end them all, or they wait for it forever
        print(f"error: rank {world.rank} of {world.size}: {' '.join(message.split())}", file=sys.stderr)
        world.abort(status)
    else:
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(status)
