"""The run directory: checked before a run, made when its data is good and removed again if the
run fails while it is empty; RUN/run.json, what `chainrule.pipeline.resume` continues; and the
files a finished run writes, each whole or not at all."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

import chainrule.plots as plots
from chainrule.callbacks import History
from chainrule.checkpoint import checkpoints
from chainrule.io import save
from chainrule.network import Network
from chainrule.run import parse_interval
from chainrule.safefile import atomic_write, writable
from chainrule.world import World

RUN_FILE = "run.json"  # the settings of a checkpointed run, read by resume
RUN_FILES = ("model.safetensors", "history.json", "metrics.json", "curves.png", "confusion.png", RUN_FILE)
RUN_KEYS = {"experiment", "checkpoint_every", "processes"}  # what it holds (processes: 1 if absent)
T = TypeVar("T")


def store_run(
    run_dir: Path,
    settings: dict[str, Any],
    checkpoint_every: int | str | timedelta,
    overwrite: bool,
    processes: int,
) -> None:
    """RUN/run.json: a run's ``settings`` (JSON values), how often it saves, on how many processes."""
    if checkpoints(run_dir):
        raise FileExistsError(
            f"{run_dir} holds checkpoints of an earlier run: continue it with resume={run_dir}, or choose "
            "another out="
        )
    every = checkpoint_every.total_seconds() if isinstance(checkpoint_every, timedelta) else checkpoint_every
    text = json.dumps({"experiment": settings, "checkpoint_every": every, "processes": processes}, indent=1)
    atomic_write(run_dir / RUN_FILE, (text + "\n").encode(), overwrite=overwrite)


def read_run(
    run_dir: str | os.PathLike[str], parse: Callable[[Any], T], processes: int
) -> tuple[T, int | float | str]:
    """The settings (read by ``parse``) and the checkpoint interval of RUN/run.json, every value
    checked; the run must go on on the ``processes`` it started on."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a checkpointed run (it has no {RUN_FILE}): give the directory of a run "
            "started with checkpoint_every"
        )
    try:
        stored = json.loads(path.read_text())
        if not isinstance(stored, dict) or (unknown := set(stored) - RUN_KEYS):
            raise ValueError(
                f"unknown entries {sorted(unknown)}" if isinstance(stored, dict) else "not an object"
            )
        every = stored["checkpoint_every"]
        if isinstance(every, bool) or not isinstance(every, int | float | str):
            raise ValueError(f"checkpoint_every {every!r}")
        parse_interval(interval(every))
        started = stored.get("processes", 1)
        if isinstance(started, bool) or not isinstance(started, int) or started < 1:
            raise ValueError(f"processes {started!r}")
        settings = parse(stored["experiment"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, OverflowError) as e:
        raise ValueError(f"{path} is not as chainrule wrote it ({e}): start the run again") from None
    if started != processes:
        raise ValueError(
            f"{run_dir} was started on {started} process(es), not {processes}: resume it on {started}, "
            "so that every step sums the same rows"
        )
    return settings, every


def interval(every: int | float | str) -> int | str | timedelta:
    return timedelta(seconds=every) if isinstance(every, float) else every


@contextlib.contextmanager
def run_directory(out: Path, overwrite: bool, world: World) -> Iterator[Path]:
    """``out`` prepared (`prepare_run_dir`) for the block; if the block fails, a directory made
    here that is still empty is removed: a failed run leaves no empty run directory behind."""
    made = world.root and not out.exists()
    prepare_run_dir(out, overwrite, world)
    try:
        yield out
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()  # only an empty directory: a run's checkpoints stay
        raise


def check_run_dir(out: Path, overwrite: bool) -> None:
    """``out`` may become a run directory: it is new, or an empty directory, or ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a directory: give another out=")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"run directory {out} exists and is not empty: pass overwrite=True to replace its files, "
            "or give another out="
        )
    for name in RUN_FILES:  # what the run will write, known now rather than after the training
        if (out / name).exists() or (out / name).is_symlink():
            writable(out / name, overwrite=True)


def prepare_run_dir(out: Path, overwrite: bool, world: World) -> Path:
    """The run directory ``out``, used only if it is new or empty (or with ``overwrite``),
    created and checked for writing now rather than after the training (by rank 0)."""
    if world.root:
        check_run_dir(out, overwrite)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise type(e)(
                e.errno, f"cannot create the run directory {out} ({e.strerror}): give another out="
            ) from None
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write in the run directory {out}: give another out=")
    world.broadcast(None)  # the others wait for it
    return out


def json_text(value: Any) -> str:
    """``value`` as strict JSON, NaN and infinities as null (Python's json writes a bare NaN, which
    JSON has not: JavaScript's JSON.parse and jq refuse the file)."""

    def strict(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: strict(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [strict(x) for x in v]
        return v

    return json.dumps(strict(value), indent=1, allow_nan=False)


def write_run(
    run_dir: Path,
    network: Network,
    history: History,
    metrics: dict[str, Any],
    classes: list[Any] | None,
    cm: np.ndarray | None,
    overwrite: bool,
) -> None:
    """model.safetensors, history.json, metrics.json, curves.png and, for classes, confusion.png,
    each written whole or not at all (`atomic_write`, which also removes what a write killed
    before left of them)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    save(network, run_dir / "model.safetensors", overwrite=overwrite)
    for name, value in (("history.json", history.to_dict()), ("metrics.json", metrics)):
        atomic_write(run_dir / name, (json_text(value) + "\n").encode(), overwrite=True)
    plots.curves(history, run_dir / "curves.png")
    if classes is not None and cm is not None:
        plots.confusion(cm, classes, run_dir / "confusion.png")
