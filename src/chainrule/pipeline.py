"""One pipeline for every face: data → network built from the targets → fit → scores → run directory.

    import chainrule as cr
    result = cr.Experiment(data="digits", hidden=(128,), epochs=10).run("runs/digits")
    result.scores["test_accuracy"], result.network

An `Experiment` is the settings of one training run (the data, the network, its training); its
`Pipeline` does it, step by step, on a `World` (one process, or N MPI ranks each holding a
shard of the rows): the data set is loaded and split, the standardiser x' = (x − mean) / scale is
fitted once on the training rows and stored in the model, the network is built from the targets
(`chainrule.heads`), `chainrule.fit` trains it, every split is scored, and rank 0 writes the run
directory: model.safetensors, history.json, metrics.json, run.json (the experiment, for
`resume`) and the plots. `chainrule.evaluation.held_out` gives the rows to evaluate a model on.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

import chainrule.data as data
import chainrule.shards as shards
from chainrule.callbacks import Callback, History
from chainrule.checkpoint import checkpoints
from chainrule.evaluation import confusion_matrix, score, trained_on
from chainrule.heads import head
from chainrule.io import MAX_COUNT, MAX_NOISE
from chainrule.network import Network
from chainrule.optimizers import Optimizer
from chainrule.optimizers import optimizer as make_optimizer
from chainrule.run import parse_interval
from chainrule.rundir import interval, read_run, run_directory, store_run, write_run
from chainrule.schedules import CosineDecay
from chainrule.training import fit
from chainrule.world import Local, World

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
SCHEDULES = ("constant", "cosine")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Experiment:
    """The settings of one training run; each checked when it is made (the errors name them)."""

    data: str = "digits"  # a name of chainrule.data.DATASETS or a path to a .csv file
    data_dir: str | None = None  # Fashion-MNIST: the folder of its four files (else searched)
    target: str | None = None  # CSV: the target column (the last by default)
    task: str = "auto"  # CSV: auto, classification or regression
    samples: int | None = None  # toys: points to draw; other data: the first N rows
    noise: float = 0.1  # toys: standard deviation of the jitter
    classes: int = 2  # spiral, gaussians: number of classes
    val_fraction: float = 0.1
    test_fraction: float = 0.25
    hidden: tuple[int, ...] = (256,)  # hidden-layer widths
    activation: str | tuple[str, ...] = "relu"  # one for all hidden layers, or one per layer
    loss: str | None = None  # None: by the targets (chainrule.heads)
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float | None = None  # None: the optimiser's default
    schedule: str = "constant"  # or cosine: from lr down to 0 over the epochs
    batch_size: int | None = 32  # None: full batch
    epochs: int = 30
    weight_decay: float = 0.0
    early_stopping: int | None = None  # patience in epochs
    clip_norm: float | None = None  # ∇L rescaled to this norm whenever ‖∇L‖ is larger
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        def whole(name: str, low: int, optional: bool = False, high: int | None = None) -> None:
            value = getattr(self, name)
            if optional and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
            if high is not None and value > high:  # what a model file may record (chainrule.io)
                raise ValueError(f"{name} must be at most {high:,}, got {value:,}")
            object.__setattr__(self, name, int(value))  # NumPy's integers too, as Python's

        def real(name: str, low: float, high: float, low_open: bool = False, high_open: bool = True) -> None:
            value = getattr(self, name)
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else True)
            if not ok:
                interval = f"{'(' if low_open else '['}{low}, {high if high < math.inf else '∞'})"
                raise ValueError(f"{name} must lie in {interval}, got {value!r}")
            object.__setattr__(self, name, float(value))

        def choice(name: str, options: Sequence[str]) -> None:
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {', '.join(options)}, got {getattr(self, name)!r}")

        def text(name: str, optional: bool = True) -> None:
            value = getattr(self, name)
            if not (isinstance(value, str) and value) and not (optional and value is None):
                what = "a data set's name or a CSV file's path" if name == "data" else "a name"
                raise ValueError(f"{name} must be {'None or ' if optional else ''}{what}, got {value!r}")

        if isinstance(self.data, os.PathLike):  # a CSV file's path, as a str (the experiment is JSON)
            object.__setattr__(self, "data", os.fspath(self.data))
        text("data", optional=False)
        text("target")
        text("loss")
        if self.data_dir is not None and not isinstance(self.data_dir, str | os.PathLike):
            raise ValueError(f"data_dir must be a folder's path, got {self.data_dir!r}")
        if self.data_dir is not None and self.data != "fashion-mnist":
            raise ValueError(
                f"data_dir= is the folder of the Fashion-MNIST files, not used by {self.data}: leave it out"
            )
        if self.target is not None and self.data in data.DATASETS:
            raise ValueError(f"target= names a column of a CSV file, and {self.data} is none: leave it out")
        if not isinstance(self.hidden, Sequence) or isinstance(self.hidden, str):
            raise ValueError(
                f"hidden must be a sequence of layer widths such as (128, 64), got {self.hidden!r}"
            )
        if not all(
            isinstance(h, numbers.Integral) and not isinstance(h, bool) and h >= 1 for h in self.hidden
        ):
            raise ValueError(f"hidden must be positive layer widths, got {tuple(self.hidden)!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not isinstance(self.activation, str):
            if not isinstance(self.activation, Sequence) or not all(
                isinstance(a, str) for a in self.activation
            ):
                raise ValueError(
                    f"activation must be a name or one name per hidden layer, got {self.activation!r}"
                )
            object.__setattr__(self, "activation", tuple(self.activation))
            if len(self.activation) != len(self.hidden):
                raise ValueError(
                    f"activation= names {len(self.activation)} hidden layers but hidden= has "
                    f"{len(self.hidden)}: give one activation for all, or one per hidden layer"
                )
        choice("task", data.TASKS)
        choice("optimizer", OPTIMIZERS)
        choice("schedule", SCHEDULES)
        choice("dtype", DTYPES)
        whole("samples", 1, optional=True, high=MAX_COUNT)
        whole("classes", 1, high=MAX_COUNT)
        whole("batch_size", 1, optional=True)
        whole("epochs", 1)
        whole("early_stopping", 1, optional=True)
        if self.clip_norm is not None:
            real("clip_norm", 0, math.inf, low_open=True)
        whole("seed", 0)
        if self.seed >= 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed}")
        real("noise", 0, MAX_NOISE)
        real("val_fraction", 0, 1)
        real("test_fraction", 0, 1, low_open=True)
        real("dropout", 0, 1)
        real("weight_decay", 0, math.inf)
        if self.lr is not None:
            real("lr", 0, math.inf, low_open=True)
        if self.early_stopping is not None and self.val_fraction == 0:
            raise ValueError(
                "early_stopping= stops when the validation loss stops improving, and val_fraction=0 "
                "holds no validation rows: give val_fraction=0.1 (or another fraction > 0)"
            )

    # ------------------------------------------------------------------- stored settings
    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (`from_dict` reads them back)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["activation"] = self.activation if isinstance(self.activation, str) else list(self.activation)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Experiment:
        """The experiment of a `to_dict`, every value checked again."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(d, dict):
            raise ValueError(f"an experiment is a JSON object of its settings, not {type(d).__name__}")
        missing, unknown = sorted(names - set(d)), sorted(set(d) - names)
        if missing or unknown:
            raise ValueError(
                "an experiment's settings"
                + (f" lack {', '.join(missing)}" if missing else "")
                + (" and" if missing and unknown else "")
                + (f" have unknown {', '.join(unknown)}" if unknown else "")
            )
        return cls(**d)

    # ------------------------------------------------------------------- running it
    def pipeline(self, world: World | None = None, report: data.Report | None = None) -> Pipeline:
        """The data loaded and standardised and the network built, ready to `Pipeline.fit`."""
        return Pipeline(self, Local() if world is None else world, report)

    def run(
        self,
        out: str | os.PathLike[str] | None = None,
        *,
        overwrite: bool = False,
        checkpoint_every: int | str | timedelta | None = None,
        callbacks: Sequence[Callback] = (),
        world: World | None = None,
    ) -> Result:
        """Load, fit, score, and (with ``out``) write the run directory there: an existing one
        only if it is empty, or with ``overwrite=True``. With ``checkpoint_every`` (epochs, or
        a time such as "10m") the training state is saved in ``out`` as it goes, and
        `resume` (out) continues the run after a crash."""
        if out is None and checkpoint_every is not None:
            raise ValueError("checkpoint_every needs out=RUN_DIR, where the checkpoints go")
        if checkpoint_every is not None:
            parse_interval(checkpoint_every)  # now, before anything is written
        pipe = self.pipeline(world)
        if out is None:
            pipe.fit(callbacks=callbacks)
            return pipe.finish()
        with run_directory(Path(out), overwrite, pipe.world) as run_dir:
            if checkpoint_every is not None and pipe.world.root:
                store_experiment(run_dir, self, checkpoint_every, overwrite, pipe.world)
            checkpoint = run_dir if checkpoint_every is not None else None
            pipe.fit(callbacks=callbacks, checkpoint=checkpoint, checkpoint_every=checkpoint_every)
            return pipe.finish(run_dir, overwrite)


