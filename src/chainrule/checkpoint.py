"""Checkpoints of a training run: everything `fit` needs to continue it, bit for bit.

A run directory holds the newest checkpoints (two of them: should the newest be damaged, the
one before is used), safetensors files named by the number of steps taken,
``checkpoint-000001234.safetensors``, with

    tensors    params/layers.0.W, ... (the weights), optimizer/m_sum, optimizer/v_sum or
               optimizer/velocity, order (the epoch's permutation of the rows),
               callbacks/0/best_params (early stopping), ...
    metadata   format "chainrule-checkpoint", format_version "1", network (the JSON of
               `Network.config`), metadata (``network.metadata``), state (the rest of the
               training state as JSON: epoch, batch and step, the generator state, the epoch's
               running sums, history, early-stopping counters, the settings of the run), checksum

The state is a nested dict whose arrays become tensors (named by their path) and whose other
values become JSON: no pickle, and a checksum over all of it. Files are written atomically
(`chainrule.safefile`): a ``kill -9`` during a save leaves a temporary file that is never read
(and is removed by the next save), and the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.base import Array
from chainrule.network import Network
from chainrule.safefile import ModelFileError, SafetensorsFile, build_network, parse_json, write_safetensors

FORMAT = "chainrule-checkpoint"
FORMAT_VERSION = "1"
KEEP = 2  # checkpoints kept in a run directory
_NAME = re.compile(r"checkpoint-(\d{9,})\.safetensors")
_KEYS = {"format", "format_version", "network", "metadata", "state", "checksum"}


class CheckpointError(ModelFileError):
    """A checkpoint that cannot be read, or that does not belong to the run being resumed."""


@dataclass
class Checkpoint:
    """A checkpoint read back: the network at that point (weights, generator state, metadata)
    and the training state, a nested dict of JSON values and arrays."""

    path: Path
    network: Network
    state: dict[str, Any]


def checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The checkpoint files of a run directory, oldest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := _NAME.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(run_dir: str | os.PathLike[str], network: Network, state: dict[str, Any]) -> Path:
    """Write ``state`` (with ``state["position"]["step"]``) as the run's newest checkpoint; keep
    the `KEEP` newest and remove temporary files an interrupted save left behind."""
    run_dir = Path(run_dir)
    plain, arrays = _split(state)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "network": json.dumps(network.config()),
        "metadata": json.dumps(network.metadata),
        "state": json.dumps(plain, allow_nan=False),
    }
    path = run_dir / f"checkpoint-{state['position']['step']:09d}.safetensors"
    write_safetensors(path, arrays, metadata, overwrite=True)
    for old in checkpoints(run_dir)[:-KEEP]:
        old.unlink(missing_ok=True)
    for stale in run_dir.glob(".checkpoint-*.tmp"):
        stale.unlink(missing_ok=True)
    return path


def load_checkpoint(run_dir: str | os.PathLike[str]) -> Checkpoint:
    """The newest checkpoint of ``run_dir`` that reads back whole. A damaged newer one (a torn or
    corrupted file) is renamed ``*.damaged``, never loaded, and a warning says so."""
    if Path(run_dir).is_file():
        raise NotADirectoryError(f"{run_dir} is a file: give the run directory that holds the checkpoints")
    paths = checkpoints(run_dir)
    if not paths:
        raise FileNotFoundError(f"no checkpoint in {run_dir}: start the run without resuming")
    damaged: list[str] = []
    for path in reversed(paths):
        try:
            found = read_checkpoint(path)
        except CheckpointError:
            raise
        except ModelFileError as e:
            damaged.append(f"{path.name} ({e})")
            path.rename(path.with_name(path.name + ".damaged"))
            continue
        if damaged:
            warnings.warn(
                f"damaged checkpoint(s) set aside as *.damaged: {'; '.join(damaged)}. "
                f"Resuming from {path.name} instead",
                RuntimeWarning,
                stacklevel=2,
            )
        return found
    raise CheckpointError(f"every checkpoint in {run_dir} is damaged: {'; '.join(damaged)}")


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """One checkpoint file, checked like a model file (structure, checksum, sizes). A damaged
    file raises `ModelFileError`; a sound one that is not for this chainrule `CheckpointError`."""
    f = SafetensorsFile(path)
    if "checksum" not in f.metadata:
        raise f.error("it has no checksum")
    arrays = f.tensors()  # verifies the checksum: from here on, the file is as it was written
    meta = f.metadata
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a chainrule checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {meta.get('format_version')!r}; this chainrule "
            f"reads version {FORMAT_VERSION}: resume it with the chainrule that wrote it"
        )
    if meta.keys() != _KEYS:
        raise CheckpointError(f"{path} has metadata entries {sorted(meta)}, expected {sorted(_KEYS)}")
    try:
        config, user, plain = (parse_json(meta[key]) for key in ("network", "metadata", "state"))
    except ValueError as e:
        raise f.error(str(e)) from None
    if not (isinstance(user, dict) and isinstance(plain, dict)):
        raise f.error("its metadata or state is not a JSON object")
    state = _join(plain, arrays, f)
    params = state.get("params")
    if not isinstance(params, dict) or not all(isinstance(p, np.ndarray) for p in params.values()):
        raise f.error("it holds no weights")
    network = build_network(config, {name: p.shape for name, p in params.items()}, f.error)
    if params.keys() != set(network.parameter_names):
        raise f.error(f"its weights {sorted(params)} are not those of its network")
    for name, p in zip(network.parameter_names, network.parameters(), strict=True):
        if params[name].dtype != p.dtype:
            raise f.error(f"its weights {name} are {params[name].dtype}, its network is {p.dtype}")
        p[...] = params[name]
    try:
        network.rng.bit_generator.state = state.get("rng")
    except (ValueError, TypeError, KeyError) as e:
        raise f.error(f"its generator state is invalid ({e})") from None
    network.metadata = user
    return Checkpoint(Path(path), network, state)


def _split(state: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, Array]]:
    """Separate the arrays of a nested dict (named by their path, ``a/b/c``) from the rest."""
    plain: dict[str, Any] = {}
    arrays: dict[str, Array] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[prefix + key] = value
        elif isinstance(value, dict):
            plain[key], inner = _split(value, f"{prefix}{key}/")
            arrays.update(inner)
        else:
            plain[key] = value
    return plain, arrays


def _join(plain: dict[str, Any], arrays: dict[str, Array], f: SafetensorsFile) -> dict[str, Any]:
    """Put the arrays back at their paths: the inverse of `_split`."""
    for name, array in arrays.items():
        *path, leaf = name.split("/")
        node = plain
        for key in path:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise f.error(f"its tensor {name!r} does not fit its state")
        if leaf in node:
            raise f.error(f"its tensor {name!r} does not fit its state")
        node[leaf] = array
    return plain
