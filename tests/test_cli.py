"""The command line, driven as a user drives it: real subprocesses of the ``chainrule`` console
script for the main journeys (train → evaluate → predict on a CSV file, explain, the main
bad-input cases), and `chainrule.cli.main` in-process for the rest of the bad-input list."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, data

CHAINRULE = Path(sys.executable).parent / "chainrule"
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def run(*args: str, cwd: Path, tty: bool = False) -> subprocess.CompletedProcess:
    """``chainrule ARGS`` in a subprocess; ``tty`` makes Rich draw as on a terminal."""
    env = {**os.environ, "COLUMNS": "160"}
    if tty:
        env.update(TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", TERM="xterm")
    assert CHAINRULE.exists(), "install the package (pip install -e '.[test]') to get the chainrule script"
    return subprocess.run(
        [str(CHAINRULE), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def call(capsys, *args: str) -> tuple[int, str, str]:
    """`cli.main` in-process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def one_error_line(status: int, err: str) -> str:
    assert status != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def pets_csv(path: Path, n: int = 240, seed: int = 0) -> Path:
    """Three classes named by strings, features on very different scales, target not last."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 3)) * 0.6 + np.array([[0, 0, 0], [2, 0, 1], [0, 2, -1]])[y]
    X[:, 1] = X[:, 1] * 100 + 500
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["length", "weight", "species", "height"])
        for row, label in zip(X, np.array(["cat", "dog", "bird"])[y], strict=True):
            writer.writerow([f"{row[0]:.5f}", f"{row[1]:.5f}", label, f"{row[2]:.5f}"])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real training run on a CSV file, as a user types it (its output as on a terminal)."""
    root = tmp_path_factory.mktemp("cli")
    pets = pets_csv(root / "pets.csv")
    result = run(
        "train",
        "--data",
        pets,
        "--target",
        "species",
        "--layers",
        "12,8",
        "--activation",
        "tanh",
        "--epochs",
        "40",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--out",
        root / "run",
        cwd=root,
        tty=True,
    )
    assert result.returncode == 0, result.stderr
    return root, pets, root / "run", ANSI.sub("", result.stdout)


