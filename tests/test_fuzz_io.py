"""Fuzzing the model loader: every generated file either loads correctly or raises ModelFileError.

Three generators, 2,100 files in all (each test asserts how many it ran):

- byte-level damage of real model files (bit flips, truncation, insertions, deletions, a
  rewritten header length): a file that still loads must be exactly the original;
- hostile safetensors headers (unknown dtypes, shapes and byte ranges that disagree or point
  far outside the file, missing or extra entries, odd metadata) over arbitrary payloads;
- structurally valid files with a correct checksum but hostile content (random architectures,
  tensors of the wrong names, shapes, dtypes or values, versions, metadata), as an attacker who
  knows the format would write them: a file that loads must be what it says.

Any other exception (or a crash, or a hang) fails the test.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save

import chainrule as cr
from chainrule.safefile import checksum

FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _originals(tmp: Path) -> list[tuple[bytes, cr.Network]]:
    nets = [
        cr.Network.from_sizes([3, 4, 2], "relu", seed=0),
        cr.Network.from_sizes([2, 3, 3, 1], "tanh", loss="binary_cross_entropy", dtype="float64", seed=1),
        cr.Network([cr.Dense(2, 2), cr.LeakyReLU(0.1), cr.Dropout(0.2), cr.Dense(2, 1)], "squared_error"),
    ]
    nets[0].metadata = {"classes": ["no", "yes"], "feature_names": ["a", "b", "c"], "task": "classification"}
    nets[2].metadata = {"standardize": {"mean": [0.5, -1.0], "scale": [2.0, 1.0]}, "target": "t"}
    return [(cr.save(net, tmp / f"{i}.safetensors").read_bytes(), net) for i, net in enumerate(nets)]


def _load(path: Path, data: bytes) -> cr.Network | None:
    path.write_bytes(data)
    try:
        return cr.load(path)
    except cr.ModelFileError:
        return None


# ------------------------------------------------------------------------------- byte damage
DAMAGE = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**20), st.integers(1, 255)),
    st.tuples(st.just("flip header"), st.integers(0, 2**20), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 2**20), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 2**20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 2**20), st.integers(1, 64)),
    st.tuples(st.just("length"), st.integers(0, 2**64 - 1), st.just(0)),
)


def _damage(data: bytes, ops: list[tuple[str, int, Any]]) -> bytes:
    out = bytearray(data)
    for op, where, arg in ops:
        header_end = min(8 + int.from_bytes(out[:8].ljust(8, b"\0"), "little"), len(out))
        i = where % max(len(out), 1)
        if op == "flip" and out:
            out[i] ^= arg
        elif op == "flip header" and header_end > 8:
            out[8 + where % (header_end - 8)] ^= arg
        elif op == "truncate":
            del out[i:]
        elif op == "insert":
            out[i:i] = arg
        elif op == "delete":
            del out[i : i + arg]
        elif op == "length" and len(out) >= 8:
            out[:8] = struct.pack("<Q", where)
    return bytes(out)


def test_damaged_files_are_refused_or_load_unchanged(tmp_path):
    originals = _originals(tmp_path)
    path = tmp_path / "fuzz.safetensors"
    ran = 0

    @settings(FUZZ, max_examples=800)
    @given(which=st.integers(0, len(originals) - 1), ops=st.lists(DAMAGE, min_size=1, max_size=3))
    def check(which, ops):
        nonlocal ran
        ran += 1
        data, net = originals[which]
        loaded = _load(path, _damage(data, ops))
        if loaded is not None:  # e.g. a flip that turned header padding into other whitespace
            assert loaded.config() == net.config()
            assert loaded.flat_params.tobytes() == net.flat_params.tobytes()
            assert loaded.metadata == net.metadata

    check()
    assert ran >= 800, f"only {ran} generated files"


# ------------------------------------------------------------------------------- hostile headers
NAMES = st.sampled_from(["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b", "x", "__metadata__", ""])
DTYPES = st.sampled_from(["F32", "F64", "I64", "F16", "BF16", "U8", "BOOL", "f32", "", "F32 "])
SIZES = st.one_of(st.integers(0, 8), st.integers(-(2**70), 2**70), st.sampled_from([2**31, 2**32, 2**63]))
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=5,
)
ENTRY = st.one_of(
    st.fixed_dictionaries(
        {"dtype": DTYPES, "shape": st.lists(SIZES, max_size=4), "data_offsets": st.lists(SIZES, max_size=3)}
    ),
    JSONISH,
)
META = st.dictionaries(
    st.sampled_from(["format", "format_version", "network", "metadata", "checksum", "extra"]),
    st.sampled_from(["chainrule", "chainrule-checkpoint", "1", "2", "3", "", "{}", "[]", "sha256:00"])
    | st.text(max_size=12),
    max_size=6,
)


ITEMSIZE = {"F32": 4, "F64": 8, "I64": 8, "F16": 2, "U8": 1}


@st.composite
def hostile_header(draw: st.DrawFn) -> bytes:
    header: dict[str, Any] = draw(st.dictionaries(NAMES, ENTRY, max_size=5))
    payload = draw(st.binary(max_size=200))
    if draw(st.booleans()):  # byte ranges that agree with the payload: on to the later checks
        header, offset = {}, 0
        for name in draw(st.lists(NAMES.filter(lambda n: n != "__metadata__"), unique=True, max_size=4)):
            dtype, shape = (
                draw(st.sampled_from(sorted(ITEMSIZE))),
                draw(st.lists(st.integers(0, 3), max_size=3)),
            )
            end = offset + ITEMSIZE[dtype] * int(np.prod(shape))
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}
            offset = end
        payload = draw(st.binary(min_size=offset, max_size=offset))
    if draw(st.booleans()):
        header["__metadata__"] = draw(META | JSONISH)
    raw = json.dumps(header).encode()
    length = len(raw) if draw(st.integers(0, 9)) else draw(SIZES.filter(lambda n: 0 <= n < 2**64))
    return struct.pack("<Q", length) + raw + payload


def test_hostile_headers_are_refused(tmp_path):
    path = tmp_path / "fuzz.safetensors"
    ran = 0

    @settings(FUZZ, max_examples=650)
    @given(data=hostile_header())
    def check(data):
        nonlocal ran
        ran += 1
        loaded = _load(path, data)
        assert loaded is None or np.isfinite(loaded.flat_params).all()

    check()
    assert ran >= 650, f"only {ran} generated files"


# ------------------------------------------------------------------------------- hostile content
LAYER_TYPES = ["Dense", "ReLU", "Sigmoid", "Tanh", "Softmax", "Identity", "LeakyReLU", "Dropout", "os.system"]
DIM = st.one_of(st.integers(0, 5), st.sampled_from([-1, 10**9, 2**40, True]), st.just("3"), st.just(2.0))


@st.composite
def user_metadata(draw: st.DrawFn, n_in: int, n_out: int, loss: str) -> tuple[Any, bool]:
    """``network.metadata``: mostly the shared keys in their right form, sometimes not (and
    whether it is right); the right task is the one the ``loss`` learns."""
    tasks = {"squared_error": ["regression"], "binary_cross_entropy": ["classification", "multilabel"]}
    right = {
        "classes": st.lists(st.text(max_size=3), min_size=n_out, max_size=n_out, unique=True),
        "feature_names": st.lists(st.text(max_size=3), min_size=n_in, max_size=n_in, unique=True),
        "standardize": st.fixed_dictionaries(
            {
                "mean": st.lists(st.floats(-9, 9), min_size=n_in, max_size=n_in),
                "scale": st.lists(st.floats(0.1, 9), min_size=n_in, max_size=n_in),
            }
        ),
        "task": st.sampled_from(tasks.get(loss, ["classification"])),
        "target": st.text(max_size=4),
        "note": JSONISH,
    }
    wrong = {
        "classes": st.lists(st.integers(0, 3) | st.text(max_size=2) | st.booleans() | st.none(), max_size=4),
        "feature_names": st.lists(st.text(max_size=3) | st.integers(), max_size=4),
        "standardize": st.fixed_dictionaries(
            {"mean": st.lists(st.floats(-2, 2), max_size=4), "scale": st.lists(st.floats(-1, 2), max_size=4)}
        )
        | JSONISH,
        "task": st.text(max_size=8)
        | st.sampled_from(
            sorted({"classification", "regression"} - set(tasks.get(loss, ["classification"])))
        ),
        "target": JSONISH,
    }
    if draw(st.integers(0, 9)) == 0:
        return draw(JSONISH), False
    chosen = draw(st.lists(st.sampled_from(sorted(right)), unique=True, max_size=3))
    spoilt = {key for key in chosen if key in wrong and draw(st.integers(0, 3)) == 0}
    return {key: draw(wrong[key] if key in spoilt else right[key]) for key in chosen}, not spoilt


@st.composite
def hostile_model(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, np.ndarray], bool]:
    """Metadata and tensors of a model file: a real network's, then 0 to 3 changes an attacker
    (or a bug) could make. Returns whether it is unchanged (and so must load)."""
    loss = draw(st.sampled_from(["cross_entropy", "binary_cross_entropy", "squared_error"]))
    sizes = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    sizes[-1] = max(sizes[-1], 2) if loss == "cross_entropy" else sizes[-1]
    net = cr.Network.from_sizes(
        sizes,
        draw(st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"])),
        loss=loss,
        dropout=draw(st.sampled_from([0.0, 0.5])),
        dtype=draw(st.sampled_from(["float32", "float64"])),
        seed=0,
    )
    config = net.config()
    tensors = {name: p.copy() for name, p in zip(net.parameter_names, net.parameters(), strict=True)}
    user, right = draw(user_metadata(sizes[0], sizes[-1], loss))
    metadata = {"format": "chainrule", "format_version": "2", "network": "", "metadata": ""}
    changes = draw(st.lists(st.integers(0, 13), max_size=3))
    layers = config["layers"]
    for change in changes:
        i = draw(st.integers(0, len(layers) - 1)) if layers else 0
        name = draw(st.sampled_from(sorted(tensors))) if tensors else "layers.0.W"
        if change == 0 and layers:  # a Dense size
            dense = [j for j, layer in enumerate(layers) if layer.get("type") == "Dense"] or [i]
            layers[draw(st.sampled_from(dense))][draw(st.sampled_from(["n_in", "n_out"]))] = draw(DIM)
        elif change == 1 and layers:  # another layer type, or an extra argument
            layers[i] = {**layers[i], "type": draw(st.sampled_from(LAYER_TYPES))}
        elif change == 2 and layers:
            layers[i] = {**layers[i], draw(st.sampled_from(["init", "W", "p", "alpha"])): draw(JSONISH)}
        elif change == 3 and layers:  # a layer removed or repeated
            if draw(st.booleans()):
                del layers[i]
            else:
                layers.insert(i, dict(layers[i]))
        elif change == 4 and isinstance(config, dict):
            config["loss"] = draw(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["cross_entropy", "mse", "x"]), "reduction": JSONISH}
                )
            )
        elif change == 5 and isinstance(config, dict):
            config["dtype"] = draw(st.sampled_from(["float16", "int64", "float64", "float32", "object"]))
        elif change == 6:
            config = draw(JSONISH)
            layers = []
        elif change == 7 and tensors:  # a tensor of another shape or dtype
            t = tensors[name]
            shape = draw(st.sampled_from([t.shape[::-1], (*t.shape, 1), (0,), (t.size + 1,)]))
            tensors[name] = np.zeros(shape, dtype=draw(st.sampled_from([t.dtype, np.float64, np.int64])))
        elif change == 8 and tensors:  # values a trained network cannot have
            with np.errstate(over="ignore", invalid="ignore"):  # NaN into an int64 tensor, too
                tensors[name] = np.full_like(tensors[name], draw(st.sampled_from([np.nan, np.inf, -1e300])))
        elif change == 9 and tensors:  # a tensor missing, or one too many
            if draw(st.booleans()):
                del tensors[name]
            else:
                tensors[draw(st.sampled_from(["layers.9.W", "x", "layers.0.W "]))] = np.zeros(2, np.float32)
        elif change == 10:
            metadata["format"] = draw(st.sampled_from(["chainrule-checkpoint", "pt", "", "Chainrule"]))
        elif change == 11:
            metadata["format_version"] = draw(st.sampled_from(["1", "3", "02", "2.0", ""]))
        elif change == 12:
            metadata[draw(st.sampled_from(["extra", "checksum_"]))] = draw(st.text(max_size=6))
        elif change == 13:
            metadata["metadata"] = draw(st.text(max_size=8))
    metadata["network"] = json.dumps(config)
    metadata["metadata"] = metadata["metadata"] or json.dumps(user)
    return metadata, tensors, right and not changes


def test_hostile_content_is_refused_or_loads_as_described(tmp_path):
    path = tmp_path / "fuzz.safetensors"
    ran = loaded_count = 0

    @settings(FUZZ, max_examples=650)
    @given(model=hostile_model())
    def check(model):
        nonlocal ran, loaded_count
        ran += 1
        metadata, tensors, unchanged = model
        if metadata["format_version"] != "1":  # version 1 files carry no checksum
            metadata = {**metadata, "checksum": checksum(metadata, tensors)}
        path.write_bytes(save(tensors, metadata=metadata))
        try:
            loaded = cr.load(path)
        except cr.ModelFileError:
            assert not unchanged, "a file chainrule wrote must load"
            return
        loaded_count += 1
        assert loaded.config() == json.loads(metadata["network"])
        assert loaded.metadata == json.loads(metadata["metadata"])
        for name, p in zip(loaded.parameter_names, loaded.parameters(), strict=True):
            assert p.tobytes() == tensors[name].tobytes()

    check()
    assert ran >= 650, f"only {ran} generated files"
    assert loaded_count >= ran // 5  # the generator reaches the deep checks, and past them
