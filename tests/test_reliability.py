"""Reliability: the divergence guard, gradient clipping, failed writes that change nothing, and
hostile model files refused before they cost memory. docs/reliability.md cites these tests."""

from __future__ import annotations

import errno
import json
import os
import struct
import subprocess
import sys
import tempfile
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save as safetensors_bytes

import chainrule as cr
from chainrule.checkpoint import checkpoints, read_checkpoint
from chainrule.safefile import checksum

RNG = np.random.default_rng(0)
X = RNG.normal(size=(10, 3))
Y = RNG.integers(0, 2, 10)
XR = RNG.normal(size=(64, 4))
YR = XR @ RNG.normal(size=(4, 2))


# ------------------------------------------------------------------------------- divergence guard
class Poison(cr.Identity):
    """An identity activation whose backward pass gives NaN from its ``at``-th call on: a fault
    injected where no real layer would make one, for the guard to catch."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.calls = at, 0

    def backward(self, grad, need_input_grad=True):
        self.calls += 1
        if self.calls >= self.at:
            grad[0, 0] = np.nan
        return grad


class Snapshots(cr.Callback):
    def __init__(self, network: cr.Network) -> None:
        self.network, self.params = network, []

    def on_batch_end(self, batch, logs):
        self.params.append(self.network.flat_params.copy())


def test_a_nan_gradient_stops_at_once_naming_the_layer_and_step():
    net = cr.Network([cr.Dense(3, 4), Poison(at=5), cr.Dense(4, 2), cr.Softmax()], seed=0)
    seen = Snapshots(net)
    with pytest.raises(cr.DivergenceError) as stopped:
        cr.fit(net, X, Y, epochs=10, batch_size=4, lr=0.1, callbacks=[seen])
    message = str(stopped.value)
    assert "in epoch 2, batch 2 (step 5): ∂L/∂W of layer 1 holds NaN or inf" in message
    assert "the weights before this step are kept" in message and "lower the learning rate" in message
    assert len(seen.params) == 4  # the fifth step was never taken
    assert net.flat_params.tobytes() == seen.params[-1].tobytes()
    assert isinstance(stopped.value, FloatingPointError)


def test_an_absurd_learning_rate_stops_with_good_weights_and_valid_checkpoints(tmp_path):
    """The forward pass of step 3 overflows on the weights step 2 left: those are not good, and
    the weights go back to the epoch's start, which evaluate to a finite loss."""
    net = cr.Network.from_sizes([4, 16, 2], "relu", loss="squared_error", seed=0)
    start = net.flat_params.copy()
    seen = Snapshots(net)
    with pytest.raises(cr.DivergenceError, match=r"step 3\): the loss is inf: the outputs of layer 2"):
        cr.fit(net, XR, YR, epochs=50, batch_size=16, lr=1e4, callbacks=[seen], checkpoint=tmp_path)
    assert net.flat_params.tobytes() == start.tobytes()
    assert np.isfinite(net.evaluate(XR, YR)["loss"])
    for path in checkpoints(tmp_path):  # what is on disk is whole and finite
        assert np.isfinite(read_checkpoint(path).network.flat_params).all()
    with pytest.raises(
        cr.DivergenceError, match=r"‖∇L‖² overflows: the largest gradient, .* is in ∂L/∂W of layer 2"
    ):
        net = cr.Network.from_sizes([4, 16, 2], "relu", loss="squared_error", seed=0)
        cr.fit(net, XR, YR, epochs=50, batch_size=16, lr=100.0)


def test_an_overflowing_update_restores_the_weights_of_the_epoch_start():
    """lr = 1e38 is a finite number, but η ∇L overflows to inf: the next forward pass breaks and
    the weights go back to the last ones known to be good."""
    net = cr.Network.from_sizes([4, 16, 2], "relu", loss="squared_error", seed=0)
    start = net.flat_params.copy()
    with pytest.raises(cr.DivergenceError, match="restored to those at the start of epoch 1"):
        cr.fit(net, XR, YR, epochs=3, batch_size=16, lr=1e38)
    assert net.flat_params.tobytes() == start.tobytes()