def check_memory(sizes: Sequence[int], dtype: str, optimizer: str, batch: int) -> None:
    """Refuse a network whose θ, ∇L, optimiser state and one batch's z, a and δ would not fit in
    the memory available now (Linux's MemAvailable), before any of it is allocated."""
    n_params = sum((n_in + 1) * n_out for n_in, n_out in itertools.pairwise(sizes))
    copies = 2 + {"adam": 2, "sgd": 0}.get(optimizer, 1)  # θ, ∇L; m and v, or a velocity
    need = np.dtype(dtype).itemsize * (copies * n_params + 3 * batch * sum(sizes))
    available = _available_memory()
    if available is not None and need > available:
        raise ValueError(
            f"the network {'-'.join(map(str, sizes))} has {n_params:,} parameters: training it needs "
            f"about {need / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB of memory available; "
            "give hidden= fewer or smaller layers (or a smaller batch_size=)"
        )


def _available_memory() -> int | None:
    """Bytes of memory available for new allocations (Linux), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def store_experiment(
    run_dir: Path,
    experiment: Experiment,
    checkpoint_every: int | str | timedelta,
    overwrite: bool,
    world: World | None = None,
) -> None:
    """RUN/run.json for `resume`: the experiment (its paths made absolute), how often the run
    saves, and on how many processes it runs."""
    stored = experiment.to_dict()
    if data.is_csv(experiment.data):
        stored["data"] = str(Path(experiment.data).resolve())
    if experiment.data_dir is not None:
        stored["data_dir"] = str(Path(experiment.data_dir).resolve())
    store_run(run_dir, stored, checkpoint_every, overwrite, 1 if world is None else world.size)


def stored_experiment(
    run_dir: str | os.PathLike[str], world: World | None = None
) -> tuple[Experiment, int | float | str]:
    """The experiment and checkpoint interval that RUN/run.json holds; the run must continue on
    as many processes as it started on (those of ``world``)."""
    return read_run(run_dir, Experiment.from_dict, 1 if world is None else world.size)


def resume(
    run_dir: str | os.PathLike[str],
    *,
    callbacks: Sequence[Callback] = (),
    world: World | None = None,
    report: data.Report | None = None,
) -> Result:
    """Continue the checkpointed run in ``run_dir`` with its own settings, to the end (a finished
    run ends at once) and write its files; it ends bit-identical to a run never interrupted."""
    experiment, every = stored_experiment(run_dir, world)
    pipe = experiment.pipeline(world, report)
    every = float(every) if isinstance(every, float) else every
    started = bool(checkpoints(run_dir))  # none yet: killed while it saved its very first one
    pipe.fit(callbacks=callbacks, checkpoint=Path(run_dir), checkpoint_every=interval(every), resume=started)
    return pipe.finish(Path(run_dir), overwrite=True)


@dataclass
class Result:
    """What a run produced: the trained network, its history, the scores of every split
    (``train_accuracy``, ``test_loss``, ``test_rmse``...), the metrics written to metrics.json,
    the confusion matrix of the test rows (classes only) and the run directory (if any)."""

    network: Network
    history: History
    scores: dict[str, float]
    metrics: dict[str, Any]
    confusion: np.ndarray | None = None
    run_dir: Path | None = None


def _warn_unscaled(y: np.ndarray, name: str) -> None:
    """Warn of regression targets far from the scale of a new network's outputs (about 0 ± 1): the
    features are standardised, the targets are not (nor are they by scikit-learn's MLPRegressor)."""
    if not len(y):
        return
    mean, std = float(np.mean(y)), float(np.std(y))
    if std > 100 or abs(mean) > 100 * max(std, 1.0):
        warnings.warn(
            f"the targets of {name} have mean {mean:.4g} and standard deviation {std:.4g}: a network's "
            "outputs start near 0 ± 1, so the loss is huge and training slow; standardise the target "
            "column (or take its logarithm) before training",
            stacklevel=3,
        )


class Pipeline:
    """One experiment being done on a world: `fit`, then `finish` (scores and files)."""

    def __init__(self, experiment: Experiment, world: World, report: data.Report | None = None) -> None:
        e = self.experiment = experiment
        self.world = world
        options = {
            k: getattr(e, k)
            for k in ("data_dir", "target", "task", "samples", "noise", "classes", "seed", "val_fraction")
        }
        if e.loss == "poisson" and e.task == "auto":  # counts: whole numbers that are not classes
            options["task"] = "regression"
        ds = shards.load(e.data, world, test_fraction=e.test_fraction, report=report, **options)
        self.classes = ds.classes
        standardizer = (  # fitted on the training rows only, of all processes
            ds.standardizer()
            if world.size == 1
            else shards.fit_standardizer(ds.X_train, world, not ds.images)
        )
        n_features = ds.n_features
        self.splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in ("train", "val", "test"):  # each split converted once, its raw rows let go at once
            X, y = getattr(ds, f"X_{name}"), getattr(ds, f"y_{name}")
            setattr(ds, f"X_{name}", None)
            self.splits[name] = (standardizer(X, dtype=e.dtype), y)
            del X
        self.rows = {name: int(world.sum(np.array([len(y)]))[0]) for name, (_, y) in self.splits.items()}
        h = head(None if ds.classes is None else len(ds.classes), e.loss, name=e.data)
        if ds.classes is None and h.loss == "squared_error":
            _warn_unscaled(self.splits["train"][1], e.data)
        activation = e.activation if isinstance(e.activation, str) else list(e.activation)
        self.sizes = [n_features, *e.hidden, h.n_outputs]
        batch = min(e.batch_size or self.rows["train"], max(self.rows["train"], 1))  # at most every row
        check_memory(self.sizes, e.dtype, e.optimizer, batch)
        self.network = Network.from_sizes(
            self.sizes, activation, h.output, h.loss, dropout=e.dropout, dtype=e.dtype, seed=e.seed
        )
        self.network.metadata = {
            **ds.metadata(),
            "standardize": standardizer.to_metadata(),
            "data": trained_on(e),
        }
        self.optimizer: Optimizer = make_optimizer(e.optimizer, e.lr, weight_decay=e.weight_decay)
        self.lr = self.optimizer.lr  # the optimiser's own default when lr is not given
        if e.schedule == "cosine":
            decay = CosineDecay(self.lr, e.epochs)
            self.optimizer = make_optimizer(e.optimizer, decay, weight_decay=e.weight_decay)
        self.history = History()
        self.seconds = 0.0

    @property
    def batches_per_epoch(self) -> int:
        n = self.rows["train"]
        return math.ceil(n / (self.experiment.batch_size or n))

    def fit(
        self,
        *,
        callbacks: Sequence[Callback] = (),
        checkpoint: Path | None = None,
        checkpoint_every: int | str | timedelta | None = None,
        resume: bool = False,
    ) -> History:
        """`chainrule.fit` on the training rows, the validation rows (if any) watched."""
        e, (X, y), (X_val, y_val) = self.experiment, self.splits["train"], self.splits["val"]
        start = time.perf_counter()
        self.history = fit(
            self.network,
            X,
            y,
            epochs=e.epochs,
            batch_size=e.batch_size,
            optimizer=self.optimizer,
            validation_data=(X_val, y_val) if self.rows["val"] else None,
            early_stopping=e.early_stopping,
            clip_norm=e.clip_norm,
            callbacks=callbacks,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
            world=self.world,
        )
        self.seconds = time.perf_counter() - start
        return self.history

    def scores(self) -> dict[str, float]:
        """The loss and accuracy (or RMSE, MAE, R²) of every split that has rows, over all processes."""
        found: dict[str, float] = {}
        for split, (X, y) in self.splits.items():
            if self.rows[split]:
                found.update({f"{split}_{k}": v for k, v in score(self.network, X, y, self.world).items()})
        return found

    def finish(self, run_dir: Path | None = None, overwrite: bool = False) -> Result:
        """Score every split and (rank 0, with ``run_dir``) write the run directory. The rows are
        let go first: the data is held once, and not beside the plots."""
        scores = self.scores()
        cm = None
        if self.classes is not None:
            X, y = self.splits["test"]
            cm = confusion_matrix(self.network, X, y, len(self.classes), self.world)
        self.splits.clear()
        metrics = self.metrics(scores)
        if run_dir is not None and self.world.root:
            write_run(run_dir, self.network, self.history, metrics, self.classes, cm, overwrite)
        return Result(self.network, self.history, scores, metrics, cm, run_dir)

    def metrics(self, scores: dict[str, float]) -> dict[str, Any]:
        e, history = self.experiment, self.history
        return {
            "data": e.data,
            "epochs": history.epochs,
            "best_epoch": None if history.best_epoch is None else history.best_epoch + 1,
            "stopped_early": history.stopped_early,
            "train_seconds": self.seconds,
            "parameters": self.network.n_parameters,
            "layers": self.sizes,
            "activation": e.activation if isinstance(e.activation, str) else ",".join(e.activation),
            "loss": self.network.loss.name,
            "optimizer": e.optimizer,
            "lr": self.lr,
            "schedule": e.schedule,
            "batch_size": e.batch_size or "full",
            "weight_decay": e.weight_decay,
            "dropout": e.dropout,
            "seed": e.seed,
            "dtype": e.dtype,
            "processes": self.world.size,
            **scores,
        }
