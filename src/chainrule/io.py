"""Model files: safetensors, with the architecture in its metadata.

A safetensors file is a JSON header followed by raw arrays; opening one never executes code
(unlike pickle). The header's metadata carries

    format          "chainrule"
    format_version  "2" ("1": the same without a checksum; such files still load)
    network         the JSON of `Network.config()` (layers, loss, dtype)
    metadata        the JSON of ``network.metadata`` (class names, preprocessing notes, ...)
    checksum        SHA-256 of all of the above and the arrays (`chainrule.safefile.checksum`)

and the arrays are named as `Network.parameter_names` (``layers.0.W``, ``layers.0.b``, ...).
Files are written atomically (a temporary file in the same directory, fsync, rename), and an
existing file is only replaced with ``overwrite=True``. `load` trusts nothing: a truncated,
corrupted or hostile file is refused with `ModelFileError` before it can make chainrule allocate
more than the file holds (see `chainrule.safefile`).

``network.metadata`` may hold anything JSON, and these keys, shared by the command line, the
scikit-learn estimators, ONNX export and the playground, are checked on save and load:

    classes         the original class labels (strings or integers), output k ↔ classes[k]
    feature_names   the input column names, one per input
    standardize     {"mean": [...], "scale": [...]}: the network sees x' = (x − mean) / scale
    target          the name of the target column
    task            "classification", "multilabel" or "regression"
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.checkpoint import FORMAT as CHECKPOINT_FORMAT
from chainrule.network import Network
from chainrule.safefile import ModelFileError, SafetensorsFile, build_network, parse_json, write_safetensors

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "check_metadata", "load", "save"]

FORMAT = "chainrule"
FORMAT_VERSION = 2
_KEYS = {
    "1": ({"format", "format_version", "network"}, {"metadata"}),  # (required, optional)
    "2": ({"format", "format_version", "network", "metadata", "checksum"}, set()),
}
TASKS = ("classification", "multilabel", "regression")


def save(network: Network, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``network`` (architecture, weights, metadata) to ``path``; returns the path."""
    path = Path(path)
    check_metadata(network.metadata, network)
    try:
        user = json.dumps(network.metadata, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"network.metadata must be JSON-serialisable (no NaN or inf): {e}") from None
    header = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "network": json.dumps(network.config()),
        "metadata": user,
    }
    tensors = dict(zip(network.parameter_names, network.parameters(), strict=True))
    return write_safetensors(path, tensors, header, overwrite=overwrite)


