"""How the cost of a training step grows with batch size, width and depth, and how memory grows
with the data; a log-log plot of the step times.

A step here is the work between two batches, with the batch already in hand: chainrule's
`Network.train_step` and `Optimizer.step` (the calls a trainer makes), the NumPy loop's ``step``,
PyTorch's forward, ``backward`` and ``step``. At small sizes the time per step is flat: Python and
the call overhead of each layer; at large sizes it grows with the multiply-adds: BLAS.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

import chainrule as cr
from benchmarks.numpy_loop import NumpyLoop
from benchmarks.timing import CLOCKS, median
from benchmarks.workloads import initial_params, train_flops_per_sample

BATCHES = [1, 4, 16, 64, 256, 1024]
WIDTHS = [32, 128, 512, 2048]
DEPTHS = [1, 2, 4, 8]


def _step_runs(sizes: list[int], batch: int, anchors: list[str]) -> dict[str, Callable[[], None]]:
    """One training step of each contender (SGD, ReLU hidden layers) on a fixed random batch."""
    rng = np.random.default_rng(0)
    X, y = rng.random((batch, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], batch)
    params = initial_params(sizes, "relu")
    runs: dict[str, Callable[[], None]] = {}
    if "chainrule" in anchors:
        net = cr.Network.from_sizes(sizes, "relu", seed=0)
        opt = cr.SGD(0.01)
        opt.bind(net)
        Xc, yc = net.check_X(X), net.check_y(y, batch)

        def chainrule_step() -> None:
            net.train_step(Xc, yc)
            opt.step()

        runs["chainrule"] = chainrule_step
    if "numpy" in anchors:
        loop = NumpyLoop(params, "relu", "sgd", 0.01, batch, rng)
        runs["numpy"] = lambda: loop.step(X, y)
    if "torch" in anchors:
        import torch

        layers: list[torch.nn.Module] = []
        for n_in, n_out in itertools.pairwise(sizes):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
        topt = torch.optim.SGD(model.parameters(), lr=0.01)
        loss_fn, tX, ty = torch.nn.CrossEntropyLoss(), torch.from_numpy(X), torch.from_numpy(y)

        def torch_step() -> None:
            loss = loss_fn(model(tX), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()
            loss.item()

        runs["torch"] = torch_step
    return runs


def step_times(
    sizes: list[int], batch: int, anchors: list[str], repeats: int, clock: str, budget: float = 0.02
) -> dict[str, float]:
    """Median seconds per step, each timing a run of steps that lasts about ``budget`` seconds."""
    runs = _step_runs(sizes, batch, anchors)
    now = CLOCKS[clock]
    per_run = {}
    for name, step in runs.items():  # warm up, and find how many steps fill the budget
        step()
        start = now()
        step()
        per_run[name] = max(1, int(budget / max(now() - start, 1e-6)))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, step in runs.items():
            k = per_run[name]
            start = now()
            for _ in range(k):
                step()
            times[name].append((now() - start) / k)
    return {name: median(t) for name, t in times.items()}


def scaling(anchors: list[str], repeats: int, clock: str, quick: bool = False) -> dict[str, list[dict]]:
    """Step times against batch size (784-256-128-10), width (784-w-w-10, batch 128) and depth
    (784 then d layers of 256, then 10; batch 128)."""
    batches, widths, depths = (BATCHES[:2], WIDTHS[:2], DEPTHS[:2]) if quick else (BATCHES, WIDTHS, DEPTHS)
    rows: dict[str, list[dict]] = {"batch": [], "width": [], "depth": []}
    for batch in batches:
        rows["batch"].append(
            {"batch": batch, **step_times([784, 256, 128, 10], batch, anchors, repeats, clock)}
        )
    for width in widths:
        sizes = [784, width, width, 10]
        rows["width"].append({"width": width, **step_times(sizes, 128, anchors, repeats, clock)})
    for depth in depths:
        sizes = [784, *[256] * depth, 10]
        rows["depth"].append({"depth": depth, **step_times(sizes, 128, anchors, repeats, clock)})
    for key, sizes_of in (
        ("batch", lambda r: [784, 256, 128, 10]),
        ("width", lambda r: [784, r["width"], r["width"], 10]),
        ("depth", lambda r: [784, *[256] * r["depth"], 10]),
    ):
        for row in rows[key]:
            row["flops_per_step"] = train_flops_per_sample(sizes_of(row)) * row.get("batch", 128)
    return rows


def plot(rows: dict[str, list[dict]], memory: list[dict], path: Path) -> None:
    """Four log-log panels: step time against batch, width and depth; peak RSS against data size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    def log_log(ax, xs: list, xlabel: str, ylabel: str) -> None:
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
        ax.set_xticks(xs)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()

    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    labels = ("batch size (784-256-128-10)", "hidden width w (784-w-w-10)", "hidden layers of 256")
    for ax, key, label in zip(axes, ("batch", "width", "depth"), labels, strict=False):
        xs = [r[key] for r in rows[key]]
        for name in ("chainrule", "numpy", "torch"):
            if rows[key] and name in rows[key][0]:
                ax.plot(xs, [r[name] * 1e3 for r in rows[key]], "o-", label=name)
        log_log(ax, xs, label, "ms per training step")
    if memory:
        n = [m["samples"] for m in memory]
        axes[3].plot(n, [m["peak"] for m in memory], "o-", label="peak RSS")
        axes[3].plot(n, [m["after_data"] for m in memory], "s--", label="RSS with the data made")
        axes[3].plot(n, [m["training"] for m in memory], "^:", label="peak − with data")
        log_log(axes[3], n, "training examples (784 float32 each)", "MiB")
    fig.suptitle(
        "chainrule: cost of a training step (ReLU, SGD; batch 128 unless varied), memory of a training run"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
