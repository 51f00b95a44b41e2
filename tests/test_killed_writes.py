"""``kill -9`` during every kind of write the tool makes (a model file, a run's history, metrics and
plots, predictions, an ONNX export, checkpoints): whatever moment the kill lands on, every file
under its real name is whole, the old version or the new one, never a mix
(tests/fault_writer.py writes them over and over)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chainrule.checkpoint import read_checkpoint

WRITER = Path(__file__).with_name("fault_writer.py")
ROOT = Path(__file__).resolve().parent.parent


def _killed(kind: str, folder: Path, delay: float) -> None:
    """Start the writer of ``kind``, let it write for ``delay`` seconds after it is ready, kill -9."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(WRITER), kind, str(folder)], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (folder / "ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.005)
    time.sleep(delay)
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL as POSIX sends it")
@pytest.mark.parametrize("kind", ["model", "history", "predictions", "onnx", "checkpoint"])
def test_a_kill_during_any_write_leaves_every_file_whole(tmp_path, kind):
    if kind == "onnx":
        pytest.importorskip("onnx")
    for k, delay in enumerate(np.random.default_rng().uniform(0.05, 0.4, 2)):
        folder = tmp_path / f"kill{k}"
        folder.mkdir()
        _killed(kind, folder, float(delay))
        target = folder / "target"
        real = [p for p in target.iterdir() if not p.name.endswith(".tmp")]
        assert real, f"{kind}: nothing was written before the kill"
        if kind == "checkpoint":
            for path in real:  # every checkpoint under its name reads whole, its checksum right
                read_checkpoint(path)
            continue
        for path in real:
            refs = [
                folder / f"ref{i}" / path.name if kind == "history" else folder / f"ref{i}{path.suffix}"
                for i in range(2)
            ]
            versions = {ref.read_bytes() for ref in refs}
            assert path.read_bytes() in versions, f"{kind}: {path.name} is torn (killed after {delay:.3f} s)"
