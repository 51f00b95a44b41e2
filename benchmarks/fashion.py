"""Time to accuracy on Fashion-MNIST: wall time for chainrule and PyTorch, same architecture,
initial weights, optimiser and batch size, to first reach a test accuracy (0.88).

The test accuracy is measured after every epoch with the clock stopped; the clock starts before
the call that trains (so chainrule's input checks count). The four IDX files are read by the
small reader below (the project's dataset loader, `chainrule.data`, is being written alongside);
Debian's package ``dataset-fashion-mnist`` puts them in /usr/share/datasets/fashion-mnist.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import chainrule as cr
from benchmarks.timing import CLOCKS
from benchmarks.workloads import Params, initial_params

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "X_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "X_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
SIZES = [784, 256, 128, 10]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip'd): 2 zero bytes, a type byte (0x08: unsigned byte), the number of
    dimensions, each dimension as a big-endian uint32, then the data."""
    with gzip.open(path, "rb") as f:
        zero, dtype, ndim = struct.unpack(">HBB", f.read(4))
        if zero != 0 or dtype != 0x08:
            raise ValueError(f"{path} is not an IDX file of unsigned bytes")
        shape = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != np.prod(shape):
        raise ValueError(f"{path} holds {data.size} values, its header says {shape}")
    return data.reshape(shape)


def load(directory: Path = DEFAULT_DIR) -> dict[str, np.ndarray]:
    """Images as float32 rows in [0, 1], labels as integers."""
    missing = [name for name in FILES.values() if not (directory / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {directory} (missing {', '.join(missing)}): install Debian's "
            "dataset-fashion-mnist or pass --fashion-dir"
        )
    data = {key: read_idx(directory / name) for key, name in FILES.items()}
    for key in ("X_train", "X_test"):
        data[key] = data[key].reshape(len(data[key]), -1).astype(np.float32) / 255
    for key in ("y_train", "y_test"):
        data[key] = data[key].astype(np.int64)
    return data


@dataclass(frozen=True)
class Run:
    """One race: the target accuracy, the training settings, the seed and the clock."""

    target: float
    batch: int
    lr: float
    max_epochs: int
    seed: int
    now: Callable[[], float]


Reached = tuple[float, int, float] | None  # seconds, epochs, test accuracy


def _chainrule(data: dict, params: Params, run: Run) -> Reached:
    from benchmarks.anchors import Chainrule
    from benchmarks.workloads import Workload

    w = Workload("relu", "adam", run.batch, run.seed)
    net = Chainrule(w, data["X_train"], data["y_train"], params, shuffle=True).net  # torch's batches

    class StopAtTarget(cr.Callback):
        paused, reached = 0.0, None

        def on_epoch_end(self, epoch: int, logs: dict) -> bool:
            t = run.now()
            accuracy = net.evaluate(data["X_test"], data["y_test"])["accuracy"]
            if accuracy >= run.target:
                self.reached = (t - start - self.paused, epoch + 1, accuracy)
            self.paused += run.now() - t
            return self.reached is not None

    stop = StopAtTarget()
    start = run.now()
    cr.fit(net, data["X_train"], data["y_train"], epochs=run.max_epochs, batch_size=run.batch,
           optimizer=cr.Adam(run.lr), callbacks=[stop])  # fmt: skip
    return stop.reached


def _torch(data: dict, params: Params, run: Run) -> Reached:
    import torch

    from benchmarks.anchors import Torch
    from benchmarks.workloads import Workload

    w = Workload("relu", "adam", run.batch, run.seed)
    trainer = Torch(w, data["X_train"], data["y_train"], params, shuffle=True)
    trainer.opt.param_groups[0]["lr"] = run.lr
    X_test, y_test = torch.from_numpy(data["X_test"]), torch.from_numpy(data["y_test"])
    start, paused = run.now(), 0.0
    for epoch in range(run.max_epochs):
        trainer.train(1)
        t = run.now()
        with torch.inference_mode():
            accuracy = (trainer.model(X_test).argmax(dim=1) == y_test).float().mean().item()
        if accuracy >= run.target:
            return (t - start - paused, epoch + 1, accuracy)
        paused += run.now() - t
    return None


def time_to_accuracy(
    data: dict,
    anchors: list[str],
    target: float = 0.88,
    batch: int = 128,
    lr: float = 1e-3,
    max_epochs: int = 30,
    repeats: int = 5,
    clock: str = "wall",
) -> dict[str, dict]:
    """Per anchor: the seconds, epochs and accuracy of each repeat (seed 0, 1, ...; both start
    from the same weights in a repeat), the median seconds and the median seconds per epoch
    (None unless every repeat reached the target)."""
    runs = {"chainrule": _chainrule, "torch": _torch}
    results: dict[str, dict] = {a: {"runs": []} for a in anchors if a in runs}
    for seed in range(repeats):
        params = initial_params(SIZES, "relu", seed)
        for anchor in results:
            reached = runs[anchor](data, params, Run(target, batch, lr, max_epochs, seed, CLOCKS[clock]))
            results[anchor]["runs"].append(
                None
                if reached is None
                else dict(zip(("seconds", "epochs", "accuracy"), reached, strict=True))
            )
    for result in results.values():
        reached = [r for r in result["runs"] if r is not None]
        complete = len(reached) == repeats
        # the time to the target moves by whole epochs (a seed crosses it an epoch earlier in one
        # contender than in the other); the time per epoch is the speed alone
        result["median_seconds"] = float(np.median([r["seconds"] for r in reached])) if complete else None
        result["median_seconds_per_epoch"] = (
            float(np.median([r["seconds"] / r["epochs"] for r in reached])) if complete else None
        )
    return results