def load(path: str | os.PathLike[str]) -> Network:
    """Read a network written by `save`; anything else is refused with `ModelFileError`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    f = SafetensorsFile(path)
    header = f.metadata
    if header.get("format") != FORMAT:
        hint = ": it is a training checkpoint" if header.get("format") == CHECKPOINT_FORMAT else ""
        raise ModelFileError(f"{path} is a safetensors file but not a chainrule model{hint}")
    version = header.get("format_version")
    if version not in _KEYS:
        raise ModelFileError(
            f"{path} has model format version {version!r}; this chainrule reads versions "
            f"{', '.join(_KEYS)}: upgrade chainrule"
        )
    required, optional = _KEYS[version]
    if not required <= header.keys() <= required | optional:
        raise ModelFileError(
            f"{path} is not as chainrule writes it: its metadata has {sorted(header)}, "
            f"expected {sorted(required | optional)}"
        )
    arrays = f.tensors()  # version 2: checksum verified
    try:
        config, user = parse_json(header["network"]), parse_json(header.get("metadata", "{}"))
    except ValueError as e:
        raise f.error(f"its metadata is {e}") from None
    network = build_network(config, {name: a.shape for name, a in arrays.items()}, f.error)
    expected = dict(zip(network.parameter_names, network.parameters(), strict=True))
    if arrays.keys() != expected.keys():
        missing, extra = sorted(expected.keys() - arrays.keys()), sorted(arrays.keys() - expected.keys())
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
    try:
        check_metadata(user, network)
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{path} has metadata chainrule did not write: {e}") from None
    network.metadata = user
    return network


def check_metadata(metadata: Any, network: Network) -> None:
    """``network.metadata`` must be a JSON object whose shared keys (see the module docstring)
    have the form every chainrule face relies on; raises TypeError or ValueError otherwise."""
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise TypeError(f"network.metadata must be a dict with string keys, got {type(metadata).__name__}")
    n_in, n_out = network.n_features, network.n_outputs
    if "classes" in metadata:
        classes = metadata["classes"]
        labels = isinstance(classes, list) and all(
            isinstance(c, str) or (isinstance(c, int) and not isinstance(c, bool)) for c in classes
        )
        if not labels or len(set(classes)) != len(classes):
            raise ValueError("metadata 'classes' must be a list of distinct strings or integers")
        if len(classes) != n_out and not (n_out == 1 and len(classes) == 2):
            raise ValueError(f"metadata 'classes' has {len(classes)} labels for {n_out} outputs")
    if "feature_names" in metadata:
        names = metadata["feature_names"]
        if not (isinstance(names, list) and len(names) == n_in and all(isinstance(n, str) for n in names)):
            raise ValueError(f"metadata 'feature_names' must be a list of {n_in} strings, one per input")
        if len(set(names)) != n_in:
            raise ValueError("metadata 'feature_names' names an input twice: give each input its own name")
    if "standardize" in metadata:
        sd = metadata["standardize"]
        if not (
            isinstance(sd, dict)
            and sd.keys() == {"mean", "scale"}
            and all(_numbers(sd[k], n_in) for k in ("mean", "scale"))
            and all(s > 0 for s in sd["scale"])
        ):
            raise ValueError(
                f"metadata 'standardize' must be {{'mean': [...], 'scale': [...]}} with {n_in} finite "
                "numbers each (one per input), every scale > 0"
            )
    if "target" in metadata and not isinstance(metadata["target"], str):
        raise ValueError("metadata 'target' must be the target column's name (a string)")
    if "task" in metadata and metadata["task"] not in TASKS:
        raise ValueError(f"metadata 'task' must be one of {', '.join(TASKS)}, got {metadata['task']!r}")
    task = metadata.get("task")
    if task is not None and (task == "regression") == network.loss.classifier:
        raise ValueError(
            f"metadata 'task' is {task} but the network's loss {network.loss.name} is "
            f"{'a classification' if network.loss.classifier else 'a regression'} loss: "
            "give the task it learns"
        )
    if task == "multilabel" and type(network.layers[-1]).__name__ == "Softmax":
        raise ValueError(
            "metadata 'task' is multilabel but the outputs are a softmax (one class of all): "
            "use classification"
        )
    if "data" in metadata:
        _check_data(metadata["data"])


MAX_COUNT = 10**9  # rows or classes a model file's "data" entry may record
MAX_NOISE = 1e6


def _check_data(entry: Any) -> None:
    """The data a model was trained on (`chainrule.evaluation.trained_on`): what splits it again."""

    def whole(v: Any, low: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and low <= v <= MAX_COUNT

    def fraction(v: Any, low_open: bool) -> bool:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        return ok and (0 < v < 1 if low_open else 0 <= v < 1)

    checks = {
        "name": lambda v: isinstance(v, str) and 0 < len(v) <= 4096,
        "samples": lambda v: v is None or whole(v, 1),
        "noise": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < MAX_NOISE,
        "classes": lambda v: whole(v, 1),
        "seed": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63),
        "val_fraction": lambda v: fraction(v, low_open=False),
        "test_fraction": lambda v: fraction(v, low_open=True),
        "fingerprint": lambda v: isinstance(v, str) and len(v) == 64,
    }
    if not isinstance(entry, dict):
        raise ValueError("metadata 'data' must be an object describing the training data")
    for key, value in entry.items():
        if key in checks and not checks[key](value):
            raise ValueError(f"metadata 'data' has an invalid {key}: {value!r}")


def _numbers(values: Any, n: int) -> bool:
    return (
        isinstance(values, list)
        and len(values) == n
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    )