def test_clip_norm_rescales_the_gradient_to_its_norm():
    """One full-batch step: θ ← θ − η c ∇L / ‖∇L‖ when ‖∇L‖ > c, plain θ ← θ − η ∇L otherwise."""
    net = cr.Network.from_sizes([4, 8, 2], "tanh", loss="squared_error", dtype="float64", seed=0)
    _, grads = net.copy().loss_and_grad(XR, YR)
    g = np.concatenate([gr.ravel() for gr in grads])
    norm = np.linalg.norm(g)
    for c in (norm / 4, norm * 2):
        clipped = net.copy()
        cr.fit(clipped, XR, YR, epochs=1, batch_size=None, lr=0.1, clip_norm=c)
        scale = min(1.0, c / norm)
        np.testing.assert_allclose(clipped.flat_params, net.flat_params - 0.1 * scale * g, rtol=1e-12)
    plain, unclipped = net.copy(), net.copy()
    cr.fit(plain, XR, YR, epochs=2, batch_size=8, lr=0.1)
    cr.fit(unclipped, XR, YR, epochs=2, batch_size=8, lr=0.1, clip_norm=1e6)
    assert plain.flat_params.tobytes() == unclipped.flat_params.tobytes()


@pytest.mark.parametrize("clip_norm", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_bad_clip_norm(clip_norm):
    with pytest.raises(ValueError, match="clip_norm must be a positive number"):
        cr.fit(cr.Network.from_sizes([3, 2], seed=0), X, Y, clip_norm=clip_norm)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lr": float("inf")}, ValueError, "learning rate must be a positive number"),
        ({"validation_data": (np.zeros((2, 5)), [0, 1])}, ValueError, "X has 5 features"),
        ({"validation_data": (np.zeros((2, 3)), [0, 1, 1])}, ValueError, "X has 2 rows but y has 3"),
        ({"lr": 1e-320}, ValueError, r"lr=1e-320 is 0 in float32, the network's dtype: nothing would train"),
        ({"checkpoint": ""}, ValueError, "checkpoint='' names no directory"),  # wrote into the cwd before
        ({"checkpoint": 5}, TypeError, "checkpoint must be a run directory's path, got 5"),
        ({"resume": "no"}, TypeError, "resume must be True or False, got 'no'"),
    ],
)
def test_more_bad_fit_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        cr.fit(cr.Network.from_sizes([3, 2], seed=0), X, Y, **kwargs)


def test_absurd_layer_sizes():
    for n in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="Dense n_in must be a positive integer"):
            cr.Dense(n, 3)
    with pytest.raises(MemoryError, match=r"Unable to allocate 728\. TiB"):  # refused, not swapped to death
        cr.Network.from_sizes([10**7, 10**7])


def test_one_class_trains_and_predicts_it():
    """The API accepts labels of a single class (the estimators will refuse them: see the docs)."""
    net = cr.Network.from_sizes([3, 4, 2], seed=0)
    cr.fit(net, X, np.zeros(10, int), epochs=30, lr=0.5)
    np.testing.assert_array_equal(net.predict(X), 0)


# ------------------------------------------------------------------------------- failed writes
def _net(seed: int = 0) -> cr.Network:
    return cr.Network.from_sizes([30, 20, 3], seed=seed)


