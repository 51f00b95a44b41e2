"""Checkpoints and resume: an interrupted run, resumed, ends bit-identical to one never interrupted.

In-process, a callback crashes the run at a chosen step (after the checkpoints it has written so
far) or sends SIGINT; in subprocesses, ``kill -9`` at a random moment, SIGKILL in the middle of a
checkpoint write, and SIGTERM. Every resumed run must end with the same bytes of weights, the same
optimiser state and the same history as the reference.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.checkpoint import checkpoints, read_checkpoint


class Crash(cr.Callback):
    """Raise after ``at`` batches (a crash the checkpoints must survive); ``at=None`` never."""

    def __init__(self, at: int | None = None, signum: int | None = None) -> None:
        self.at, self.signum, self.batches = at, signum, 0

    def on_batch_end(self, batch, logs):
        self.batches += 1
        if self.batches == self.at:
            if self.signum is not None:
                signal.raise_signal(self.signum)
            else:
                raise RuntimeError("simulated crash")


def _data(n: int = 45, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


X, Y = _data()
XV, YV = _data(20, seed=1)

CONFIGS = {
    "adam-dropout-early-stopping": dict(
        sizes=[5, 12, 3], dropout=0.3, batch_size=8, optimizer="adam", lr=0.05, epochs=12,
        validation_data=(XV, YV), early_stopping=2,
    ),
    "momentum-step-decay-clip": dict(
        sizes=[5, 8, 8, 3], batch_size=10, optimizer=lambda: cr.SGD(cr.StepDecay(0.2, 2, 0.5), momentum=0.9),
        epochs=5, clip_norm=0.5,
    ),
    "nesterov-weight-decay-no-shuffle": dict(
        sizes=[5, 8, 3], batch_size=16, shuffle=False, epochs=4,
        optimizer=lambda: cr.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    ),
    "full-batch-sgd-float64": dict(sizes=[5, 6, 3], batch_size=None, lr=0.5, epochs=6, dtype="float64"),
}  # fmt: skip


def _run(config: dict, **fit_kwargs) -> tuple[cr.Network, cr.History, cr.Optimizer]:
    config = dict(config)
    net = cr.Network.from_sizes(
        config.pop("sizes"), "tanh", dropout=config.pop("dropout", 0.0),
        dtype=config.pop("dtype", "float32"), seed=11,
    )  # fmt: skip
    opt = config.pop("optimizer", "sgd")
    opt = opt() if callable(opt) else cr.optimizers.optimizer(opt, config.pop("lr", None))
    config.pop("lr", None)
    history = cr.fit(net, X, Y, optimizer=opt, **config, **fit_kwargs)
    return net, history, opt


def _same(a: tuple, b: tuple) -> None:
    (net_a, hist_a, opt_a), (net_b, hist_b, opt_b) = a, b
    assert net_a.flat_params.tobytes() == net_b.flat_params.tobytes()
    assert net_a.rng.bit_generator.state == net_b.rng.bit_generator.state
    for (name, x), y in zip(opt_a.state().items(), opt_b.state().values(), strict=True):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes(), name
    assert hist_a.to_dict() == hist_b.to_dict()


@pytest.mark.parametrize("name", CONFIGS)
def test_crash_then_resume_is_bit_identical(tmp_path, name):
    """Crash after 1 step, mid-epoch, at an epoch's last batch and late; checkpoints after every
    batch (a 1 µs interval) or every epoch; resume with the same arguments."""
    config = CONFIGS[name]
    reference = _run(config, callbacks=[Crash()])
    per_epoch = -(-len(X) // (config["batch_size"] or len(X)))
    steps = reference[1].epochs * per_epoch
    assert steps >= 4
    for every in (timedelta(microseconds=1), 1):  # after every batch; every epoch
        for at in sorted({1, steps // 2, per_epoch, steps - 1}):
            run_dir = tmp_path / f"{every}-{at}"
            with pytest.raises(RuntimeError, match="simulated crash"):
                _run(config, callbacks=[Crash(at)], checkpoint=run_dir, checkpoint_every=every)
            # the crash came in batch `at`: the newest checkpoint is after the batch before
            # (with a 1 µs interval) or at the start of the epoch (every epoch)
            newest = read_checkpoint(checkpoints(run_dir)[-1]).state["position"]["step"]
            assert newest == ((at - 1) // per_epoch * per_epoch if every == 1 else at - 1)
            resumed = _run(
                config, callbacks=[Crash()], checkpoint=run_dir, checkpoint_every=every, resume=True
            )
            _same(resumed, reference)
            assert len(checkpoints(run_dir)) <= 2  # the newest two are kept


def test_more_epochs_continue_a_finished_run(tmp_path):
    config = {**CONFIGS["adam-dropout-early-stopping"], "early_stopping": None, "epochs": 6}
    reference = _run(config)
    _run({**config, "epochs": 3}, checkpoint=tmp_path)
    _same(_run(config, checkpoint=tmp_path, resume=True), reference)
    # resuming a finished run does nothing more and returns its history
    again = _run(config, checkpoint=tmp_path, resume=True)
    _same(again, reference)
    with pytest.raises(ValueError, match="has done 6 epochs: pass epochs ≥ 6"):
        _run({**config, "epochs": 4}, checkpoint=tmp_path, resume=True)


def test_sigint_saves_and_stops_with_how_to_resume(tmp_path):
    config = CONFIGS["adam-dropout-early-stopping"]
    reference = _run(config, callbacks=[Crash()])
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(cr.TrainingInterrupted) as stopped:
        _run(config, callbacks=[Crash(7, signal.SIGINT)], checkpoint=tmp_path)
    message = str(stopped.value)
    assert "SIGINT" in message and "in epoch 2 after batch 1 of 6 (step 7)" in message
    assert f"fit(..., checkpoint={str(tmp_path)!r}, resume=True)" in message
    assert stopped.value.checkpoint == checkpoints(tmp_path)[-1]
    assert read_checkpoint(stopped.value.checkpoint).state["position"]["step"] == 7
    assert isinstance(stopped.value, KeyboardInterrupt)  # `except Exception` does not swallow it
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    _same(_run(config, callbacks=[Crash()], checkpoint=tmp_path, resume=True), reference)


def test_second_signal_stops_at_once(tmp_path):
    class Twice(cr.Callback):
        def on_batch_end(self, batch, logs):
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="interrupted twice"):
        _run(CONFIGS["full-batch-sgd-float64"], callbacks=[Twice()], checkpoint=tmp_path)
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-000000000.safetensors"]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_damaged_newest_checkpoint_is_never_loaded(tmp_path):
    """Torn (truncated) or corrupted: set aside as *.damaged with a warning, the previous one is
    used, and the run still ends bit-identical. A temporary file left by a kill is ignored."""
    config = CONFIGS["momentum-step-decay-clip"]
    reference = _run(config, callbacks=[Crash()])
    for damage in ("truncate", "flip"):
        run_dir = tmp_path / damage
        with pytest.raises(RuntimeError):
            _run(config, callbacks=[Crash(12)], checkpoint=run_dir)
        older, newest = checkpoints(run_dir)
        data = bytearray(newest.read_bytes())
        if damage == "truncate":
            del data[len(data) // 2 :]
        else:
            data[-3] ^= 0x10  # one bit of one weight
        newest.write_bytes(bytes(data))
        stale = run_dir / f".{newest.name}.abc123.tmp"
        stale.write_bytes(data[:100])  # what a kill -9 during a save leaves
        with pytest.warns(RuntimeWarning, match=f"{newest.name}.*Resuming from {older.name}"):
            resumed = _run(config, callbacks=[Crash()], checkpoint=run_dir, resume=True)
        _same(resumed, reference)
        assert (run_dir / f"{newest.name}.damaged").read_bytes() == data  # kept, not loaded
        assert not stale.exists()


def test_a_run_directory_is_never_overwritten_without_asking(tmp_path):
    config = CONFIGS["full-batch-sgd-float64"]
    _run(config, checkpoint=tmp_path)
    saved = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(FileExistsError, match=r"holds checkpoints of an earlier run.*resume=True"):
        _run(config, checkpoint=tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == saved


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_size": 2}, "other batch_size"),
        ({"lr": 0.1}, "other optimizer"),
        ({"clip_norm": 1.0}, "other clip_norm"),
        ({"early_stopping": 3}, "other callbacks"),
        ({"sizes": [5, 7, 3]}, "checkpoint of another network"),
        ({"dtype": "float32"}, "checkpoint of another network"),
    ],
)
def test_resume_refuses_other_settings(tmp_path, change, message):
    config = CONFIGS["full-batch-sgd-float64"]
    _run(config, checkpoint=tmp_path)
    with pytest.raises((ValueError, cr.CheckpointError), match=message):
        _run({**config, **change}, checkpoint=tmp_path, resume=True)


def test_resume_refuses_other_data(tmp_path):
    net = cr.Network.from_sizes([5, 3], seed=0)
    cr.fit(net, X, Y, epochs=1, checkpoint=tmp_path)
    Y2 = Y.copy()
    Y2[0] = (Y2[0] + 1) % 3
    with pytest.raises(ValueError, match="other data"):
        cr.fit(net, X, Y2, epochs=2, checkpoint=tmp_path, resume=True)


def test_bad_checkpoint_arguments(tmp_path):
    net = cr.Network.from_sizes([5, 3], seed=0)
    with pytest.raises(FileNotFoundError, match="no checkpoint in"):
        cr.fit(net, X, Y, checkpoint=tmp_path / "empty", resume=True)
    with pytest.raises(ValueError, match="need checkpoint=RUN_DIR"):
        cr.fit(net, X, Y, resume=True)
    with pytest.raises(ValueError, match="need checkpoint=RUN_DIR"):
        cr.fit(net, X, Y, checkpoint_every=2)
    for every in (0, -1, 1.5, True, "soon", "0s", "-5m"):
        with pytest.raises(ValueError, match="checkpoint_every must be a number of epochs"):
            cr.fit(net, X, Y, checkpoint=tmp_path / "x", checkpoint_every=every)
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    with pytest.raises(NotADirectoryError, match="is a file: give a directory"):
        cr.fit(net, X, Y, checkpoint=a_file)
    with pytest.raises(NotADirectoryError, match="cannot create the run directory"):
        cr.fit(net, X, Y, checkpoint=a_file / "run")
    assert a_file.read_text() == "mine"
    assert not (tmp_path / "x").exists()  # nothing is created before the arguments are checked


def test_checkpoint_files_are_safe_and_self_describing(tmp_path):
    from safetensors import safe_open

    net, _, _ = _run(CONFIGS["adam-dropout-early-stopping"], checkpoint=tmp_path)
    path = checkpoints(tmp_path)[-1]
    with safe_open(path, framework="np") as f:  # plain safetensors, readable by any tool
        meta, names = f.metadata(), set(f.keys())
    assert meta["format"] == "chainrule-checkpoint" and meta["checksum"].startswith("sha256:")
    expected = {"params/layers.0.W", "optimizer/m_sum", "optimizer/v_sum", "order", "callbacks/0/best_params"}
    assert expected <= names
    state = json.loads(meta["state"])
    assert state["rng"]["bit_generator"] == "PCG64"
    assert state["history"]["epochs"] == len(state["history"]["metrics"]["loss"])
    assert json.loads(meta["network"]) == net.config()
    loaded = read_checkpoint(path).network  # the network as it was trained (before best-weight restore)
    assert loaded.config() == net.config()
    with pytest.raises(cr.ModelFileError, match="it is a training checkpoint"):
        cr.load(path)


# ------------------------------------------------------------------------------- subprocesses
TRAIN = """
import os, signal, sys
import numpy as np
import chainrule as cr

