"""``chainrule train``: options in, an `Experiment` out, its `Pipeline` driven on this process's
`World` (one process, or one rank of several under mpiexec), and what it did printed."""

from __future__ import annotations

import contextlib
import math
import signal
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import chainrule as cr
import chainrule.cli.app as shared
from chainrule import plots
from chainrule.checkpoint import checkpoints
from chainrule.cli.app import (
    DATA_HELP,
    DEFAULTS,
    PRESETS,
    CLIError,
    DataDirOpt,
    LossName,
    OptimizerName,
    PresetName,
    TargetOpt,
    _checked_by,
    _checkpoint_every,
    _error,
    _parse_activations,
    _parse_batch_size,
    _parse_layers,
    _run_dir,
    _within,
    app,
    console,
)  # fmt: skip
from chainrule.pipeline import Experiment, store_experiment, stored_experiment
from chainrule.rundir import interval, run_directory
from chainrule.toys import TOYS
from chainrule.world import from_environment


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
    noise: Annotated[
        float | None, typer.Option(min=0, help="toys: standard deviation of the jitter [default: 0.1]")
    ] = None,
    classes: Annotated[
        int | None, typer.Option(min=2, help="spiral, gaussians: number of classes [default: 2]")
    ] = None,
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
    seed: Annotated[
        int, typer.Option(min=0, max=2**63 - 1, help="seed of the weights, the split, shuffling and dropout")
    ] = 0,
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
    clip_norm: Annotated[
        float | None,
        typer.Option(
            help="rescale the gradient ∇L to this norm whenever ‖∇L‖ is larger (default: off)",
            callback=_within(0, math.inf, low_open=True, example="--clip-norm 1.0"),
            show_default=False,
        ),
    ] = None,
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
    shared.world = world
    shared.training = True
    if not world.root:
        console.quiet = True  # rank 0 prints and writes the files
    if resume is not None:
        if ctx is not None:
            _resume_takes_no_options(ctx)
        experiment, every = stored_experiment(resume, world)
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
        for flag, value in (("--noise", noise), ("--classes", classes)):
            if value is not None and data not in TOYS:  # said, not ignored
                raise CLIError(f"{flag} shapes a toy data set ({', '.join(TOYS)}), not {data}: leave it out")
        experiment = Experiment(
            data=data,
            data_dir=None if data_dir is None else str(data_dir),
            target=target,
            task=task,
            samples=samples,
            noise=0.1 if noise is None else noise,
            classes=2 if classes is None else classes,
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
            clip_norm=clip_norm,
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
    # the data is good: now the run directory, before the training (removed again if the run
    # fails before it wrote anything there)
    made = contextlib.nullcontext(run) if resume is not None else run_directory(run, force, world)
    with made:
        if resume is None and every is not None and world.root:
            store_experiment(run, experiment, every, force, world)
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
                resume=resume is not None and bool(checkpoints(run)),  # none: killed saving its first
            )
        except cr.DivergenceError as e:  # the weights kept are the network's, in memory: not written
            raise CLIError(f"{e}. No model was written") from None
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
