"""A full disk, as a small tmpfs (root only): every file the command line writes is written whole
or not at all, the file that was there stays as it was, and the one line names the file."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli import call, one_error_line


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("a tmpfs needs root (mount -t tmpfs)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> None:
    """Fill ``disk`` up to its last block."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, b"\0" * 4096):
                pass
    finally:
        os.close(fd)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="a tmpfs needs root")
def test_a_full_disk_loses_nothing_and_names_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = call(capsys, "train", "--data", "xor", "--layers", "4", "--epochs", "2", "--out", "run")
    assert status == 0, err
    model = tmp_path / "run" / "model.safetensors"
    with _tmpfs(tmp_path / "disk", "128k") as disk:
        old = b"label,p_0,p_1\n" + b"the user's predictions\n" * 100
        (disk / "p.csv").write_bytes(old)
        rows = tmp_path / "rows.npy"
        import numpy as np

        np.save(rows, np.random.default_rng(0).normal(size=(3000, 2)))
        _fill(disk)
        status, _, err = call(capsys, "predict", model, rows, "--output", disk / "p.csv", "--force")
        line = one_error_line(status, err)
        assert f"could not write {disk / 'p.csv'} (No space left on device); nothing was changed" in line
        assert (disk / "p.csv").read_bytes() == old
        assert not [p for p in disk.iterdir() if p.name.endswith(".tmp")]

        status, _, err = call(
            capsys, "train", "--data", "xor", "--layers", "4", "--epochs", "2", "--out", disk / "r"
        )
        line = one_error_line(status, err)
        assert "No space left on device" in line and "nothing was changed" in line
        written = list((disk / "r").iterdir()) if (disk / "r").exists() else []
        assert not [p for p in written if p.name.endswith(".tmp")]
        for p in written:  # what was written is whole
            if p.suffix == ".json":
                import json

                json.loads(p.read_text())
