"""Model files: a round trip gives identical predictions; nothing else loads; nothing is overwritten."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr


def _trained(dtype: str = "float32") -> tuple[cr.Network, np.ndarray]:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 6)), rng.integers(0, 3, 50)
    net = cr.Network(
        [
            cr.Dense(6, 8),
            cr.LeakyReLU(0.2),
            cr.Dropout(0.1),
            cr.Dense(8, 5),
            cr.Tanh(),
            cr.Dense(5, 3),
            cr.Softmax(),
        ],
        dtype=dtype,
        seed=0,
    )
    cr.fit(net, X, y, epochs=3, optimizer="adam", lr=0.01)
    return net, X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_gives_identical_predictions(tmp_path, dtype):
    net, X = _trained(dtype)
    net.metadata = {"classes": ["cat", "dog", "bird"], "note": "δ"}
    path = cr.save(net, tmp_path / "model.safetensors")
    loaded = cr.load(path)
    assert loaded.config() == net.config()
    assert loaded.metadata == net.metadata
    assert loaded.flat_params.tobytes() == net.flat_params.tobytes()
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))


def test_every_loss_round_trips(tmp_path):
    for i, (loss, out) in enumerate([("binary_cross_entropy", "sigmoid"), ("squared_error", "identity")]):
        net = cr.Network.from_sizes([3, 4, 2], "sigmoid", out, loss, reduction="sum", seed=i)
        loaded = cr.load(cr.save(net, tmp_path / f"{i}.safetensors"))
        assert loaded.loss.config() == {"type": loss, "reduction": "sum"}
        x = np.ones((1, 3))
        np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


def test_never_overwrites_without_asking(tmp_path):
    net, _ = _trained()
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        cr.save(net, path)
    assert path.read_bytes() == b"precious"
    cr.save(net, path, overwrite=True)
    assert cr.load(path).n_parameters == net.n_parameters
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary left behind


def test_missing_directory_and_file(tmp_path):
    net, _ = _trained()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cr.save(net, tmp_path / "nowhere" / "m.safetensors")
    with pytest.raises(FileNotFoundError, match="no model file"):
        cr.load(tmp_path / "absent.safetensors")


def _safetensors(header: dict, payload: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


def test_files_that_are_not_models_are_refused(tmp_path):
    net, _ = _trained()
    good = cr.save(net, tmp_path / "good.safetensors").read_bytes()
    cases = {
        "text": b"hello, I am not a model",
        "pickle": b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00.",
        "truncated": good[: len(good) // 2],
        "foreign": _safetensors({"__metadata__": {"format": "pt"}}),
        "version": _safetensors({"__metadata__": {"format": "chainrule", "format_version": "99"}}),
        "config": _safetensors(
            {"__metadata__": {"format": "chainrule", "format_version": "1", "network": "{"}}
        ),
        "layer": _safetensors(
            {
                "__metadata__": {
                    "format": "chainrule",
                    "format_version": "1",
                    "network": json.dumps(
                        {"layers": [{"type": "os.system"}], "loss": {"type": "mse"}, "dtype": "float32"}
                    ),
                }
            }
        ),
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        with pytest.raises(cr.ModelFileError):
            cr.load(path)


def test_tensors_must_match_the_architecture(tmp_path):
    from safetensors.numpy import save_file

    net = cr.Network.from_sizes([2, 3, 2], seed=0)
    meta = {
        "format": "chainrule",
        "format_version": "1",
        "network": json.dumps(net.config()),
        "metadata": "{}",
    }
    good = {name: p.copy() for name, p in zip(net.parameter_names, net.parameters(), strict=True)}
    variants = {
        "missing": {k: v for k, v in good.items() if k != "layers.0.b"},
        "extra": {**good, "layers.9.W": np.zeros(2, np.float32)},
        "shape": {**good, "layers.0.W": np.zeros((3, 3), np.float32)},
        "dtype": {**good, "layers.0.W": good["layers.0.W"].astype(np.float64)},
        "nan": {**good, "layers.0.b": np.full(3, np.nan, np.float32)},
    }
    for name, tensors in variants.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(path), metadata=meta)
        with pytest.raises(cr.ModelFileError, match=r"does not match|needs|NaN"):
            cr.load(path)


def test_model_files_are_byte_reproducible(tmp_path):
    """The same network saved by two processes gives the same bytes (the metadata's order does
    not depend on a per-process hash seed)."""
    script = (
        "import sys, numpy as np, chainrule as cr\n"
        "net = cr.Network.from_sizes([3, 4, 2], seed=1)\n"
        "net.metadata = {'classes': ['a', 'b'], 'task': 'classification', 'feature_names': ['x', 'y', 'z']}\n"
        "cr.save(net, sys.argv[1])\n"
    )
    files = [tmp_path / f"{i}.safetensors" for i in range(4)]
    for i, path in enumerate(files):
        env = {**os.environ, "PYTHONHASHSEED": str(i)}
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, env=env)
    assert len({path.read_bytes() for path in files}) == 1
    loaded = cr.load(files[0])
    assert loaded.metadata["classes"] == ["a", "b"] and loaded.n_parameters == 3 * 4 + 4 + 4 * 2 + 2


def test_a_sparse_file_declaring_gigabytes_is_refused_before_it_is_read(tmp_path):
    """A model file whose header declares 10 GB of weights, the file extended to that size with a
    hole (4 KB on disk): refused from its header and its blocks on disk, in bounded memory."""
    import resource

    header = {
        "__metadata__": {"format": "chainrule"},
        "W": {"dtype": "F32", "shape": [2_500_000_000], "data_offsets": [0, 10_000_000_000]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "sparse.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    os.truncate(path, 8 + len(raw) + 10_000_000_000)
    if os.stat(path).st_blocks * 512 > 1 << 20:
        pytest.skip("this file system has no sparse files")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(cr.ModelFileError, match=r"it is a sparse file \(\d+ bytes on disk of the 10000000"):
        cr.load(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB


def test_a_task_the_loss_does_not_learn_is_refused(tmp_path):
    """save accepted task='regression' on a softmax classifier and 'multilabel' on a softmax."""
    clf = cr.Network.from_sizes([2, 3], seed=0)
    reg = cr.Network.from_sizes([2, 1], output="identity", loss="squared_error", seed=0)
    for net, task, message in [
        (clf, "regression", "is regression but the network's loss cross_entropy is a classification loss"),
        (reg, "classification", "is classification but the network's loss squared_error is a regression"),
        (clf, "multilabel", "the outputs are a softmax"),
    ]:
        net.metadata = {"task": task}
        with pytest.raises(ValueError, match=message):
            cr.save(net, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