def library_rows(network: cr.Network, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every row of a CSV file as the library sees it: standardised features, class indices."""
    X, raw, names, _ = data.load_csv(path, "species")
    X = X[:, [names.index(n) for n in network.metadata["feature_names"]]]
    return data.standardize(X, network.metadata), data.labels_to_indices(raw, network.metadata["classes"])


# ----------------------------------------------------------------------------------- training
def test_train_shows_progress_and_writes_the_run(trained):
    _, pets, run_dir, out = trained
    assert re.search(r"epoch \d+/40 .*batches  loss \d\.\d{4}  [\d,]+ samples/s", out)  # the bar
    epoch_lines = re.findall(
        r"^epoch (\d+)/40  loss \S+  accuracy \S+  val_loss \S+  val_accuracy \S+", out, re.M
    )
    assert [int(e) for e in epoch_lines] == list(range(1, 41))
    for row in ("train accuracy", "val accuracy", "test accuracy", "test loss", "wall time", "parameters"):
        assert row in out
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "confusion.png",
        "curves.png",
        "history.json",
        "metrics.json",
        "model.safetensors",
    ]
    for png in ("confusion.png", "curves.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (
            run_dir / png
        ).stat().st_size > 10_000
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epochs"] == 40 and set(history["metrics"]) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
    }
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.9 and metrics["parameters"] == 3 * 12 + 12 + 12 * 8 + 8 + 8 * 3 + 3

    network = cr.load(run_dir / "model.safetensors")
    meta = network.metadata
    assert meta["classes"] == ["bird", "cat", "dog"] and meta["target"] == "species"
    assert meta["feature_names"] == ["length", "weight", "height"] and meta["task"] == "classification"
    ds = data.load(str(pets), target="species", seed=0)
    np.testing.assert_allclose(meta["standardize"]["mean"], ds.X_train.mean(axis=0))  # training rows only
    X_test = data.standardize(ds.X_test, meta)
    assert network.evaluate(X_test, ds.y_test)["accuracy"] == metrics["test_accuracy"]
    assert f"{metrics['test_accuracy']:.4f}" in out


def test_evaluate_and_predict_round_trip(trained, tmp_path):
    root, pets, run_dir, _ = trained
    model = run_dir / "model.safetensors"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    result = run("evaluate", model, cwd=root)  # a file the model names is read only when the user does
    line = one_error_line(result.returncode, result.stderr)
    assert f"pass --data {pets}" in line
    result = run("evaluate", model, "--data", pets, cwd=root)  # the training file: its test rows
    assert result.returncode == 0, result.stderr
    assert f"accuracy {metrics['test_accuracy']:.4f}" in result.stdout and "test rows of" in result.stdout
    assert "precision" in result.stdout and "recall" in result.stdout and "confusion" in result.stdout

    network = cr.load(model)
    X, y = library_rows(network, pets)
    other = tmp_path / "all.csv"
    other.write_bytes(pets.read_bytes())
    result = run("evaluate", model, "--data", other, cwd=root)  # another CSV file: every row
    assert f"all {len(y)} rows of {other}" in result.stdout
    assert result.returncode == 0, result.stderr
    assert f"accuracy {network.evaluate(X, y)['accuracy']:.4f}" in result.stdout
    predicted = network.predict(X)
    for k, name in enumerate(network.metadata["classes"]):
        tp, p, t = np.sum((predicted == k) & (y == k)), np.sum(predicted == k), np.sum(y == k)
        assert re.search(rf"{name}\s+\S\s+{tp / p:.4f}\s+\S\s+{tp / t:.4f}\s+\S\s+{t}", result.stdout)

    # new rows: the columns in another order, without the target, plus a column the model never saw
    cells = data.read_csv(pets)[1][:20]
    new = tmp_path / "new.csv"
    with open(new, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["height", "note", "length", "weight"])
        for row in cells:
            writer.writerow([row[3], "x", row[0], row[1]])
    result = run("predict", model, new, cwd=root)
    assert result.returncode == 0, result.stderr
    table = list(csv.reader(result.stdout.splitlines()))
    assert table[0] == ["label", "p_bird", "p_cat", "p_dog"]
    proba = network.predict_proba(X[:20])
    assert [r[0] for r in table[1:]] == [network.metadata["classes"][k] for k in proba.argmax(axis=1)]
    np.testing.assert_allclose(np.array([r[1:] for r in table[1:]], dtype=float), proba, atol=2e-6)

    np.save(tmp_path / "new.npy", data.load_csv(pets, "species")[0][:20])  # in the training order
    out = tmp_path / "predictions.csv"
    result = run("predict", model, tmp_path / "new.npy", "--output", out, cwd=root)
    assert result.returncode == 0, result.stderr
    assert "wrote 20 predictions" in result.stdout
    from_npy = list(csv.reader(out.read_text().splitlines()))
    assert [r[0] for r in from_npy] == [r[0] for r in table]
    np.testing.assert_allclose(np.array([r[1:] for r in from_npy[1:]], dtype=float), proba, atol=2e-6)

    out.write_text("keep me")
    result = run("predict", model, tmp_path / "new.npy", "--output", out, cwd=root)
    assert "exists: pass --force" in one_error_line(result.returncode, result.stderr)
    assert out.read_text() == "keep me"


def test_explain_gives_backprop_and_finite_difference_numbers(trained, capsys, tmp_path):
    root, pets, run_dir, _ = trained
    model = run_dir / "model.safetensors"
    rows = tmp_path / "rows.csv"  # not the training file: every row of it, in order
    rows.write_bytes(pets.read_bytes())
    result = run(
        "explain",
        model,
        "--layer",
        "1",
        "--weight",
        "2,5",
        "--sample",
        "7",
        "--data",
        rows,
        "--json",
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)

    network = cr.load(model).astype("float64")
    X, y = library_rows(network, pets)
    x, target = X[7:8], y[7:8]
    network.loss_and_grad(x, target, training=False)  # ∂C/∂W of that one example
    first = network.levels[0]
    assert shown["w"] == first.W[2, 5]
    assert shown["a"] == first.a_prev[0, 2] == x[0, 2]
    assert shown["delta"] == first.delta[0, 5]
    np.testing.assert_allclose(shown["gradient"], first.dW[2, 5], rtol=1e-12)
    h = 1e-6  # an independent central difference of C(w)
    costs = []
    for step in (h, -h):
        moved = network.copy()
        moved.levels[0].W[2, 5] += step
        costs.append(moved.evaluate(x, target)["loss"])
    central = (costs[0] - costs[1]) / (2 * h)
    np.testing.assert_allclose(shown["gradient"], central, rtol=1e-5)
    np.testing.assert_allclose(shown["finite_difference"], first.dW[2, 5], rtol=1e-7)
    assert abs(shown["delta"]) > 1e-6  # a neuron that takes part: the check is not 0 = 0
    top = shown["chain"][-1]  # the output layer: δ = a − y (softmax, cross entropy)
    np.testing.assert_allclose([n["delta"] for n in top], network.levels[-1].delta[0], rtol=1e-12)
    np.testing.assert_allclose([n["a"] - n["y"] for n in top], network.levels[-1].delta[0], rtol=1e-12)
    assert [t["delta"] for t in shown["chain"][0][0]["terms"]] == [n["delta"] for n in shown["chain"][1]]

    status, out, _ = call(
        capsys, "explain", model, "--layer", "1", "--weight", "2,5", "--sample", "7", "--data", rows
    )
    assert status == 0
    assert f"∂C/∂w = a · δ = {shown['a']:.6g} × {shown['delta']:.6g} = {shown['gradient']:.6g}" in out
    assert f"{shown['finite_difference']:.6g}" in out


# ---------------------------------------------------------------------------------- bad input
def test_main_bad_inputs_as_a_user_meets_them(trained, tmp_path):
    run_dir = trained[2]
    (tmp_path / "colour.csv").write_text("a,colour,y\n1,red,0\n2,blue,1\n")
    (tmp_path / "model.safetensors").write_text("not a model")
    np.save(tmp_path / "wide.npy", np.zeros((2, 5)))
    cases = [
        (["train", "--data", "missing.csv"], "no such file: missing.csv: check the path"),
        (["train", "--data", "mnist"], "unknown data set 'mnist': use one of digits, fashion-mnist"),
        (["train", "--data", tmp_path / "colour.csv"], "column 'colour' is not a number ('red')"),
        (["train", "--lr", "0"], "Invalid value for '--lr': must lie in (0, inf), got 0.0: e.g. --lr 0.001"),
        (["evaluate", tmp_path / "model.safetensors"], "is not a readable chainrule file"),
        (
            ["predict", run_dir / "model.safetensors", tmp_path / "wide.npy"],
            "has 5 features per row but the model expects 3",
        ),
    ]
    for args, message in cases:
        result = run(*args, cwd=tmp_path)
        assert message in one_error_line(result.returncode, result.stderr), args
        assert result.stdout == ""


@pytest.fixture
def files(trained, tmp_path):
    _, pets, run_dir, _ = trained
    (tmp_path / "nan.csv").write_text("a,b,y\n1,2,0\n2,nan,1\n3,4,1\n")
    (tmp_path / "inf.csv").write_text("a,b,y\n1,2,0\n2,-inf,1\n3,4,1\n")
    (tmp_path / "narrow.csv").write_text("weight,length\n1,2\n")
    (tmp_path / "rows.txt").write_text("1,2,3\n")
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3)}, str(tmp_path / "other.safetensors"))
    return {"pets": pets, "model": run_dir / "model.safetensors", "dir": tmp_path}


# a malformed command line (exit status 2): Typer checks the types, choices and ranges of the
# options, and the callbacks of cli.py what Typer cannot express; the line names the option
USAGE = [
    (
        ["train", "--optimizer", "rmsprop"],
        "Invalid value for '--optimizer': Value error, 'rmsprop' is not one of 'sgd', 'momentum', "
        "'nesterov', 'adam'. (see: chainrule train --help)",
    ),
    (["train", "--loss", "hinge"], "'hinge' is not one of 'cross_entropy', 'binary_cross_entropy'"),
    (["train", "--schedule", "step"], "Invalid value for '--schedule': Value error, 'step' is not one of"),
    (["train", "--dtype", "float16"], "'float16' is not one of 'float32', 'float64'"),
    (
        ["train", "--preset", "paper"],
        "Invalid value for '--preset': Value error, 'paper' is not one of 'lecture'",
    ),
    (
        ["train", "--activation", "swish", "--data", "xor"],
        "Invalid value for '--activation': unknown activation 'swish': use one of",
    ),
    (["train", "--lr", "-0.5"], "Invalid value for '--lr': must lie in (0, inf), got -0.5"),
    (["train", "--lr", "nan"], "Invalid value for '--lr': must lie in (0, inf), got nan"),
    (["train", "--epochs", "0"], "Invalid value for '--epochs': Input should be greater than or equal to 1"),
    (["train", "--epochs", "ten"], "Invalid value for '--epochs'"),
    (
        ["train", "--batch-size", "-2"],
        "'--batch-size': expected a positive integer, or 0 or full for full batch",
    ),
    (
        ["train", "--layers", "64,x"],
        "'--layers': expected hidden-layer widths such as 128,64 (or none), got '64,x'",
    ),
    (
        ["train", "--dropout", "1"],
        "Invalid value for '--dropout': must lie in [0, 1), got 1.0: e.g. --dropout 0.2",
    ),
    (["train", "--weight-decay", "-1"], "Invalid value for '--weight-decay': must lie in [0, inf), got -1.0"),
    (["train", "--weight-decay", "inf"], "Invalid value for '--weight-decay': must lie in [0, inf), got inf"),
    (["train", "--val-fraction", "1.5"], "Invalid value for '--val-fraction': must lie in [0, 1), got 1.5"),
    (["train", "--test-fraction", "0"], "Invalid value for '--test-fraction': must lie in (0, 1), got 0.0"),
    (["train", "--early-stopping", "-1"], "Invalid value for '--early-stopping'"),
    (
        ["train", "--checkpoint-every", "5x"],
        "'--checkpoint-every': expected a number of epochs ≥ 1 or a time",
    ),
    (["train", "--data", "xor", "--samples", "0"], "Invalid value for '--samples'"),
    (["train", "--task", "guess"], "'guess' is not one of 'auto', 'classification', 'regression'"),
    (["gradcheck", "--loss", "hinge"], "Invalid value for '--loss': Value error, 'hinge' is not one of"),
    (["gradcheck", "--samples", "0"], "Invalid value for '--samples'"),
    (["gradcheck", "--max-per-parameter", "0"], "Invalid value for '--max-per-parameter'"),
    (["explain", "{model}", "--layer", "1", "--weight", "0"], "'--weight': expected two indices i,j"),
    (["explain", "{model}", "--weight", "0,0"], "Missing option '--layer'"),
    (["playground", "--port", "70000"], "Invalid value for '--port'"),
    (["nonsense"], "No such command 'nonsense'"),
    (["bench"], "No such command 'bench'"),  # a checkout's benchmarks: python -m benchmarks there
]
# input the command cannot work with (exit status 1)
BAD = [
    (["train", "--data", "{dir}/nan.csv"], "line 3: column 'b' is 'nan': NaN and inf cannot be learned from"),
    (["train", "--data", "{dir}/inf.csv"], "line 3: column 'b' is '-inf'"),
    (
        ["train", "--data", "{pets}", "--target", "colour"],
        "--target 'colour' is not a column of",
    ),
    (["train", "--data", "xor", "--loss", "squared_error"], "xor has class labels: use --loss cross_entropy"),
    (["train", "--data", "plane", "--loss", "cross_entropy"], "plane has numeric targets (regression)"),
    (["train", "--data", "spiral", "--loss", "binary_cross_entropy", "--classes", "3"], "needs two classes"),
    (["evaluate", "{dir}/nope.safetensors"], "no model file at"),
    (["evaluate", "{dir}/other.safetensors"], "is a safetensors file but not a chainrule model"),
    (["evaluate", "{model}", "--data", "{dir}/narrow.csv"], "has no column 'species'"),
    (["evaluate", "{model}", "--data", "digits"], "digits has 64 features but the model expects 3"),
    (
        ["predict", "{model}", "{dir}/narrow.csv"],
        "lacks the model's feature column(s) height (its columns: weight, length)",
    ),
    (["predict", "{model}", "{dir}/rows.txt"], "rows.txt has no data rows"),
    (["predict", "{model}", "{dir}/none.csv"], "no such file"),
    (["explain", "{model}", "--data", "{pets}", "--layer", "9", "--weight", "0,0"], "--layer must be 1..3"),
    (
        ["explain", "{model}", "--data", "{pets}", "--layer", "1", "--weight", "0,99"],
        "weight j (a neuron of layer 1) must be",
    ),
    (
        ["explain", "{model}", "--data", "{pets}", "--layer", "1", "--weight", "0,0", "--sample", "5000"],
        "sample",
    ),
    (["explain", "{model}", "--layer", "1", "--weight", "0,0"], "read only when you name it: pass --data"),
    (
        ["gradcheck", "--activation", "tanh,relu", "--layers", "5"],
        "--activation gives 2 activations for 1 hidden layer(s) (--layers 5)",
    ),
]
CASES = [(*case, 2) for case in USAGE] + [(*case, 1) for case in BAD]


@pytest.mark.parametrize(("args", "message", "status"), CASES, ids=[" ".join(a[:3]) for a, _, _ in CASES])
def test_bad_input_is_one_line_that_names_the_fix(files, capsys, args, message, status):
    args = [a.format(**files) for a in args]
    got, out, err = call(capsys, *args)
    assert message in one_error_line(got, err)
    assert got == status
    assert out == ""


def test_help_lists_choices_and_ranges_and_no_type_after_a_flag(tmp_path):
    result = run("train", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    usage = result.stdout
    for option, values in {
        "--optimizer": "sgd|momentum|nesterov|adam",
        "--loss": "cross_entropy|binary_cross_entropy|squared_error|poisson",
        "--schedule": "constant|cosine",
        "--dtype": "float32|float64",
        "--task": "auto|classification|regression",
        "--preset": "lecture",
    }.items():
        assert re.search(rf"^  {option} [<\[]{re.escape(values)}[>\]]", usage, re.MULTILINE), option
    assert re.search(r"--epochs <int range>[^-]*\[x>=1\]", usage)  # Typer checks the range
    assert re.search(r"^  --force +overwrite files", usage, re.MULTILINE)  # a flag takes no value
    assert re.search(r"^  --help +Show this message", usage, re.MULTILINE)
    assert "<bool>" not in usage and "BOOLEAN" not in usage


def test_a_bad_choice_or_range_is_a_usage_error_of_one_line(tmp_path):
    """As a user meets it: the console script, exit status 2, one line naming the option."""
    for args, option in [
        (["train", "--optimizer", "adamw"], "--optimizer"),
        (["train", "--dropout", "1"], "--dropout"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--batch-size", "half"], "--batch-size"),
    ]:
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        line = one_error_line(result.returncode, result.stderr)
        assert f"Invalid value for '{option}'" in line and line.endswith("(see: chainrule train --help)")
        assert result.stdout == ""


def test_the_options_given_override_the_preset(tmp_path, capsys):
    """A preset sets only the options the user left out."""
    args = ["--preset", "lecture", "--data", "xor", "--epochs", "2", "--optimizer", "momentum"]
    status, _, err = call(capsys, "train", *args, "--batch-size", "16", "--out", tmp_path / "r")
    assert status == 0, err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert (metrics["optimizer"], metrics["batch_size"], metrics["epochs"]) == ("momentum", 16, 2)
    assert (metrics["activation"], metrics["lr"]) == ("sigmoid", 2.0)  # the preset's


def test_a_run_directory_is_never_overwritten_without_force(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.safetensors").write_text("precious")
    common = ["train", "--data", "xor", "--samples", "80", "--epochs", "2", "--out", out]
    status, _, err = call(capsys, *common)
    assert "exists and is not empty: pass --force" in one_error_line(status, err)
    assert (out / "model.safetensors").read_text() == "precious"
    status, _, err = call(capsys, *common, "--force")
    assert status == 0, err
    assert cr.load(out / "model.safetensors").n_features == 2
    for _ in range(2):  # runs/<date-time>, then runs/<date-time>-2 within the same second
        status, _, err = call(capsys, "train", "--data", "xor", "--samples", "80", "--epochs", "1")
        assert status == 0, err
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all((r / "metrics.json").is_file() for r in runs)


# ------------------------------------------------------------------------------ other journeys
def test_regression_from_csv(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.uniform(-2, 2, (300, 2))
    target = 1.5 * X[:, 0] - X[:, 1] + rng.normal(0, 0.05, 300)
    path = tmp_path / "houses.csv"
    path.write_text(
        "size,age,price\n"
        + "".join(f"{a:.4f},{b:.4f},{t:.4f}\n" for (a, b), t in zip(X, target, strict=True))
    )
    status, out, err = call(
        capsys,
        "train",
        "--data",
        path,
        "--layers",
        "16",
        "--epochs",
        "60",
        "--lr",
        "0.01",
        "--out",
        tmp_path / "r",
    )
    assert status == 0, err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["test_r2"] > 0.95 and metrics["test_rmse"] < 0.3 and "test_accuracy" not in metrics
    assert not (tmp_path / "r" / "confusion.png").exists()
    model = tmp_path / "r" / "model.safetensors"
    status, out, err = call(capsys, "predict", model, path)
    rows = list(csv.reader(out.splitlines()))
    assert status == 0 and rows[0] == ["price"]
    network = cr.load(model)
    expected = network.predict(data.standardize(X.round(4), network.metadata))[:, 0]
    np.testing.assert_allclose(np.array(rows[1:], dtype=float)[:, 0], expected, rtol=1e-5, atol=1e-6)
    status, out, _ = call(capsys, "evaluate", model, "--data", path)  # its test rows
    assert status == 0 and re.search(r"loss \S+  rmse \S+  mae \S+  r2 0\.9", out) and "test rows" in out


def test_lecture_preset_is_the_network_of_the_notes(tmp_path, capsys):
    status, out, err = call(
        capsys, "train", "--preset", "lecture", "--data", "xor", "--epochs", "3", "--out", tmp_path / "r"
    )
    assert status == 0, err
    network = cr.load(tmp_path / "r" / "model.safetensors")
    assert [type(layer).__name__ for layer in network.layers] == ["Dense", "Sigmoid", "Dense", "Softmax"]
    assert network.loss.name == "cross_entropy"
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert (metrics["optimizer"], metrics["batch_size"], metrics["epochs"]) == ("sgd", "full", 3)
    assert "SGD(lr=Constant(lr=2.0), momentum=0.0" in out and "batch full" in out


def test_gradcheck_command(trained, capsys):
    status, out, _ = call(capsys, "gradcheck")
    assert status == 0 and "passed" in out
    for name in ("layers.0.W", "layers.0.b", "layers.2.W", "layers.4.b"):
        assert re.search(rf"{re.escape(name)}\s+\S+\s+\d+\s+\d+\s+\d\.\d\de-\d\d", out)
    status, out, _ = call(capsys, "gradcheck", "--activation", "relu,sigmoid", "--loss", "squared_error")
    assert status == 0 and "passed" in out
    status, out, _ = call(capsys, "gradcheck", "--model", trained[2] / "model.safetensors")
    assert status == 0 and "Tanh()" in out and "passed" in out


def test_no_arguments_shows_the_commands(capsys):
    status, out, _ = call(capsys)
    assert status == 2
    for command in ("train", "evaluate", "predict", "gradcheck", "explain"):
        assert command in out


@pytest.mark.skipif(
    not data.SYSTEM_DATA_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_fashion_mnist_short_run_of_the_documented_command(tmp_path):
    """The command of docs/results.md, on its first 3000 training images for 2 epochs (a later
    option wins over an earlier one)."""
    results = (Path(__file__).resolve().parent.parent / "docs" / "results.md").read_text()
    command = re.search(r"\$ chainrule (train --data fashion-mnist .*)", results).group(1).split()
    result = run(*command, "--samples", "3000", "--epochs", "2", "--out", tmp_path / "r", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "784-512-256-10 network" in result.stdout
    assert "3000 training, 0 validation, 10000 test rows" in result.stdout
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.75 and metrics["schedule"] == "cosine" and metrics["dropout"] == 0.2
    network = cr.load(tmp_path / "r" / "model.safetensors")
    assert network.metadata["classes"][9] == "Ankle boot" and network.n_features == 784


def test_a_standard_output_that_cannot_be_written_is_one_line(files):
    """Closed (``>&-``), a full disk (``> /dev/full``): one line that says it is standard
    output, exit status 1 (before: a TypeError traceback from predict, status 0 from gradcheck,
    "No space left on device: check the path"). A reader that goes away (``| head -1``): quiet,
    status 141 (128 + SIGPIPE, as a program that signal ends)."""
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[2])}  # this checkout's code
    command = [sys.executable, "-c", "from chainrule.cli import main; main()"]
    lines = files["pets"].read_text().splitlines()
    many = files["dir"] / "many.csv"
    many.write_text("\n".join([lines[0], *lines[1:] * 20]) + "\n")  # 4,800 rows: more than a pipe holds

    def chainrule(*args, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *map(str, args)], stderr=subprocess.PIPE, text=True, env=env,
                              timeout=120, **kwargs)  # fmt: skip

    for args in (["predict", files["model"], many], ["gradcheck"], ["explain", files["model"], "--json"]):
        closed = chainrule(*args, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
        assert "error: cannot write to standard output (it is closed)" in one_error_line(
            closed.returncode, closed.stderr
        )
        assert closed.returncode == 1
    with open("/dev/full", "w") as full:
        result = chainrule("predict", files["model"], many, stdout=full)
    line = one_error_line(result.returncode, result.stderr)
    assert "cannot write to standard output (No space left on device)" in line and result.returncode == 1
    reader = subprocess.Popen([*command, "predict", str(files["model"]), str(many)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)  # fmt: skip
    assert reader.stdout.readline().startswith(b"label,")
    reader.stdout.close()
    assert reader.stderr.read() == b"" and reader.wait(timeout=120) == 141
    reader.stderr.close()
