"""Timing on a shared, noisy machine: warm up, then interleave the contenders' repeats (A B C A B C
...) so that a burst of load from elsewhere falls on all of them alike, and keep the median."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(
    runs: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1, clock: str = "wall"
) -> dict[str, list[float]]:
    """Seconds per call of each run: ``warmup`` untimed calls each, then ``repeats`` rounds."""
    now = CLOCKS[clock]
    for _ in range(warmup):
        for run in runs.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = now()
            run()
            times[name].append(now() - start)
    return times


def median(times: list[float]) -> float:
    return statistics.median(times)


def speedups(times: dict[str, list[float]], of: str = "chainrule") -> dict[str, float]:
    """How many times faster ``of`` is than each other run: the median over the rounds of
    t_other / t_of, each ratio taken within one round (a burst of load from elsewhere, which
    shifts a whole round, cancels out)."""
    return {
        name: median([t / mine for t, mine in zip(ts, times[of], strict=True)])
        for name, ts in times.items()
        if name != of
    }


def default_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def threads(n: int, with_torch: bool) -> Iterator[None]:
    """Every thread pool in the process (OpenBLAS, OpenMP, MKL) and PyTorch's set to ``n`` threads."""
    from threadpoolctl import threadpool_limits

    if with_torch:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if with_torch:
            torch.set_num_threads(before)