def test_a_full_disk_during_save_changes_nothing(tmp_path, monkeypatch):
    path = cr.save(_net(0), tmp_path / "model.safetensors")
    before = path.read_bytes()
    real_write = os.write

    def disk_full(fd, data):  # part of the data reaches the disk, then there is no room left
        real_write(fd, bytes(memoryview(data)[: len(data) // 3]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError, match=r"No space left on device.*nothing was changed") as failed:
        cr.save(_net(1), path, overwrite=True)
    assert failed.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match="nothing was changed"):
        cr.save(_net(1), tmp_path / "new.safetensors")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no half-written file


def test_a_full_disk_during_training_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    class FillDisk(cr.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                monkeypatch.setattr(
                    os, "write", lambda fd, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, ""))
                )

    net = _net()
    with pytest.raises(OSError, match="nothing was changed"):
        cr.fit(net, RNG.normal(size=(20, 30)), RNG.integers(0, 3, 20), epochs=5, callbacks=[FillDisk()],
               checkpoint=tmp_path)  # fmt: skip
    monkeypatch.undo()
    last = checkpoints(tmp_path)[-1]
    assert read_checkpoint(last).state["position"]["epoch"] == 2
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_a_real_write_failure_changes_nothing(tmp_path):
    """The kernel refuses the write half-way (a file size limit: EFBIG), as a full disk would."""
    path = cr.save(_net(0), tmp_path / "model.safetensors")
    before = path.read_bytes()
    script = (
        "import resource, signal, sys, chainrule as cr\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "net = cr.Network.from_sizes([300, 200, 3], seed=1)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "try:\n"
        "    cr.save(net, sys.argv[1], overwrite=True)\n"
        "except OSError as e:\n"
        "    sys.exit(f'{e.errno} {e}')\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert result.stderr.startswith(f"{errno.EFBIG} ") and "nothing was changed" in result.stderr
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def _writable(directory: str) -> bool:
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not Path("/sys").is_dir() or _writable("/sys"), reason="needs an unwritable /sys")
def test_an_unwritable_directory():
    """/sys refuses new files even to root (a chmod'ed directory would not stop root)."""
    with pytest.raises(OSError, match=r"cannot write in /sys .*choose a directory you can write to"):
        cr.save(_net(), "/sys/model.safetensors")


def test_paths_that_are_directories(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        cr.save(_net(), tmp_path)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        cr.load(tmp_path)


@pytest.mark.parametrize(
    ("metadata", "error", "message"),
    [
        ({"note": object()}, TypeError, "JSON-serialisable"),
        ({"note": float("nan")}, TypeError, "no NaN or inf"),
        ({"classes": ["a", "b"]}, ValueError, "'classes' has 2 labels for 3 outputs"),
        ({"classes": ["a", "a", "b"]}, ValueError, "distinct strings or integers"),
        ({"classes": [True, False, 2]}, ValueError, "distinct strings or integers"),
        ({"feature_names": ["x"] * 29}, ValueError, "'feature_names' must be a list of 30 strings"),
        ({"standardize": {"mean": [0.0] * 30, "scale": [0.0] * 30}}, ValueError, "every scale > 0"),
        ({"standardize": {"mean": [0.0] * 30}}, ValueError, "'standardize' must be"),
        ({"task": "clustering"}, ValueError, "'task' must be one of"),
        ({"target": 3}, ValueError, "'target' must be the target column's name"),
        ([1, 2], TypeError, "must be a dict with string keys"),
    ],
)
def test_metadata_is_checked_before_anything_is_written(tmp_path, metadata, error, message):
    net = _net()
    net.metadata = metadata
    with pytest.raises(error, match=message):
        cr.save(net, tmp_path / "m.safetensors")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------- hostile files
def _file(metadata: dict[str, str], tensors: dict[str, np.ndarray], sign: bool = True) -> bytes:
    if sign:
        metadata = {**metadata, "checksum": checksum(metadata, tensors)}
    return safetensors_bytes(tensors, metadata=metadata)


def _model(net: cr.Network, version: str = "2", **changes: str) -> dict[str, str]:
    meta = {"format": "chainrule", "format_version": version, "network": json.dumps(net.config())}
    return {**meta, "metadata": json.dumps(net.metadata), **changes}


def _tensors(net: cr.Network) -> dict[str, np.ndarray]:
    return {name: p.copy() for name, p in zip(net.parameter_names, net.parameters(), strict=True)}


def _refused(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(data)
    with pytest.raises(cr.ModelFileError, match=message):
        cr.load(path)


def test_version_1_files_still_load(tmp_path):
    """Files written by chainrule before checksums (format version 1) load unchanged."""
    net = _net()
    net.metadata = {"classes": ["a", "b", "c"]}
    path = tmp_path / "v1.safetensors"
    path.write_bytes(_file(_model(net, "1"), _tensors(net), sign=False))
    loaded = cr.load(path)
    assert loaded.flat_params.tobytes() == net.flat_params.tobytes() and loaded.metadata == net.metadata
    # ... but a version 1 file is exactly what version 1 wrote: no checksum, no other entries
    _refused(tmp_path, _file(_model(net, "1"), _tensors(net)), r"is not as chainrule writes it")


@pytest.mark.parametrize("version", ["3", "0", "02", ""])
def test_unknown_versions_are_refused(tmp_path, version):
    net = _net()
    _refused(tmp_path, _file(_model(net, version), _tensors(net)), f"version '{version}'.*upgrade chainrule")


def test_corruption_and_foreign_metadata_are_refused(tmp_path):
    net = _net()
    data = bytearray(cr.save(net, tmp_path / "m.safetensors").read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    _refused(tmp_path, bytes(data), "checksum does not match")
    _refused(tmp_path, _file(_model(net, extra="1"), _tensors(net)), r"metadata has \['checksum', 'extra'")
    _refused(tmp_path, _file(_model(net, metadata='{"classes": 3}'), _tensors(net)), "did not write.*classes")
    _refused(tmp_path, _file(_model(net, metadata="[]"), _tensors(net)), "must be a dict")
    ints = {name: t.astype(np.int64) for name, t in _tensors(net).items()}
    _refused(tmp_path, _file(_model(net), ints), "tensor layers.0.W is int64")
    config = {
        **net.config(),
        "layers": [{**net.config()["layers"][0], "init": "he"}, *net.config()["layers"][1:]],
    }
    _refused(tmp_path, _file(_model(net, network=json.dumps(config)), _tensors(net)), "not in the form")


def _header_only(header: dict, payload: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("huge tensor", "tensors take"),
        ("huge header", "header claims"),
        ("huge layer", r"layer 0 is Dense with n_in=1000000, n_out=1000000"),
        ("many layers", r"20004 layers \(at most 10000\)"),
    ],
)
def test_enormous_declared_sizes_allocate_nothing(tmp_path, case, message):
    """A few hundred bytes that claim terabytes are refused before anything of that size exists."""
    net = _net()
    if case == "huge tensor":
        data = _header_only({"layers.0.W": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}})
    elif case == "huge header":
        data = struct.pack("<Q", 2**60) + b"{}"
    else:
        config = net.config()
        if case == "huge layer":
            config["layers"][0] |= {"n_in": 10**6, "n_out": 10**6}
        else:
            config["layers"] += [{"type": "ReLU"}] * 20_000
        data = _file(_model(net, network=json.dumps(config)), _tensors(net))
    tracemalloc.start()
    _refused(tmp_path, data, message)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50 * len(data) + 1_000_000, f"{peak} bytes allocated for a {len(data)}-byte file"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "broken JSON.*RecursionError"),
        ('{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, "a": 1}', "duplicate keys"),
        ('{"__metadata__": {"format": NaN}}', "NaN is not JSON"),
        (
            '{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
            "take 4 bytes but the file holds 8",
        ),
        ('{"x": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}', "dtype 'F16'"),
        ('{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', "invalid shape"),
    ],
)
def test_malformed_headers_are_refused(tmp_path, header, message):
    raw = header.encode()
    _refused(tmp_path, struct.pack("<Q", len(raw)) + raw + bytes(8), message)


