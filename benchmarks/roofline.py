"""The roofline: the sgemm peak of this machine, measured with the BLAS at hand.

A training step is matrix products plus element-wise work; its GFLOP/s (`workloads.train_flops_
per_sample` × samples/s) divided by the peak of a large float32 matrix product says how much of
the machine the step uses. The products alone cannot beat the peak; what is left is element-wise
work, batch gathering, the optimiser and Python.
"""

from __future__ import annotations

import numpy as np

from benchmarks.timing import interleaved


def sgemm_peak(
    size: int = 2048, repeats: int = 5, with_torch: bool = False, clock: str = "wall"
) -> dict[str, float]:
    """GFLOP/s of C = A B for float32 (size × size) matrices, with NumPy's BLAS (and PyTorch's):
    the best of the repeats, as a peak is (a slower repeat was slowed down from elsewhere)."""
    rng = np.random.default_rng(0)
    A, B = (rng.random((size, size), dtype=np.float32) for _ in range(2))
    C = np.empty((size, size), np.float32)
    runs = {"numpy": lambda: np.matmul(A, B, out=C)}
    if with_torch:
        import torch

        tA, tB, tC = torch.from_numpy(A), torch.from_numpy(B), torch.from_numpy(C)
        runs["torch"] = lambda: torch.mm(tA, tB, out=tC)
    times = interleaved(runs, repeats, warmup=1, clock=clock)
    return {name: 2 * size**3 / min(t) / 1e9 for name, t in times.items()}
