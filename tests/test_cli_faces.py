"""The command line's doors to the other faces: ``chainrule export`` (ONNX), ``chainrule
playground``, and checkpointed training (``--checkpoint-every``, ``--resume``), driven as real
subprocesses of the console script."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.checkpoint import checkpoints
from tests.test_cli import CHAINRULE, call, one_error_line, pets_csv, run

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, Path]:
    """A model trained by chainrule train on a CSV file with string classes (and its CSV)."""
    root = tmp_path_factory.mktemp("faces")
    pets = pets_csv(root / "pets.csv", n=150)
    args = ["--target", "species", "--layers", "6", "--epochs", "3", "--out", root / "run"]
    result = run("train", "--data", pets, *args, cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "run" / "model.safetensors", pets


# ------------------------------------------------------------------------------------ export
def test_export_runs_in_onnxruntime_as_predict_does(model, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path, pets = model
    out = tmp_path / "model.onnx"
    result = run("export", path, "--onnx", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout

    predicted = run("predict", path, pets, cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    table = list(csv.reader(predicted.stdout.splitlines()))
    header, cells = cr.data.read_csv(pets)
    X = cells[:, [header.index(n) for n in ("length", "weight", "height")]].astype(np.float64)  # raw rows
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    p, label = session.run(["output", "label"], {"input": X})
    assert table[0] == ["label", "p_bird", "p_cat", "p_dog"]
    np.testing.assert_allclose(np.array([r[1:] for r in table[1:]], dtype=float), p, atol=2e-6)
    assert [r[0] for r in table[1:]] == list(label)
    assert len(set(label)) > 1  # a model that tells the classes apart, not a constant

    out.write_bytes(b"keep me")
    status = run("export", path, "--onnx", out, cwd=tmp_path)
    assert "exists: pass --force" in one_error_line(status.returncode, status.stderr)
    assert out.read_bytes() == b"keep me"
    assert run("export", path, "--onnx", out, "--force", cwd=tmp_path).returncode == 0
    assert out.read_bytes()[:2] != b"ke" and out.stat().st_size > 500
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_export_bad_input(model, tmp_path, capsys, monkeypatch):
    path, _ = model
    status, _, err = call(capsys, "export", tmp_path / "none.safetensors", "--onnx", tmp_path / "m.onnx")
    assert "no model file at" in one_error_line(status, err)
    status, _, err = call(capsys, "export", path, "--onnx", tmp_path / "no" / "m.onnx")
    assert "does not exist: create it first" in one_error_line(status, err)
    status, _, err = call(capsys, "export", path)
    assert "Missing option '--onnx'" in one_error_line(status, err)
    monkeypatch.setitem(sys.modules, "onnx", None)  # the onnx extra not installed
    status, _, err = call(capsys, "export", path, "--onnx", tmp_path / "m.onnx")
    assert "pip install 'chainrule[onnx]'" in one_error_line(status, err)
    assert not (tmp_path / "m.onnx").exists()


# -------------------------------------------------------------------------------- playground
def _start_playground(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [str(CHAINRULE), "playground", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    line = process.stdout.readline()  # printed once the port is bound
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert found, (line, process.stderr.read() if process.poll() is not None else "")
    return process, found.group(0)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_playground_serves_on_loopback_and_stops_on_a_signal(tmp_path, signum):
    process, url = _start_playground(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:  # the socket listens already; the app answers once uvicorn has started
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        assert response.status == 200 and "<html" in page.lower() and "chainrule" in page.lower()
        process.send_signal(signum)  # a graceful shutdown; SIGTERM then ends it by that signal
        assert process.wait(timeout=20) == (0 if signum == signal.SIGINT else -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Traceback" not in process.stderr.read()


def test_playground_bad_input(tmp_path, capsys, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, _, err = call(capsys, "playground", "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in one_error_line(status, err)
    assert "choose another --port" in err
    status, _, err = call(capsys, "playground", "--port", "70000")
    assert "Invalid value for '--port': Input should be less than or equal to 65535" in one_error_line(
        status, err
    )
    assert status == 2
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # the playground extra not installed
    for name in [m for m in sys.modules if m.startswith("chainrule.playground")]:
        monkeypatch.delitem(sys.modules, name)
    status, _, err = call(capsys, "playground")
    assert "pip install 'chainrule[playground]'" in one_error_line(status, err)


# --------------------------------------------------------------------- checkpoints and resume
TRAIN = ["train", "--data", "spiral", "--samples", "2000", "--layers", "16", "--batch-size", "8"]
TRAIN += ["--epochs", "40", "--checkpoint-every", "1"]


def _step(run_dir: Path) -> int:
    """Steps taken at the newest checkpoint of a run (-1: none yet)."""
    found = checkpoints(run_dir)
    return int(found[-1].stem.split("-")[1]) if found else -1


def _until_past(process: subprocess.Popen, run_dir: Path, step: int) -> None:
    """Wait until the run saved a checkpoint beyond ``step``, while it still runs."""
    deadline = time.monotonic() + 60
    while _step(run_dir) <= step:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.005)


def _weights(path: Path) -> list[bytes]:
    return [p.tobytes() for p in cr.load(path).parameters()]


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_weights(tmp_path):
    env = {**os.environ, **ONE_THREAD, "COLUMNS": "160"}
    popen = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.PIPE,
        "text": True,
        "cwd": tmp_path,
        "env": env,
    }
    a = tmp_path / "a"

    # SIGTERM after the first epoch: saved, one line that says how to resume, exit 128 + 15
    process = subprocess.Popen([str(CHAINRULE), *TRAIN, "--out", str(a)], **popen)
    _until_past(process, a, 0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    line = one_error_line(143, process.stderr.read())
    assert f"SIGTERM: training stopped, its state saved in {a}/checkpoint-" in line
    assert line.endswith(f"continue it with: chainrule train --resume {a}")
    assert not (a / "model.safetensors").exists()

    # resumed, then killed with kill -9 a few epochs later: no chance to save anything
    step = _step(a)
    process = subprocess.Popen([str(CHAINRULE), "train", "--resume", str(a)], **popen)
    _until_past(process, a, step + 1000)
    process.kill()
    process.wait()
    assert not (a / "model.safetensors").exists()  # killed mid-run
    assert _step(a) < 40 * 169

    # resumed again, it finishes; its weights are those of a run never interrupted, to the bit
    resumed = subprocess.run([str(CHAINRULE), "train", "--resume", str(a)], **popen, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run([str(CHAINRULE), *TRAIN, "--out", str(tmp_path / "b")], **popen, timeout=300)
    assert whole.returncode == 0, whole.stderr
    assert _weights(a / "model.safetensors") == _weights(tmp_path / "b" / "model.safetensors")
    assert cr.load(a / "model.safetensors").metadata == cr.load(tmp_path / "b" / "model.safetensors").metadata
    assert (a / "history.json").read_text() == (tmp_path / "b" / "history.json").read_text()


def test_checkpoint_and_resume_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = call(capsys, "train", "--data", "xor", "--checkpoint-every", "0")
    message = "Invalid value for '--checkpoint-every': expected a number of epochs ≥ 1 or a time such as 90s"
    assert message in one_error_line(status, err) and status == 2
    status, _, err = call(capsys, "train", "--data", "xor", "--checkpoint-every", "soon")
    assert "got 'soon'" in one_error_line(status, err) and status == 2
    (tmp_path / "plain").mkdir()
    status, _, err = call(capsys, "train", "--resume", "plain")
    assert "plain is not a checkpointed run (it has no run.json)" in one_error_line(status, err)

    args = ["train", "--data", "xor", "--layers", "4", "--epochs", "2", "--checkpoint-every", "1m"]
    status, _, _ = call(capsys, *args, "--out", "run")
    assert status == 0 and len(checkpoints(tmp_path / "run")) == 2  # the start and the end
    status, _, err = call(capsys, "train", "--resume", "run", "--epochs", "5", "--lr", "0.1")
    assert "leave out --lr, --epochs" in one_error_line(status, err)
    status, _, err = call(capsys, *args, "--out", "run", "--force")
    assert "holds checkpoints of an earlier run: continue it with --resume run" in (
        one_error_line(status, err)
    )
    before = _weights(tmp_path / "run" / "model.safetensors")
    status, _, _ = call(capsys, "train", "--resume", "run")  # a finished run: nothing more to do
    assert status == 0 and _weights(tmp_path / "run" / "model.safetensors") == before
    stored = json.loads((tmp_path / "run" / "run.json").read_text())
    experiment = stored["experiment"]
    for damaged in (
        "{}",
        "[",
        json.dumps({**stored, "experiment": {**experiment, "epochs": "many"}}),
        json.dumps({**stored, "experiment": {**experiment, "hidden": [0]}}),
        json.dumps({**stored, "checkpoint_every": None}),
    ):
        (tmp_path / "run" / "run.json").write_text(damaged)
        status, _, err = call(capsys, "train", "--resume", "run")
        assert "run.json is not as chainrule wrote it" in one_error_line(status, err)


# ------------------------------------------------------- bad input (docs/reliability.md, C2–C7)
def test_bad_csv_files_are_one_line_naming_row_and_column(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = {
        "word.csv": (
            "a,b,y\n1,2,0\n2,red,1\n3,4,1\n",
            "word.csv, line 3: column 'b' is not a number ('red')",
        ),
        "short.csv": (
            "a,b,y\n1,2,0\n2,1\n3,4,1\n",
            "short.csv, line 3: 2 values but the header has 3 columns",
        ),
        "long.csv": ("a,b,y\n1,2,0\n2,3,1,5\n", "long.csv, line 3: 4 values but the header has 3 columns"),
        "header.csv": ("a,b,y\n", "header.csv has no data rows: give a header row and at least one row"),
        "empty.csv": ("", "empty.csv has no data rows"),
    }
    for name, (text, message) in files.items():
        (tmp_path / name).write_text(text)
        status, out, err = call(capsys, "train", "--data", name, "--out", "run")
        assert message in one_error_line(status, err), name
        assert out == "" and not (tmp_path / "run").exists()  # refused before anything is written
    status, _, err = call(capsys, "train", "--data", "word.csv", "--target", "colour")
    assert "--target 'colour' is not a column of word.csv (columns: a, b, y)" in one_error_line(status, err)


def test_outputs_are_checked_before_training_and_never_overwritten(model, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = call(capsys, "train", "--data", "xor", "--out", "/sys/chainrule-run")
    assert "cannot create the run directory /sys/chainrule-run" in one_error_line(status, err)
    assert "training" not in out  # before training, not after it
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_text("keep me")
    status, _, err = call(capsys, "train", "--data", "xor", "--out", "run")
    assert "exists and is not empty: pass --force" in one_error_line(status, err)
    path, pets = model
    (tmp_path / "p.csv").write_text("keep me too")
    status, _, err = call(capsys, "predict", path, pets, "--output", "p.csv")
    assert "p.csv exists: pass --force" in one_error_line(status, err)
    assert (tmp_path / "run" / "model.safetensors").read_text() == "keep me"
    assert (tmp_path / "p.csv").read_text() == "keep me too"


def test_damaged_and_hostile_model_files_given_to_predict(model, tmp_path, capsys):
    path, pets = model
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[-5] ^= 0x10  # one bit of a weight
    hostile = (2**60).to_bytes(8, "little") + b"{}"  # a header that claims an exabyte
    cases = {
        "truncated": (good[: len(good) // 2], "it is truncated or corrupted"),
        "flipped": (bytes(flipped), "checksum does not match"),
        "hostile": (hostile, "is not a readable chainrule file"),
        "pickle": (
            b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94.",
            "its header claims",
        ),
    }
    for name, (data, message) in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(data)
        status, out, err = call(capsys, "predict", bad, pets)
        line = one_error_line(status, err)
        assert message in line and "give a model.safetensors written by chainrule train" in line, name
        assert out == ""


def test_the_installed_command_imports_nothing_from_a_checkout(tmp_path):
    """The benchmarks belong to a source checkout (python -m benchmarks there), not to the installed
    command: there is no chainrule bench, and no module of the package puts a folder on sys.path."""
    result = run("bench", "--smoke", cwd=tmp_path)
    assert "No such command 'bench'" in one_error_line(result.returncode, result.stderr)
    package = Path(cr.__file__).parent
    assert [path.name for path in package.rglob("*.py") if "sys.path" in path.read_text()] == []
