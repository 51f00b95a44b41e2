"""Peak memory (RSS) of a training run, measured in a fresh process per run.

The child reports its high-water mark three times: after importing the contender, after making
the data, and after training. The last minus the second is what training costs beyond the data:
for chainrule it should not grow with the number of examples (no shuffled copy of the data, no
one-hot matrix, buffers the size of a batch).

    python -m benchmarks.memory chainrule relu sgd 128 10000 1 2    (anchor network optimizer
                                                                   batch samples epochs threads)

and of reading data: a CSV file into float64 features (`chainrule.datafiles.load_csv`), and
Fashion-MNIST loaded and standardised as the pipeline does it (`data_peak_rss`):

    python -m benchmarks.memory csv FILE.csv [START STOP]
    python -m benchmarks.memory fashion-mnist [DATA_DIR]

and of a whole ``chainrule`` command (`command_peak_rss`), by default the Fashion-MNIST command
of docs/results.md for one epoch (the memory does not grow with the epochs):

    python -m benchmarks.memory command [train --data fashion-mnist ...]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.workloads import Workload


def _max_rss_mb() -> float:
    """This process's peak RSS in MiB. Linux: VmHWM, since ``getrusage``'s ru_maxrss also counts
    the parent's memory at the fork that started this process."""
    status = Path("/proc/self/status")
    if status.exists():
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 2**10  # kB
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


def _child(
    anchor: str, network: str, optimizer: str, batch: int, n: int, epochs: int, n_threads: int
) -> None:
    from benchmarks.anchors import make_trainer
    from benchmarks.timing import threads
    from benchmarks.workloads import initial_params, synthetic

    if anchor == "torch":
        import torch  # noqa: F401  (the library's own memory, before the data)
    elif anchor == "sklearn":
        import sklearn.neural_network  # noqa: F401
    w = Workload(network, optimizer, batch or None)
    after_import = _max_rss_mb()
    X, y = synthetic(n)
    after_data = _max_rss_mb()
    with threads(n_threads, with_torch=anchor == "torch"):
        make_trainer(anchor, w, X, y, initial_params(w.sizes, w.activation)).train(epochs)
    print(json.dumps({"after_import": after_import, "after_data": after_data, "peak": _max_rss_mb()}))


def peak_rss(anchor: str, w: Workload, n: int, epochs: int, n_threads: int) -> dict[str, float]:
    """Peak RSS in MiB of training ``w`` on ``n`` synthetic examples, in a new Python process."""
    args = [anchor, w.network, w.optimizer, str(w.batch_size or 0), str(n), str(epochs), str(n_threads)]
    root = Path(__file__).resolve().parent.parent  # where `benchmarks` is importable from
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *args], capture_output=True, text=True, cwd=root
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory run of {anchor} failed: {result.stderr.strip().splitlines()[-1:]}")
    mb = json.loads(result.stdout.strip().splitlines()[-1])
    return {**mb, "training": mb["peak"] - mb["after_data"], "data": n * w.sizes[0] * 4 / 2**20}


def _data_child(what: str, *args: str) -> None:
    """Read (and for Fashion-MNIST standardise, in float32) the data; print time and peaks."""
    import numpy as np

    from chainrule import data

    after_import = _max_rss_mb()
    start = time.perf_counter()
    if what == "csv":
        X, *_ = data.load_csv(args[0], None, *map(int, args[1:3]))
        X_out = X
    else:
        ds = data.load("fashion-mnist", data_dir=args[0] if args else None, val_fraction=0.0)
        standardizer = ds.standardizer()
        X_out = standardizer(ds.X_train, dtype=np.float32)
        X_test = standardizer(ds.X_test, dtype=np.float32)
        X_out = (X_out, X_test)
    seconds = time.perf_counter() - start
    print(json.dumps({"after_import": after_import, "peak": _max_rss_mb(), "seconds": seconds}))
    del X_out


def data_peak_rss(what: str, *args: str) -> dict[str, float]:
    """Peak RSS in MiB of reading data in a new Python process (`_data_child`), from the child's
    own report and from ``getrusage(RUSAGE_CHILDREN)`` (the largest child of this process so far)."""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", what, *args], capture_output=True, text=True, cwd=root
    )
    if result.returncode != 0:
        raise RuntimeError(f"memory run of {what} failed: {result.stderr.strip().splitlines()[-1:]}")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    children_mb = children / 2**20 if sys.platform == "darwin" else children / 2**10
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "children_maxrss": children_mb}


# docs/results.md's Fashion-MNIST command, for one epoch
FASHION_COMMAND = [
    "train", "--data", "fashion-mnist", "--layers", "512,256", "--dropout", "0.2", "--epochs", "1",
    "--batch-size", "128", "--schedule", "cosine", "--val-fraction", "0",
]  # fmt: skip


def _command_child(*argv: str) -> None:
    """Run ``chainrule ARGV`` in this process; report its exit status and peak RSS on stderr."""
    from chainrule import cli

    status: object = 0
    try:
        cli.main(list(argv))
    except SystemExit as e:
        status = e.code
    print(json.dumps({"status": status, "peak": _max_rss_mb()}), file=sys.stderr)


def command_peak_rss(argv: list[str], cwd: Path) -> dict[str, float]:
    """Peak RSS in MiB of the command ``chainrule ARGV`` (run in ``cwd``) in a new Python process,
    and the size of the data it holds: Fashion-MNIST's float32 training and test images."""
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "command", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    if result.returncode != 0 or report["status"] != 0:
        raise RuntimeError(f"chainrule {' '.join(argv)} failed: {result.stderr.strip().splitlines()[-2:]}")
    return {"peak": report["peak"], "float32_images": 70000 * 784 * 4 / 2**20}


if __name__ == "__main__":
    if sys.argv[1] == "command":
        _command_child(*(sys.argv[2:] or FASHION_COMMAND))
    elif sys.argv[1] in ("csv", "fashion-mnist"):
        _data_child(*sys.argv[1:])
    else:
        a, net, opt, *numbers = sys.argv[1:]
        _child(a, net, opt, *map(int, numbers))