def test_a_nested_network_description_is_refused(tmp_path):
    net = _net()
    bomb = "[" * 100_000 + "]" * 100_000
    _refused(tmp_path, _file(_model(net, network=bomb), _tensors(net)), "RecursionError")


@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 1e38), ("adam", 1e36), ("momentum", 1e30)])
def test_after_divergence_the_network_evaluates_to_a_finite_loss(optimizer, lr):
    """The weights left after a DivergenceError are ones the network can be evaluated with."""
    net = cr.Network.from_sizes([4, 16, 2], "relu", seed=0)
    y = (XR[:, 0] > 0).astype(int)
    with pytest.raises(cr.DivergenceError):
        cr.fit(net, XR, y, epochs=5, batch_size=16, optimizer=optimizer, lr=lr)
    assert np.isfinite(net.evaluate(XR, y)["loss"])


def test_a_loss_that_grows_far_above_its_start_warns():
    """SGD at η = 20 does not overflow, but the loss ends far above where it began: a warning
    says so (and none for a run that learns)."""
    import warnings

    y = (XR[:, 0] > 0).astype(int)
    net = cr.Network.from_sizes([4, 16, 2], "relu", seed=0)
    grew = r"the training loss per row grew from [\d.]+ \(the first batch\) to [\d.e+]+ \(epoch \d\): the"
    with pytest.warns(cr.training.TrainingWarning, match=grew):
        cr.fit(net, XR, y, epochs=5, batch_size=16, optimizer="sgd", lr=20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cr.training.TrainingWarning)
        cr.fit(cr.Network.from_sizes([4, 16, 2], "relu", seed=0), XR, y, epochs=5, optimizer="adam", lr=1e-3)
        summed = cr.Network.from_sizes([4, 16, 2], "relu", loss="cross_entropy", reduction="sum", seed=0)
        cr.fit(summed, XR, y, epochs=5, batch_size=8, optimizer="sgd", lr=1e-3)  # L a sum: no false alarm


