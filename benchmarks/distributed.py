"""Data-parallel training on this machine, and a model of scaling it to many machines.

    .venv/bin/python benchmarks/distributed.py [--steps 6] [--json results.json]

1. Per-step time of training the small (784-30-10) and the large (784-1024-1024-10) network at
   several global batch sizes, as 1 process x 1 thread, 1 process x 2 threads (`chainrule.fit`, the
   anchor) and 2 ranks x 1 thread (`chainrule.distributed.fit` under mpiexec), split into compute
   (forward + backward, `Network.train_step`), Allreduce (as waited for inside the step) and the
   rest (batch gathering, the update). Medians over the steps of one epoch, the first step dropped.
2. Allreduce latency and bandwidth on 2 ranks from a message-size sweep (medians, Barrier first).
3. The model of docs/distributed.md: compute 6·P·B/(N·F) against ring allreduce
   2(N−1)α + 2(N−1)/N · S/β, with F measured here and α, β of 1 GbE, 10 GbE and 100 Gb InfiniBand.

Each configuration runs in its own mpiexec job (OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to
its thread count); timings on a loaded machine are noisy, so the load average is printed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

NETWORKS = {"small": [784, 30, 10], "large": [784, 1024, 1024, 10]}
BATCHES = {"small": [256, 1024, 4096, 16384], "large": [256, 1024, 4096, 8192]}
CONFIGS = [(1, 1), (1, 2), (2, 1)]  # (processes, BLAS threads each)
LINKS = {  # nominal: (α latency in s, β bandwidth in bytes/s)
    "1 GbE": (50e-6, 0.125e9),
    "10 GbE": (10e-6, 1.25e9),
    "100 Gb InfiniBand": (1.5e-6, 12.5e9),
}
BYTES = 4  # float32 gradients


def n_params(sizes: list[int]) -> int:
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


# --------------------------------------------------------------------------------- workers (mpiexec)
class _TimedComm:
    """The communicator, with the time spent in Allreduce added up."""

    def __init__(self, comm: Any) -> None:
        self.comm, self.seconds = comm, 0.0

    def Allreduce(self, *args: Any, **kwargs: Any) -> None:
        t0 = time.perf_counter()
        self.comm.Allreduce(*args, **kwargs)
        self.seconds += time.perf_counter() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.comm, name)


def _clock(network: Any, comm: _TimedComm) -> Any:
    """A callback that records, per step, the step's time, its compute and its Allreduce."""
    import chainrule as cr

    class Clock(cr.Callback):
        def __init__(self) -> None:
            self.compute = 0.0
            self.steps: list[tuple[float, float, float]] = []
            step = network.train_step

            def timed_step(X: Any, y: Any) -> float:
                t0 = time.perf_counter()
                value = step(X, y)
                self.compute += time.perf_counter() - t0
                return value

            network.train_step = timed_step

        def on_train_begin(self, network: Any, history: Any) -> None:
            self.last = time.perf_counter()

        def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
            now = time.perf_counter()
            self.steps.append((now - self.last, self.compute, comm.seconds))
            self.last, self.compute, comm.seconds = now, 0.0, 0.0

    return Clock()


def _steps_worker(steps: int) -> None:
    from mpi4py import MPI

    import chainrule as cr
    from chainrule import distributed

    world = MPI.COMM_WORLD
    comm = _TimedComm(world)
    rows = []
    for name, sizes in NETWORKS.items():
        for B in BATCHES[name]:
            net = cr.Network.from_sizes(sizes, seed=0)
            start, stop = distributed.shard_bounds(B * (steps + 1), world.rank, world.size)
            rng = np.random.default_rng(world.rank)
            X = rng.random((stop - start, sizes[0]), dtype=np.float32)
            y = rng.integers(0, sizes[-1], stop - start)
            clock = _clock(net, comm)
            kwargs = {"epochs": 1, "batch_size": B, "optimizer": "sgd", "lr": 0.01, "callbacks": [clock]}
            if world.size == 1:
                cr.fit(net, X, y, **kwargs)
            else:
                distributed.fit(net, X, y, comm=comm, **kwargs)
            t = np.array(clock.steps[1:]) * 1e3  # ms; the first step allocates the buffers
            step, compute, allreduce = np.median(t, axis=0)
            other = np.median(t[:, 0] - t[:, 1] - t[:, 2])
            rows.append(
                {"network": name, "batch": B, "step_ms": step, "compute_ms": compute,
                 "allreduce_ms": allreduce, "other_ms": other}
            )  # fmt: skip
    if world.rank == 0:
        print(json.dumps(rows))


