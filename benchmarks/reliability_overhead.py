"""What the reliability features cost: the divergence guard in `fit` (always on: one dot product
per step), ``clip_norm``, a checkpoint every epoch, and reading a model file whole and checked
(whose time goes mostly into building the network: `Network.from_config` draws initial weights
that the file's then replace).

    .venv/bin/python benchmarks/reliability_overhead.py [--repeats 7]

Every figure is the median of ``--repeats`` runs; the variants of a workload are measured in the
same run, interleaved, and reported as ratios to the anchor (the same `fit` with the guard
switched off, or safetensors reading the file without any of chainrule's checks): on a shared
machine absolute times drift, ratios much less.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.run import Run

WORKLOADS = {  # name: (sizes, rows, batch_size, epochs)
    "digits 64-128-10, batch 32": ([64, 128, 10], 1347, 32, 20),
    "digits 64-128-10, batch 8": ([64, 128, 10], 1347, 8, 8),
    "mnist 784-256-10, batch 64": ([784, 256, 10], 6000, 64, 2),
}


def _median_times(variants: dict[str, Callable[[], None]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each variant. CPU time is the steadier figure on a busy
    machine; wall time includes waiting for the disk (fsync), which a checkpoint costs."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():  # interleaved: drift hits every variant alike
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {
        name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
        for name, t in times.items()
    }


def _report(title: str, medians: dict[str, tuple[float, float]]) -> None:
    (anchor_wall, anchor_cpu) = next(iter(medians.values()))
    for variant, (wall, cpu) in medians.items():
        ratios = f"{wall:8.4f} {wall / anchor_wall:6.3f} {cpu:8.4f} {cpu / anchor_cpu:6.3f}"
        print(f"{title:30} {variant:30} {ratios}")


def _train(workload: tuple, X: np.ndarray, y: np.ndarray, guarded: bool = True, **kwargs: object) -> None:
    """One `fit` of the workload; ``guarded=False`` switches the divergence guard off."""
    sizes, _, batch_size, epochs = workload
    guard = Run.guard
    Run.guard = guard if guarded else (lambda self, value: None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kwargs = {k: (tmp if v == "TMP" else v) for k, v in kwargs.items()}
            net = cr.Network.from_sizes(sizes, "relu", seed=0)
            cr.fit(net, X, y, epochs=epochs, batch_size=batch_size, optimizer="adam", lr=1e-3, **kwargs)
    finally:
        Run.guard = guard


def fit_overhead(repeats: int) -> None:
    print(f"{'workload':30} {'variant':30} {'wall s':>8} {'ratio':>6} {'CPU s':>8} {'ratio':>6}")
    for name, workload in WORKLOADS.items():
        sizes, rows = workload[:2]
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(rows, sizes[0])).astype(np.float32), rng.integers(0, sizes[-1], rows)
        variants = {
            "guard off (anchor)": partial(_train, workload, X, y, guarded=False),
            "default (guard on)": partial(_train, workload, X, y),
            "clip_norm=1.0": partial(_train, workload, X, y, clip_norm=1.0),
            "checkpoint every epoch": partial(_train, workload, X, y, checkpoint="TMP"),
        }
        _report(name, _median_times(variants, repeats))


def load_overhead(repeats: int) -> None:
    from safetensors.numpy import load_file

    net = cr.Network.from_sizes([784, 1024, 1024, 10], "relu", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = cr.save(net, Path(tmp) / "model.safetensors")
        medians = _median_times(
            {
                "safetensors load_file (anchor)": lambda: load_file(path),
                "Network.from_config, no file": lambda: cr.Network.from_config(net.config()),
                "chainrule.load": lambda: cr.load(path),
            },
            repeats,
        )
        size = path.stat().st_size / 2**20
    print(f"\nreading a {size:.1f} MiB model file ({net.n_parameters:,} parameters)")
    _report("model file", medians)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    fit_overhead(args.repeats)
    load_overhead(args.repeats)