# ------------------------------------------------------------------------------- masked arrays
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_masked_entry_is_refused_not_silently_used():
    """np.asarray drops a mask and keeps the hidden values: a masked entry is refused by name,
    in X, y and sample_weight, in training and prediction; an empty mask is no mask."""
    from chainrule.sklearn import MLPClassifier

    net = cr.Network.from_sizes([3, 4, 2], seed=0)
    Xm = np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool))
    assert np.array_equal(net.predict(Xm), net.predict(X))  # nothing masked: the data as it is
    Xm[2, 1] = np.ma.masked
    ym = np.ma.masked_array(Y, mask=np.arange(10) < 3)
    sm = np.ma.masked_array(np.ones(10), mask=np.arange(10) == 9)
    for call, name, hidden in [
        (lambda: net.predict(Xm), "X", 1),
        (lambda: cr.fit(net, Xm, Y, epochs=1), "X", 1),
        (lambda: cr.fit(net, X, ym, epochs=1), "y", 3),
        (lambda: cr.fit(net, X, Y, epochs=1, sample_weight=sm), "sample_weight", 1),
        (lambda: MLPClassifier(max_iter=1).fit(Xm, Y), "X", 1),
        (lambda: MLPClassifier(max_iter=1).fit(X, ym), "y", 3),
        (lambda: MLPClassifier(max_iter=1).fit(X, Y, sample_weight=sm), "sample_weight", 1),
    ]:
        with pytest.raises(ValueError, match=rf"^{name} is a masked array with {hidden} masked value"):
            call()
    fitted = MLPClassifier(hidden_layer_sizes=(3,), max_iter=5, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match=r"X\.filled\(value\)\) or drop their rows"):
        fitted.predict(Xm)


