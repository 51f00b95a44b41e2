"""The project around the code: lint clean, README commands present, CI calls the test command."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_command(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```sh\n(.+)\n```", (ROOT / "README.md").read_text())
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def test_readme_has_exactly_two_setup_commands():
    readme = (ROOT / "README.md").read_text()
    assert readme.count("```sh") == 2
    assert "pytest" in _readme_command("test-command")
    assert _readme_command("main-command").endswith(".venv/bin/chainrule train")


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in script and "eval" in script


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run([ruff, "format", "--check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_main_command_reaches_97_percent(tmp_path):
    """The README's main job, as a user runs it after the install: ``chainrule train``, no arguments."""
    assert _readme_command("main-command").endswith(".venv/bin/chainrule train")
    chainrule = Path(sys.executable).parent / "chainrule"
    result = subprocess.run([str(chainrule), "train"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()  # runs/<date-time>/
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"] == "digits" and metrics["test_accuracy"] >= 0.97
    assert re.search(rf"test accuracy +│ {metrics['test_accuracy']:.4f}", result.stdout)
    for name in ("model.safetensors", "history.json", "curves.png", "confusion.png"):
        assert (run / name).is_file()


def test_library_example_reaches_97_percent():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"test accuracy ([\d.]+)", result.stdout).group(1))
    assert accuracy >= 0.97


def test_the_license_is_declared_and_shipped():
    """pyproject's licence is MIT, and the wheel carries the LICENSE file (PEP 639 license-files)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 The chainrule developers" in text