mode, run_dir, out = sys.argv[1:4]
rng = np.random.default_rng(0)
X = rng.normal(size=(4000, 20))
y = X[:, :5].argmax(axis=1)
net = cr.Network.from_sizes([20, 48, 48, 5], "relu", dropout=0.2, seed=3)
kwargs = dict(epochs=8, batch_size=8, optimizer="adam", lr=1e-3,
              validation_data=(X[:300], y[:300]), early_stopping=5)
if mode != "reference":
    kwargs.update(checkpoint=run_dir, checkpoint_every="0.05s", resume=mode == "resume")
if mode == "kill-during-save":  # SIGKILL half-way through writing the third checkpoint
    real_write, calls = os.write, []

    def write(fd, data):
        calls.append(fd)
        if len(calls) == 3:
            real_write(fd, bytes(data[: len(data) // 2]))
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(fd, data)

    os.write = write
try:
    cr.fit(net, X, y, **kwargs)
except cr.TrainingInterrupted as e:
    print(e, file=sys.stderr)
    sys.exit(3)
with open(out, "wb") as f:
    f.write(net.flat_params.tobytes())
"""


def _steps(run_dir: Path) -> list[int]:
    return [int(p.name[11:20]) for p in checkpoints(run_dir)]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and SIGTERM as POSIX sends them")
def test_killed_runs_resume_bit_identical(tmp_path):
    """``kill -9`` at a random moment mid-training, SIGKILL in the middle of a checkpoint write,
    and SIGTERM: each resumed run ends with the same bytes as the uninterrupted run."""
    script = tmp_path / "train.py"
    script.write_text(TRAIN)

    def start(mode: str, name: str) -> subprocess.Popen:
        args = [sys.executable, str(script), mode, str(tmp_path / name), str(tmp_path / f"{name}.out")]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for_step(run_dir: Path, proc: subprocess.Popen, step: int) -> None:
        deadline = time.monotonic() + 120
        while not any(s >= step for s in _steps(run_dir)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.002)

    reference = start("reference", "ref")
    rng = np.random.default_rng()
    target, delay = int(rng.integers(1, 500)), float(rng.uniform(0, 0.05))
    killed = start("train", "kill9")
    wait_for_step(tmp_path / "kill9", killed, target)
    time.sleep(delay)
    assert killed.poll() is None, "the run ended before it could be killed"
    killed.kill()  # SIGKILL: no handler runs, no checkpoint is written now
    killed.wait()

    torn = start("kill-during-save", "torn")
    torn.wait()
    assert torn.returncode == -signal.SIGKILL
    assert list((tmp_path / "torn").glob(".checkpoint-*.tmp")), "the kill left a torn temporary file"

    term = start("train", "term")
    wait_for_step(tmp_path / "term", term, 50)
    term.send_signal(signal.SIGTERM)
    _, err = term.communicate()
    assert term.returncode == 3, err
    assert "training stopped by SIGTERM" in err and "resume=True" in err

    assert reference.wait() == 0, reference.communicate()
    expected = (tmp_path / "ref.out").read_bytes()
    for name in ("kill9", "torn", "term"):
        resumed = start("resume", name)
        _, err = resumed.communicate()
        assert resumed.returncode == 0, err
        assert (tmp_path / f"{name}.out").read_bytes() == expected, f"{name}: killed at step ≥ {target}"
        assert not list((tmp_path / name).glob(".checkpoint-*.tmp"))
