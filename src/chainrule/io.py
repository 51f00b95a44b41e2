"""Model files: safetensors, with the architecture in its metadata.

A safetensors file is a JSON header followed by raw arrays; opening one never executes code
(unlike pickle). The header's metadata carries

    format          "chainrule"
    format_version  "1"
    network         the JSON of `Network.config()` (layers, loss, dtype)
    metadata        the JSON of ``network.metadata`` (class names, preprocessing notes, ...)

and the arrays are named as `Network.parameter_names` (``layers.0.W``, ``layers.0.b``, ...).
Files are written atomically (a temporary file in the same directory, then a rename), and an
existing file is only replaced with ``overwrite=True``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.network import Network

FORMAT = "chainrule"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """The file is not a chainrule model this version can read."""


def save(network: Network, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``network`` (architecture, weights, metadata) to ``path``; returns the path."""
    from safetensors.numpy import save_file

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists: pass overwrite=True to replace it, or choose another path")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"directory {path.parent} does not exist: create it first")
    try:
        user = json.dumps(network.metadata)
    except TypeError as e:
        raise TypeError(f"network.metadata must be JSON-serialisable: {e}") from None
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "network": json.dumps(network.config()),
        "metadata": user,
    }
    tensors = {
        name: np.ascontiguousarray(p)
        for name, p in zip(network.parameter_names, network.parameters(), strict=True)
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=header)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike[str]) -> Network:
    """Read a network written by `save`; anything else is refused with `ModelFileError`."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with safe_open(path, framework="np") as f:
            header = f.metadata() or {}
            names = set(f.keys())
            arrays = {name: f.get_tensor(name) for name in names}
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path} is not a readable model file ({e})") from None
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is a safetensors file but not a chainrule model")
    if header.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{path} has model format version {header.get('format_version')!r}; this chainrule "
            f"reads version {FORMAT_VERSION}: upgrade chainrule"
        )
    try:
        config = json.loads(header["network"])
        user: Any = json.loads(header.get("metadata", "{}"))
        network = Network.from_config(config)
    except (KeyError, ValueError, TypeError) as e:
        raise ModelFileError(f"{path} has a broken architecture description: {e}") from None
    if not isinstance(user, dict):
        raise ModelFileError(f"{path} has metadata that is not a JSON object")
    expected = dict(zip(network.parameter_names, network.parameters(), strict=True))
    if names != expected.keys():
        missing, extra = sorted(expected.keys() - names), sorted(names - expected.keys())
        raise ModelFileError(f"{path} does not match its architecture: missing {missing}, unexpected {extra}")
    for name, p in expected.items():
        a = arrays[name]
        if a.shape != p.shape or a.dtype != p.dtype:
            raise ModelFileError(
                f"{path}: tensor {name} is {a.dtype} {a.shape}, the architecture needs {p.dtype} {p.shape}"
            )
        if not np.isfinite(a).all():
            raise ModelFileError(f"{path}: tensor {name} contains NaN or inf")
        p[...] = a
    network.metadata = user
    return network
