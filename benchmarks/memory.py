"""Peak memory (RSS) of a training run, measured in a fresh process per run.

The child reports its high-water mark three times: after importing the contender, after making
the data, and after training. The last minus the second is what training costs beyond the data:
for chainrule it should not grow with the number of examples (no shuffled copy of the data, no
one-hot matrix, buffers the size of a batch).

    python -m benchmarks.memory chainrule relu sgd 128 10000 1 2    (anchor network optimizer
                                                                   batch samples epochs threads)
"""

from __future__ import annotations

import json
import subprocess
import sys
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


if __name__ == "__main__":
    a, net, opt, *numbers = sys.argv[1:]
    _child(a, net, opt, *map(int, numbers))