def _allreduce_worker() -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    sizes = [4**k for k in range(13)] + [n_params(NETWORKS["large"])]  # floats: 1 .. 16 M
    rows = []
    for n in sorted(sizes):
        buf = np.ones(n, dtype=np.float32)
        reps = 300 if n < 2**14 else 30 if n < 2**22 else 8
        times = []
        for _ in range(reps):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            times.append(time.perf_counter() - t0)
        rows.append({"bytes": n * BYTES, "seconds": float(np.median(times))})
    if comm.rank == 0:
        print(json.dumps(rows))


# --------------------------------------------------------------------------------- the driver
def _mpiexec(ranks: int, threads: int, *args: str) -> Any:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    cmd = [str(mpiexec), "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__, *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def comm_time(P: int, N: int, alpha: float, beta: float) -> float:
    """Ring allreduce of P float32 gradients on N ranks: 2(N−1)α + 2(N−1)/N · S/β."""
    return 2 * (N - 1) * alpha + 2 * (N - 1) / N * P * BYTES / beta


def compute_time(P: int, b: float, F: float) -> float:
    """Forward (2P flops per example) and backward (4P) of b examples on one rank: 6·P·b/F."""
    return 6 * P * b / F


def examples_for_90_percent(P: int, N: int, alpha: float, beta: float, F: float) -> float:
    """Examples per rank b with compute ≥ 9 × communication (efficiency ≥ 90%, no overlap)."""
    return 9 * comm_time(P, N, alpha, beta) * F / (6 * P)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report(steps: dict[str, list[dict]], sweep: list[dict]) -> str:
    """The measurements and the model's tables, in markdown."""
    out = ["### Per step (median), this machine\n"]
    anchor = {(r["network"], r["batch"]): r["batch"] / r["step_ms"] for r in steps["1x2"]}
    labels = {"1x1": "1 process x 1 thread", "1x2": "1 process x 2 threads", "2x1": "2 ranks x 1 thread"}
    rows = []
    for config, label in labels.items():
        for r in steps[config]:
            ratio = r["batch"] / r["step_ms"] / anchor[(r["network"], r["batch"])]
            cells = [r["step_ms"], r["compute_ms"], r["allreduce_ms"], r["other_ms"]]
            cells = [f"{t:.1f}" for t in cells] + [f"{1e3 * r['batch'] / r['step_ms']:,.0f}", f"{ratio:.2f}"]
            rows.append([r["network"], r["batch"], label, *cells])
    rows.sort(key=lambda row: (row[0] == "large", row[1]))
    header = ["network", "global batch", "run", "step ms", "compute ms", "allreduce ms", "other ms"]
    out.append(_table([*header, "examples/s", "vs 1x2"], rows))

    # 2 ranks: 2(N−1)α = 2α, the time of a small message (the fastest up to 1 KB: the least
    # disturbed by other load); 2(N−1)/N · S/β = S/β, from the message a training step sends
    alpha = min(r["seconds"] for r in sweep if r["bytes"] <= 1024) / 2
    grad = next(r for r in sweep if r["bytes"] == n_params(NETWORKS["large"]) * BYTES)
    beta = grad["bytes"] / (grad["seconds"] - 2 * alpha)
    out.append("\n### Allreduce on 2 ranks (median), this machine\n")
    rows = [
        [f"{r['bytes']:,}", f"{1e6 * r['seconds']:.1f}", f"{r['bytes'] / r['seconds'] / 1e9:.2f}"]
        for r in sweep
    ]
    out.append(_table(["bytes", "µs", "GB/s (S/t)"], rows))
    out.append(
        f"\nα = min t(S ≤ 1 KB) / 2 = {1e6 * alpha:.1f} µs; at the gradient's S = {grad['bytes']:,} B,"
    )
    out.append(f"β = S / (t(S) − 2α) = {beta / 1e9:.2f} GB/s")

    P = n_params(NETWORKS["large"])
    big = [r for r in steps["1x1"] if r["network"] == "large"][-1]
    F = compute_time(P, big["batch"], 1.0) / (big["compute_ms"] / 1e3)
    out.append(f"\n### Model: large network, P = {P:,} ({P * BYTES / 1e6:.1f} MB of float32 gradients)\n")
    out.append(f"F = {F / 1e9:.1f} GFLOP/s per rank (1 thread, measured at batch {big['batch']})\n")
    out.append("Examples per rank for ≥ 90% efficiency (compute ≥ 9 × allreduce):\n")
    links = {**LINKS, "this machine (measured)": (alpha, beta)}
    Ns = [2, 16, 128, 1024]
    rows = [
        [name, f"{1e6 * a:.1f} µs", f"{b / 1e9:.2f} GB/s"]
        + [f"{examples_for_90_percent(P, n, a, b, F):,.0f}" for n in Ns]
        for name, (a, b) in links.items()
    ]
    out.append(_table(["link", "α", "β"] + [f"N = {n}" for n in Ns], rows))
    strong = [4**k for k in range(6)]
    for B in (8192, 65536):
        out.append(f"\nStrong scaling, global batch {B:,}: time per step (efficiency)\n")
        rows = []
        for name, (a, b) in LINKS.items():
            t1 = compute_time(P, B, F)
            times = [compute_time(P, B / n, F) + comm_time(P, n, a, b) for n in strong]
            rows.append(
                [name] + [f"{1e3 * t:,.0f} ms ({t1 / t / n:.0%})" for n, t in zip(strong, times, strict=True)]
            )
        out.append(_table(["link"] + [f"N = {n}" for n in strong], rows))
    weak = [2, 8, 32, 128, 1024]
    for b in (256, 2048):
        out.append(f"\nWeak scaling, {b:,} examples per rank: efficiency (throughput / N × one rank's)\n")
        tc = compute_time(P, b, F)
        rows = [
            [name] + [f"{tc / (tc + comm_time(P, n, a, bw)):.0%}" for n in weak]
            for name, (a, bw) in LINKS.items()
        ]
        out.append(_table(["link"] + [f"N = {n}" for n in weak], rows))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per measurement (default 6)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of all runs; medians (default 3)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    parser.add_argument("--worker", choices=["steps", "allreduce"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "steps":
        return _steps_worker(args.steps)
    if args.worker == "allreduce":
        return _allreduce_worker()

    print(f"load average before: {os.getloadavg()}, {os.cpu_count()} cores", flush=True)
    runs: dict[str, list[list[dict]]] = {f"{r}x{t}": [] for r, t in CONFIGS}
    sweeps = []
    for round in range(args.repeats):  # the configurations in turn, so that they share the load
        for ranks, threads in CONFIGS:
            t0 = time.perf_counter()
            worker = ["--worker", "steps", "--steps", str(args.steps)]
            runs[f"{ranks}x{threads}"].append(_mpiexec(ranks, threads, *worker))
            print(f"round {round + 1}, {ranks} x {threads}: {time.perf_counter() - t0:.0f} s", flush=True)
        sweeps.append(_mpiexec(2, 1, "--worker", "allreduce"))
    print(f"load average after: {os.getloadavg()}\n")
    steps = {config: _median_of(rounds) for config, rounds in runs.items()}
    sweep = _median_of(sweeps)
    print(report(steps, sweep))
    if args.json:
        args.json.write_text(json.dumps({"steps": steps, "allreduce": sweep, "runs": runs}, indent=1))


def _median_of(rounds: list[list[dict]]) -> list[dict]:
    """Row by row, the median of each number over the rounds."""
    return [
        {k: float(np.median([r[i][k] for r in rounds])) if k not in ("network", "batch", "bytes") else v
         for k, v in row.items()}
        for i, row in enumerate(rounds[0])
    ]  # fmt: skip


if __name__ == "__main__":
    main()