# ------------------------------------------------------------------------------- what a write replaces
def test_a_write_replaces_only_a_regular_file_and_keeps_its_mode(tmp_path):
    """--force renamed a regular file over a FIFO, a device or a symlink, and gave an overwritten
    file mode 0644; overwrite="no" overwrote. Now: a link is followed (the link stays), anything
    but a regular file is refused, a replaced file keeps its permission bits."""
    from chainrule.safefile import atomic_write

    os.mkfifo(tmp_path / "fifo")
    for target in (tmp_path / "fifo", Path("/dev/null")):
        with pytest.raises(FileExistsError, match="is not a regular file"):
            atomic_write(target, b"x", overwrite=True)
    assert (tmp_path / "fifo").is_fifo()
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    with pytest.raises(FileExistsError, match=r"real\.csv exists"):
        atomic_write(tmp_path / "link.csv", b"new")
    atomic_write(tmp_path / "link.csv", b"new", overwrite=True)
    assert (tmp_path / "link.csv").is_symlink() and (tmp_path / "real.csv").read_bytes() == b"new"
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "made.csv")
    atomic_write(tmp_path / "dangling.csv", b"made")
    assert (tmp_path / "dangling.csv").is_symlink() and (tmp_path / "made.csv").read_bytes() == b"made"
    (tmp_path / "private.csv").write_text("secret")
    os.chmod(tmp_path / "private.csv", 0o600)
    atomic_write(tmp_path / "private.csv", b"still secret", overwrite=True)
    assert (tmp_path / "private.csv").stat().st_mode & 0o777 == 0o600
    with pytest.raises(TypeError, match="overwrite must be True or False, got 'no'"):
        atomic_write(tmp_path / "private.csv", b"lost", overwrite="no")
    with pytest.raises(TypeError, match="overwrite must be True or False"):
        cr.save(cr.Network.from_sizes([2, 2]), tmp_path / "private.csv", overwrite="no")
    assert (tmp_path / "private.csv").read_bytes() == b"still secret"


def test_concurrent_writers_of_one_file_do_not_break_each_other(tmp_path):
    """Each writer removed the others' live temporary files as torn (3 of 18 failed with "No such
    file or directory"); a live one is locked now, and a torn one (no lock) is still removed."""
    script = (
        "import sys; from chainrule.safefile import atomic_write\n"
        "for k in range(40): atomic_write(sys.argv[1], sys.argv[2].encode() * 50000, overwrite=True)\n"
    )
    target = tmp_path / "race.csv"
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(target), str(k)], stderr=subprocess.PIPE)
        for k in range(4)
    ]
    errors = [p.communicate()[1].decode() for p in runs]
    assert [p.returncode for p in runs] == [0] * 4, errors
    assert target.read_bytes() in {str(k).encode() * 50000 for k in range(4)}
    (tmp_path / ".race.csv.0123456789ab.tmp").write_bytes(b"torn")
    from chainrule.safefile import atomic_write

    atomic_write(target, b"last", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.csv"]


def test_library_arguments_named_in_their_own_words(tmp_path):
    """seed=1.5 got NumPy's "SeedSequence expects int…"; a pathlib.Path as data "data must be a
    name"; a file as a run directory "no checkpoint in it"."""
    with pytest.raises(ValueError, match=r"seed must be None or an integer ≥ 0, got 1\.5"):
        cr.Network.from_sizes([2, 2], seed=1.5)
    (tmp_path / "ab.csv").write_text("a,b,y\n" + "".join(f"{k},{k % 3},{k % 2}\n" for k in range(40)))
    assert cr.Experiment(data=tmp_path / "ab.csv").data == str(tmp_path / "ab.csv")
    with pytest.raises(NotADirectoryError, match=r"ab\.csv is a file: give the run directory"):
        cr.load_checkpoint(tmp_path / "ab.csv")


def test_labels_that_are_one_number_are_said_to_be_one_class():
    """'07' and '7' became class 7 without a word (as pandas reads them): now with a warning."""
    from chainrule.preprocessing import encode_labels

    with pytest.warns(UserWarning, match=r"the labels '07' and '7' are the same number, 7: they are taken"):
        y, classes = encode_labels(np.array(["07", "7", "8", "8"]))
    assert classes == [7, 8] and y.tolist() == [0, 0, 1, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode_labels(np.array(["7", " 7", "8"]))  # spaces around a label are no other spelling
