"""One pipeline for every face: `chainrule train` and `Experiment.run` are `chainrule.fit` on the
pipeline's rows; a model is evaluated on its test rows only while its data has the fingerprint
it recorded; a folder the user names is used or refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import data, pipeline
from chainrule.checkpoint import checkpoints
from chainrule.evaluation import fingerprint, held_out
from chainrule.heads import head
from tests.test_cli import CHAINRULE, call, one_error_line, pets_csv
from tests.test_data import write_idx


def test_the_command_line_and_the_pipeline_are_chainrule_fit(tmp_path, capsys, monkeypatch):
    """The same settings and seed give the same weights, bit for bit, from `chainrule train`,
    `Experiment.run` and `chainrule.fit` on rows standardised by hand."""
    monkeypatch.chdir(tmp_path)
    args = ["--data", "digits", "--layers", "16", "--epochs", "2", "--batch-size", "32", "--seed", "3"]
    status, _, err = call(capsys, "train", *args, "--out", "cli")
    assert status == 0, err
    from_cli = cr.load(tmp_path / "cli" / "model.safetensors")

    result = cr.Experiment(data="digits", hidden=(16,), epochs=2, batch_size=32, seed=3).run(tmp_path / "lib")
    ds = data.load("digits", seed=3)
    standardizer = data.Standardizer.fit(ds.X_train, per_feature=False)  # the digits are pixels
    X, X_val = (standardizer(a, dtype=np.float32) for a in (ds.X_train, ds.X_val))
    net = cr.Network.from_sizes([64, 16, 10], "relu", seed=3)
    cr.fit(net, X, ds.y_train, epochs=2, batch_size=32, optimizer="adam", validation_data=(X_val, ds.y_val))

    assert from_cli.flat_params.tobytes() == result.network.flat_params.tobytes() == net.flat_params.tobytes()
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == result.scores["test_accuracy"] > 0.3


def test_one_decision_of_the_loss_and_outputs():
    assert astuple(head(None, targets=2)) == ("squared_error", "identity", 2)
    assert astuple(head(10)) == ("cross_entropy", "softmax", 10)
    assert astuple(head(2)) == ("cross_entropy", "softmax", 2)
    assert astuple(head(2, "binary_cross_entropy")) == ("binary_cross_entropy", "sigmoid", 1)
    assert astuple(head(5, multilabel=True)) == ("binary_cross_entropy", "sigmoid", 5)
    for args, message in [
        ((None, "cross_entropy"), "numeric targets (regression): use loss=squared_error"),
        ((3, "squared_error"), "class labels: use loss=cross_entropy"),
        ((3, "binary_cross_entropy"), "needs two classes, the data has 3"),
        ((1,), "a single class"),
        ((3, "hinge"), "unknown loss 'hinge'"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            head(*args)


def test_evaluate_rereads_a_csv_file_only_while_its_fingerprint_matches(tmp_path, capsys, monkeypatch):
    """After 40 rows are appended to the training file, its rows are new data: all of them are
    evaluated (the line says so), never a re-split whose test rows include training rows."""
    monkeypatch.chdir(tmp_path)
    pets = pets_csv(tmp_path / "pets.csv", n=400)
    status, _, err = call(
        capsys,
        "train",
        "--data",
        pets,
        "--target",
        "species",
        "--layers",
        "8",
        "--epochs",
        "5",
        "--out",
        "run",
    )
    assert status == 0, err
    model = tmp_path / "run" / "model.safetensors"
    network = cr.load(model)
    assert network.metadata["data"]["fingerprint"] == fingerprint(str(pets))
    _, y, rows = held_out(network, str(pets))
    assert rows == f"the 100 test rows of {pets}" and len(y) == 100

    extra = pets_csv(tmp_path / "more.csv", n=40, seed=9).read_text().splitlines()[1:]
    with open(pets, "a") as f:
        f.write("\n".join(extra) + "\n")
    status, out, _ = call(capsys, "evaluate", model, "--data", pets)
    assert status == 0 and f"all 440 rows of {pets}" in out
    with pytest.raises(ValueError, match="read only when you name it: pass data="):
        held_out(network)  # a model file never makes the library read a path by itself


def _fashion_files(folder: Path, seed: int) -> Path:
    """Small Fashion-MNIST files: 60 training and 20 test images, gzip-compressed IDX."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for name, n in (("train", 60), ("t10k", 20)):
        write_idx(folder / f"{name}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{name}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    return folder


def test_a_named_data_dir_is_used_or_refused_and_checked_by_fingerprint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAINRULE_DATA", str(_fashion_files(tmp_path / "elsewhere", seed=1)))
    for folder, message in [
        ("missing", "--data-dir missing does not exist"),
        ("partial", "lacks"),
    ]:
        if folder == "partial":
            _fashion_files(tmp_path / "partial", seed=2)
            (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
        status, _, err = call(capsys, "train", "--data", "fashion-mnist", "--data-dir", folder, "--out", "r")
        assert message in one_error_line(status, err)
        assert not (tmp_path / "r").exists()

    mine = _fashion_files(tmp_path / "mine", seed=3)
    args = ["--data", "fashion-mnist", "--data-dir", mine, "--layers", "4", "--epochs", "1", "--out", "r"]
    status, _, err = call(capsys, "train", *args)
    assert status == 0, err
    model = tmp_path / "r" / "model.safetensors"
    status, out, err = call(capsys, "evaluate", model, "--data-dir", mine)
    assert status == 0 and "the 20 test rows of fashion-mnist" in out, err
    other = _fashion_files(tmp_path / "other", seed=4)  # another copy: not the data it was trained on
    status, _, err = call(capsys, "evaluate", model, "--data-dir", other)
    line = one_error_line(status, err)
    assert "differs from the data the model was trained on" in line and "--data fashion-mnist" in line
    status, out, err = call(capsys, "evaluate", model, "--data", "fashion-mnist", "--data-dir", other)
    assert status == 0 and "the 20 test rows of fashion-mnist (another copy than" in out, err


def test_columns_are_matched_by_name_never_by_position(tmp_path, capsys, monkeypatch):
    """A model trained on a, b, c refuses a file headed b, a, zzz or x, y, z (it lacks c), where
    a column taken by its position would give silently wrong predictions; the right names in
    another order, with other columns beside them, are found by name."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    rows = "\n".join(f"{a:.5f},{b:.5f},{c:.5f},{int(a > c)}" for a, b, c in X)
    (tmp_path / "abc.csv").write_text("a,b,c,label\n" + rows + "\n")
    status, _, err = call(
        capsys, "train", "--data", "abc.csv", "--layers", "4", "--epochs", "2", "--out", "r"
    )
    assert status == 0, err
    model = tmp_path / "r" / "model.safetensors"
    for header, lacking in (("b,a,zzz,label", "c"), ("x,y,z,label", "a, b, c")):
        (tmp_path / "new.csv").write_text(header + "\n" + rows + "\n")
        for command in (["predict", model, "new.csv"], ["evaluate", model, "--data", "new.csv"]):
            status, out, err = call(capsys, *command)
            assert f"lacks the model's feature column(s) {lacking} (" in one_error_line(status, err)
    swapped = "\n".join(f"{c:.5f},x,{a:.5f},{b:.5f}" for a, b, c in X)
    (tmp_path / "swapped.csv").write_text("c,note,a,b\n" + swapped + "\n")
    status, out, err = call(capsys, "predict", model, "swapped.csv")
    assert status == 0, err
    network = cr.load(model)
    expected = network.predict(data.standardize(X.round(5), network.metadata))
    assert [line.split(",")[0] for line in out.splitlines()[1:]] == [str(k) for k in expected]
    twice = "\n".join(f"5,{a:.5f},{b:.5f},{c:.5f},{int(a > c)}" for a, b, c in X)  # the first a: junk
    (tmp_path / "twice.csv").write_text("a,a,b,c,label\n" + twice + "\n")
    for command in (["predict", model, "twice.csv"], ["evaluate", model, "--data", "twice.csv"]):
        status, out, err = call(capsys, *command)
        assert "twice.csv has more than one column named 'a': name each column once" in one_error_line(
            status, err
        )
    noted = "\n".join(f"{a:.5f},{b:.5f},{c:.5f},x,y" for a, b, c in X)
    (tmp_path / "note.csv").write_text("a,b,c,note,note\n" + noted + "\n")
    assert call(capsys, "predict", model, "note.csv")[0] == 0  # a column the model does not use
    network.metadata["feature_names"] = ["a", "a", "c"]
    with pytest.raises(ValueError, match="names an input twice"):
        cr.save(network, tmp_path / "twice.safetensors")


def test_a_failed_run_leaves_no_empty_run_directory(tmp_path, capsys, monkeypatch):
    """A run that diverges (or stops on bad input) removes the run directory it made, if it is
    still empty; one the user made is left as it was."""
    monkeypatch.chdir(tmp_path)
    args = ["--data", "xor", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "1", "--layers", "8"]
    status, _, err = call(capsys, "train", *args, "--out", "dv")
    assert "training diverged" in one_error_line(status, err)
    assert not (tmp_path / "dv").exists()
    (tmp_path / "mine").mkdir()
    status, _, err = call(capsys, "train", *args, "--out", "mine")
    assert status == 1 and (tmp_path / "mine").is_dir()
    with pytest.raises(FloatingPointError):
        cr.Experiment(data="xor", optimizer="sgd", lr=1e30, epochs=1, hidden=(8,)).run(tmp_path / "lib")
    assert not (tmp_path / "lib").exists()
    for every in (0, -1, "x", "0s", 1.5, True):
        with pytest.raises(ValueError, match="checkpoint_every must be"):
            cr.Experiment(data="xor", epochs=1).run(tmp_path / "ck", checkpoint_every=every)
        assert not (tmp_path / "ck").exists()


class _TwoProcesses(cr.Local):
    size = 2


def test_resume_checks_run_json_and_the_number_of_processes(tmp_path):
    from chainrule.pipeline import resume, stored_experiment

    cr.Experiment(data="xor", epochs=2, hidden=(4,)).run(tmp_path / "r", checkpoint_every=1)
    stored = json.loads((tmp_path / "r" / "run.json").read_text())
    assert stored["processes"] == 1 and stored["checkpoint_every"] == 1
    with pytest.raises(ValueError, match=r"started on 1 process\(es\), not 2: resume it on 1"):
        stored_experiment(tmp_path / "r", _TwoProcesses())
    before = (tmp_path / "r" / "model.safetensors").read_bytes()
    assert (
        resume(tmp_path / "r").network.flat_params.tobytes()
        == cr.load(tmp_path / "r" / "model.safetensors").flat_params.tobytes()
    )
    assert (tmp_path / "r" / "model.safetensors").read_bytes() == before  # a finished run: the same bytes
    for damaged in (1e308, float("nan"), 0, "soon", None, True):
        (tmp_path / "r" / "run.json").write_text(json.dumps({**stored, "checkpoint_every": damaged}))
        with pytest.raises(ValueError, match=r"run\.json is not as chainrule wrote it"):
            stored_experiment(tmp_path / "r")
    for damaged in ({**stored, "resumed_by": "me"}, [stored], "run"):  # accepted without a word before
        (tmp_path / "r" / "run.json").write_text(json.dumps(damaged))
        with pytest.raises(ValueError, match=r"run\.json is not as chainrule wrote it \((unknown|not an)"):
            stored_experiment(tmp_path / "r")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"target": 3}, "target must be None or a name"),
        ({"loss": [1]}, "loss must be None or a name"),
        ({"data_dir": 5}, "data_dir must be a folder's path"),
        ({"data_dir": "/tmp"}, "data_dir= is the folder of the Fashion-MNIST files, not used by digits"),
        ({"target": "y"}, "target= names a column of a CSV file, and digits is none"),
        ({"hidden": 64}, "hidden must be a sequence of layer widths"),
        ({"hidden": "64"}, "hidden must be a sequence of layer widths"),
        ({"hidden": (0,)}, "hidden must be positive layer widths"),
        ({"activation": 5}, "activation must be a name or one name per hidden layer"),
        ({"activation": ("relu", "tanh")}, "activation= names 2 hidden layers but hidden= has 1"),
        ({"epochs": 0}, "epochs must be an integer ≥ 1"),
        ({"lr": float("nan")}, r"lr must lie in \(0, ∞\)"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, momentum, nesterov, adam"),
        ({"val_fraction": 1.0}, r"val_fraction must lie in \[0, 1\)"),
        ({"early_stopping": 3, "val_fraction": 0}, "val_fraction=0 holds no validation rows"),
        (
            {"samples": 10**11},
            "samples must be at most 1,000,000,000, got 100,000,000,000",
        ),  # after training before
        ({"noise": 1e7}, r"noise must lie in \[0, 1000000"),
    ],
)
def test_an_experiment_checks_every_setting_when_it_is_made(settings, message):
    with pytest.raises(ValueError, match=message):
        cr.Experiment(**settings)


def test_from_dict_names_the_missing_and_unknown_settings():
    d = cr.Experiment().to_dict()
    assert cr.Experiment.from_dict(d) == cr.Experiment()
    with pytest.raises(ValueError, match="lack seed and have unknown sed"):
        cr.Experiment.from_dict({**{k: v for k, v in d.items() if k != "seed"}, "sed": 1})


def test_numpy_scalars_are_numbers_and_a_callback_must_be_one():
    """What users have (np.int64 epochs, np.float32 lr) is taken as Python's numbers."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)
    a, b = (cr.Network.from_sizes([2, 4, 2], seed=0) for _ in range(2))
    cr.fit(a, X, y, epochs=2, batch_size=16, optimizer="sgd", lr=0.01, clip_norm=5.0)
    cr.fit(b, X, y, epochs=np.int64(2), batch_size=np.int32(16), optimizer="sgd", lr=np.float32(0.01),
           clip_norm=np.float64(5.0))  # fmt: skip
    np.testing.assert_allclose(b.flat_params, a.flat_params, rtol=1e-6)
    e = cr.Experiment(epochs=np.int64(3), lr=np.float32(0.5), hidden=(np.int64(8),), seed=np.uint8(1))
    assert (type(e.epochs), type(e.lr), e.hidden, type(e.seed)) == (int, float, (8,), int)
    with pytest.raises(TypeError, match=r"callbacks must be chainrule\.Callback objects, got 42"):
        cr.fit(a, X, y, callbacks=[42])


def test_the_divergence_hint_names_a_flag_that_exists(tmp_path, capsys, monkeypatch):
    """The guard's hint names clip_norm=; the command line has --clip-norm, which then trains."""
    monkeypatch.chdir(tmp_path)
    args = ["--data", "xor", "--optimizer", "sgd", "--layers", "8", "--epochs", "2"]
    status, _, err = call(capsys, "train", *args, "--lr", "1e30", "--out", "dv")
    line = one_error_line(status, err)
    assert "clip the gradient with --clip-norm" in line and line.endswith("No model was written")
    status, _, err = call(capsys, "train", *args, "--lr", "50", "--clip-norm", "1", "--out", "clipped")
    assert status == 0, err
    history = json.loads((tmp_path / "clipped" / "history.json").read_text())
    assert all(np.isfinite(history["metrics"]["loss"]))


def test_a_network_too_large_for_the_memory_is_refused_before_it_is_made(tmp_path, capsys, monkeypatch):
    """--layers 100000000,100000000 (10^16 parameters) is one line naming --layers, at once; a
    network that needs more than the memory available now (set to 1 GiB here) too."""
    import resource

    monkeypatch.chdir(tmp_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status, _, err = call(capsys, "train", "--layers", "100000000,100000000", "--out", "r")
    line = one_error_line(status, err)
    assert "has 10,000,007,600,000,010 parameters" in line and "give --layers fewer or smaller layers" in line
    monkeypatch.setattr(pipeline, "_available_memory", lambda: 2**30)
    with pytest.raises(ValueError, match=r"needs about 2\.2 GiB, more than the 1\.0 GiB of memory"):
        cr.Experiment(hidden=(12000, 12000), epochs=1).run(tmp_path / "big")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB: nothing big made
    assert not (tmp_path / "r").exists() and not (tmp_path / "big").exists()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": 5}, "invalid name: 5"),
        ({"name": "xor", "samples": "lots"}, "invalid samples: 'lots'"),
        ({"name": "xor", "samples": 10**12}, "invalid samples: 1000000000000"),
        ({"name": "xor", "seed": 1.5}, "invalid seed: 1.5"),
        ({"name": "xor", "test_fraction": None}, "invalid test_fraction: None"),
    ],
)
def test_a_damaged_data_entry_is_refused_when_saved_and_when_read(tmp_path, capsys, entry, problem):
    """save refuses to write it; a file that holds it anyway (its checksum right) is refused by
    evaluate in one line, never read as a 7 TiB toy or a crash."""
    from chainrule.safefile import write_safetensors

    net = cr.Network.from_sizes([2, 3, 2], seed=0)
    net.metadata = {"data": entry}
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")):
        cr.save(net, tmp_path / "m.safetensors")
    net.metadata = {}
    cr.save(net, tmp_path / "m.safetensors")
    from safetensors import safe_open

    with safe_open(tmp_path / "m.safetensors", "np") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "checksum"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta["metadata"] = json.dumps({"data": entry})
    write_safetensors(tmp_path / "bad.safetensors", tensors, meta, overwrite=False)
    status, out, err = call(capsys, "evaluate", tmp_path / "bad.safetensors")
    assert problem in one_error_line(status, err) and out == ""


def test_resume_after_a_kill_during_the_first_or_the_last_write(tmp_path, capsys, monkeypatch):
    """Killed while it saved its very first checkpoint (run.json there, no checkpoint): --resume
    starts the run; killed while writing the model: the torn temporary file is removed when the
    run is resumed, and a file that is not one of ours stays."""
    monkeypatch.chdir(tmp_path)
    args = ["--data", "xor", "--layers", "4", "--epochs", "3", "--checkpoint-every", "1"]
    status, _, err = call(capsys, "train", *args, "--out", "whole")
    assert status == 0, err
    status, _, err = call(capsys, "train", *args, "--out", "first")
    assert status == 0, err
    for name in os.listdir(tmp_path / "first"):
        if name != "run.json":
            os.unlink(tmp_path / "first" / name)
    (tmp_path / "first" / ".model.safetensors.0123456789ab.tmp").write_bytes(b"torn")
    (tmp_path / "first" / ".model.safetensors.mine.tmp").write_bytes(b"the user's")
    status, _, err = call(capsys, "train", "--resume", "first")
    assert status == 0, err
    weights = [
        cr.load(tmp_path / run / "model.safetensors").flat_params.tobytes() for run in ("whole", "first")
    ]
    assert weights[0] == weights[1]
    assert not (tmp_path / "first" / ".model.safetensors.0123456789ab.tmp").exists()
    assert (tmp_path / "first" / ".model.safetensors.mine.tmp").read_bytes() == b"the user's"


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_run_without_checkpoints_is_one_line_and_leaves_no_directory(tmp_path, signum):
    args = ["train", "--data", "digits", "--epochs", "500", "--layers", "32", "--out", "run"]
    proc = subprocess.Popen(
        [str(CHAINRULE), *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "run").exists():  # made once the data is loaded, just before training
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum
    hint = "the run wrote nothing (with --checkpoint-every it saves its state, and --resume goes on)"
    assert err.decode() == f"error: stopped by {name}: {hint}\n"
    assert not (tmp_path / "run").exists()


def test_messages_say_what_is_wrong_with_the_data(tmp_path, capsys, monkeypatch):
    """A folder or a pipe given as data, classes too small to split, decimals as classes: each one
    line that says so (not 'no such file' or 'too few rows')."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.csv").mkdir()
    os.mkfifo(tmp_path / "pipe.csv")
    rng = np.random.default_rng(0)
    rows = "".join(f"{a:.3f},{b:.3f},c{k // 2}\n" for k, (a, b) in enumerate(rng.normal(size=(2000, 2))))
    (tmp_path / "pairs.csv").write_text("a,b,label\n" + rows)
    decimals = "".join(f"{a:.3f},{b:.3f},{t:.4f}\n" for a, b, t in rng.normal(size=(200, 3)))
    (tmp_path / "decimals.csv").write_text("a,b,y\n" + decimals)
    for args, message in [
        (["--data", "folder.csv"], "folder.csv is a folder, not a file"),
        (["--data", "pipe.csv"], "pipe.csv is not a regular file (a pipe or a device)"),
        (["--data", "pairs.csv"], "pairs.csv has 1000 classes of at most 2 row(s)"),
        (  # blamed on --test-fraction alone before
            ["--data", "xor", "--samples", "20", "--val-fraction", "0.999"],
            "with --test-fraction 0.25 and --val-fraction 0.999 none puts a row in the training rows; "
            "give more rows per class, a smaller --test-fraction or --val-fraction",
        ),
        (["--data", "xor", "--samples", "20", "--test-fraction", "0.999"], "xor has 2 classes of at most"),
        (["--data", "decimals.csv", "--noise", "0.5"], "--noise shapes a toy data set"),  # ignored before
        (["--data", "digits", "--classes", "3"], "--classes shapes a toy data set (xor, circles"),
        (
            ["--data", "decimals.csv", "--task", "classification"],
            "or --task regression if the target is a number",
        ),
    ]:
        status, _, err = call(capsys, "train", *args, "--out", "r")
        assert message in one_error_line(status, err)
        assert not (tmp_path / "r").exists()


def test_the_command_line_says_a_warning_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--data", "xor", "--optimizer", "sgd", "--lr", "20", "--layers", "16", "--epochs", "5"]
    status, _, err = call(capsys, "train", *args, "--out", "r")  # grows to ~10³ without overflowing
    assert status == 0, err
    (line,) = [x for x in err.splitlines() if x.strip()]
    assert line.startswith("warning: the training loss per row grew from ") and "it is 20" in line


def test_a_torn_temporary_file_is_removed_when_the_file_is_written_again(tmp_path, capsys, monkeypatch):
    """A kill -9 in the middle of predict --output leaves .p.csv.<12 hex>.tmp: the next write of
    p.csv removes it (and leaves a file of the user's that merely looks alike)."""
    monkeypatch.chdir(tmp_path)
    status, _, err = call(capsys, "train", "--data", "xor", "--layers", "4", "--epochs", "1", "--out", "r")
    assert status == 0, err
    np.save(tmp_path / "rows.npy", np.zeros((3, 2)))
    (tmp_path / ".p.csv.0123456789ab.tmp").write_text("torn")
    (tmp_path / ".p.csv.mine.tmp").write_text("the user's")
    status, _, err = call(capsys, "predict", "r/model.safetensors", "rows.npy", "--output", "p.csv")
    assert status == 0, err
    assert not (tmp_path / ".p.csv.0123456789ab.tmp").exists()
    assert (tmp_path / ".p.csv.mine.tmp").read_text() == "the user's"


def test_what_a_new_user_found_last(tmp_path, capsys, monkeypatch):
    """A damaged newest checkpoint is set aside with a warning the command line shows; gradcheck of
    a Poisson model; --loss poisson on counts without --task; a seed past 2**63 refused at once;
    a batch larger than the data is the full batch; --output a folder; another network's
    checkpoint described by its widths."""
    monkeypatch.chdir(tmp_path)
    args = ["--data", "xor", "--layers", "4", "--epochs", "3", "--checkpoint-every", "1", "--out", "ck"]
    status, _, err = call(capsys, "train", *args)
    assert status == 0, err
    newest = checkpoints(tmp_path / "ck")[-1]
    newest.write_bytes(newest.read_bytes()[:500])
    status, _, err = call(capsys, "train", "--resume", "ck")
    assert status == 0
    (line,) = err.splitlines()
    assert line.startswith("warning: damaged checkpoint(s) set aside as *.damaged")

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(300, 2))
    counts = rng.poisson(1 + 3 * x[:, 0])
    (tmp_path / "counts.csv").write_text(
        "a,b,n\n" + "".join(f"{a:.4f},{b:.4f},{n}\n" for (a, b), n in zip(x, counts, strict=True))
    )
    status, _, err = call(
        capsys, "train", "--data", "counts.csv", "--loss", "poisson", "--epochs", "2", "--out", "p"
    )
    assert status == 0, err
    assert cr.load(tmp_path / "p" / "model.safetensors").loss.name == "poisson"
    status, out, err = call(capsys, "gradcheck", "--model", "p/model.safetensors")
    assert status == 0 and "passed" in out, err

    status, _, err = call(capsys, "train", "--data", "xor", "--seed", str(2**64), "--out", "s")
    assert status == 2 and "--seed" in one_error_line(status, err)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*63\)"):
        cr.Experiment(seed=2**70)
    status, _, err = call(
        capsys, "train", "--data", "xor", "--batch-size", "1000000000", "--epochs", "1", "--out", "b"
    )
    assert status == 0, err
    (tmp_path / "folder").mkdir()
    status, _, err = call(capsys, "predict", "p/model.safetensors", "counts.csv", "--output", "folder")
    assert "--output folder is a folder: give a file name" in one_error_line(status, err)
    from chainrule.run import _sizes

    assert _sizes(cr.Network.from_sizes([64, 32, 10])) == "64-32-10, cross_entropy"


def test_features_far_from_zero_keep_their_digits_in_float32(tmp_path):
    """Millisecond timestamps (1.7e12, 500 apart) label early and late rows. Cast to float32 before
    the mean was taken away they became multiples of 131072 and the run scored 0.5; standardised
    in float64 first, float32 training separates them as float64 training does."""
    rng = np.random.default_rng(0)
    i = np.arange(200)
    rows = "\n".join(f"{1_700_000_000_000 + 500 * k},{rng.normal():.4f},{int(k >= 100)}" for k in i)
    (tmp_path / "ts.csv").write_text("ms,noise,late\n" + rows + "\n")
    result = cr.Experiment(data=str(tmp_path / "ts.csv"), hidden=(8,), epochs=60, lr=0.01).run()
    assert result.metrics["test_accuracy"] >= 0.9
    std = cr.preprocessing.Standardizer.fit(np.stack([1.7e12 + 500.0 * i], axis=1))
    X = np.stack([1.7e12 + 500.0 * i], axis=1)
    np.testing.assert_allclose(std(X, np.float32), std(X, np.float64), atol=1e-6)


def test_predict_prints_every_output_with_every_digit(tmp_path, capsys):
    """A regression value of 1234567.89 was printed as 1.23457e+06, and a model of two outputs
    printed only the first: every output, in the shortest form that reads back to the same number."""
    net = cr.Network.from_sizes([1, 2], output="identity", loss="squared_error", dtype="float64")
    net.layers[0].W[:] = [[0.0, 1.0]]
    net.layers[0].b[:] = [1234567.89, 0.0]
    net.metadata.update(feature_names=["x"], target="y")
    cr.save(net, tmp_path / "m.safetensors")
    (tmp_path / "x.csv").write_text("x\n0.25\n-3e-9\n")
    status, out, err = call(capsys, "predict", tmp_path / "m.safetensors", tmp_path / "x.csv")
    assert status == 0, err
    assert out.splitlines() == ["y_0,y_1", "1234567.89,0.25", "1234567.89,-3e-09"]
    clf = cr.Network.from_sizes([1, 2], seed=0)  # a float32 softmax: its probabilities as float32 prints them
    clf.metadata["feature_names"] = ["x"]
    cr.save(clf, tmp_path / "c.safetensors")
    status, out, err = call(capsys, "predict", tmp_path / "c.safetensors", tmp_path / "x.csv")
    p = clf.predict_proba(np.array([[0.25], [-3e-9]]))
    assert [row.split(",")[1:] for row in out.splitlines()[1:]] == [[str(v) for v in r] for r in p]


def test_a_model_of_named_columns_is_not_scored_on_other_features(tmp_path, capsys):
    """A model of columns a, b evaluated (or explained) on xor, whose features are x1, x2, gave an
    accuracy without a word: the names differ, so it is refused; xor's model on moons (x1, x2) is not."""
    rng = np.random.default_rng(1)
    rows = "\n".join(f"{a:.4f},{b:.4f},{int(a > b)}" for a, b in rng.normal(size=(80, 2)))
    (tmp_path / "ab.csv").write_text("a,b,y\n" + rows + "\n")
    cr.Experiment(data=str(tmp_path / "ab.csv"), hidden=(4,), epochs=2).run(tmp_path / "ab")
    model = tmp_path / "ab" / "model.safetensors"
    for command in (
        ["evaluate", model, "--data", "xor"],
        ["explain", model, "--data", "xor", "--layer", "1", "--weight", "1,1"],
    ):
        status, _, err = call(capsys, *command)
        assert "the model's inputs are a, b, but xor's features are x1, x2" in one_error_line(status, err)
    status, _, err = call(capsys, "evaluate", model, "--data", tmp_path / "ab.csv", "--target", "a")
    assert "--target a is one of the model's input columns; the model predicts 'y'" in one_error_line(
        status, err
    )
    renamed = (tmp_path / "ab.csv").read_text().replace("a,b,y", "a,b,label", 1)
    (tmp_path / "renamed.csv").write_text(renamed)
    status, out, err = call(
        capsys, "evaluate", model, "--data", tmp_path / "renamed.csv", "--target", "label"
    )
    assert status == 0 and "all 80 rows" in out, err
    cr.Experiment(data="xor", hidden=(4,), epochs=2).run(tmp_path / "xor")
    status, out, err = call(capsys, "evaluate", tmp_path / "xor" / "model.safetensors", "--data", "moons")
    assert status == 0 and "test rows of moons" in out, err


def test_predict_and_export_never_replace_a_pipe(tmp_path, capsys):
    """--force renamed the predictions over a FIFO (and a device: /dev/full, as root): refused in
    one line, the FIFO still a FIFO."""
    cr.Experiment(data="xor", hidden=(3,), epochs=1).run(tmp_path / "r")
    model = tmp_path / "r" / "model.safetensors"
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    os.mkfifo(tmp_path / "out")
    for command in (
        ["predict", model, tmp_path / "x.npy", "--output", tmp_path / "out", "--force"],
        ["export", model, "--onnx", tmp_path / "out", "--force"],
    ):
        status, _, err = call(capsys, *command)
        assert "out is not a regular file (a device, a pipe or a socket)" in one_error_line(status, err)
    assert (tmp_path / "out").is_fifo()


def test_run_files_are_strict_json_and_checked_before_training(tmp_path, capsys):
    """A constant regression target gives test_r2 = NaN, which metrics.json held as a bare NaN (not
    JSON: JSON.parse and jq refuse it); a folder named model.safetensors in the run directory was
    found after the training, the run lost."""
    rows = "\n".join(f"{k / 10},{k % 3},5" for k in range(60))
    (tmp_path / "const.csv").write_text("a,b,y\n" + rows + "\n")
    cr.Experiment(data=str(tmp_path / "const.csv"), task="regression", hidden=(3,), epochs=2).run(
        tmp_path / "r"
    )
    text = (tmp_path / "r" / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in metrics.json"))
    assert metrics["test_r2"] is None
    (tmp_path / "busy" / "model.safetensors").mkdir(parents=True)
    started = time.monotonic()
    status, _, err = call(
        capsys, "train", "--data", "xor", "--epochs", "500", "--out", tmp_path / "busy", "--force"
    )
    assert "busy/model.safetensors is a directory: give a file name" in one_error_line(status, err)
    assert time.monotonic() - started < 20  # refused before 500 epochs, not after


def test_predict_reads_what_train_reads(tmp_path, capsys):
    """A .tsv trained but was refused by predict ("neither .csv nor .npy"); an empty .npy said
    "X is empty" without the file."""
    (tmp_path / "ab.tsv").write_text(
        "a\tb\ty\n" + "".join(f"{k / 7:.3f}\t{k % 5}\t{k % 2}\n" for k in range(60))
    )
    cr.Experiment(data=str(tmp_path / "ab.tsv"), hidden=(3,), epochs=1).run(tmp_path / "r")
    model = tmp_path / "r" / "model.safetensors"
    status, out, err = call(capsys, "predict", model, tmp_path / "ab.tsv")
    assert status == 0 and len(out.splitlines()) == 61, err
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    status, _, err = call(capsys, "predict", model, tmp_path / "empty.npy")
    assert "empty.npy is an empty array: give at least one row" in one_error_line(status, err)


def test_evaluate_of_a_regression_model_on_word_targets_names_no_flag_it_lacks(tmp_path, capsys):
    """It said "use --task auto or classification", a flag evaluate does not have."""
    rows = "".join(f"{k / 7:.3f},{k % 5},{k / 3:.3f}\n" for k in range(60))
    (tmp_path / "num.csv").write_text("a,b,y\n" + rows)
    cr.Experiment(data=str(tmp_path / "num.csv"), hidden=(3,), epochs=1).run(tmp_path / "r")
    (tmp_path / "words.csv").write_text("a,b,y\n" + "".join(f"{k},{k},w{k % 2}\n" for k in range(20)))
    status, _, err = call(
        capsys, "evaluate", tmp_path / "r" / "model.safetensors", "--data", tmp_path / "words.csv"
    )
    line = one_error_line(status, err)
    assert "the model predicts numbers (regression), but the target of" in line and "--task" not in line


def test_piped_output_keeps_its_lines_whole(tmp_path):
    """Piped, Rich wrapped every line at 80 columns ('… at ⏎ layers.0.W[0, 0]')."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run(
        [str(CHAINRULE), "gradcheck", "--layers", "3"], capture_output=True, text=True, env=env, cwd=tmp_path
    ).stdout
    (line,) = [x for x in out.splitlines() if x.startswith("largest relative error")]
    assert line.endswith("]") and "(to its array's largest gradient) at layers." in line


def test_regression_targets_far_from_the_outputs_scale_are_warned_of(tmp_path):
    """House prices (10⁵) trained to r² −8 without a word: a warning names the scale and the fix."""
    rng = np.random.default_rng(0)
    rows = "".join(f"{a:.3f},{200_000 + 50_000 * a:.0f}\n" for a in rng.normal(size=200))
    (tmp_path / "houses.csv").write_text("size,price\n" + rows)
    with pytest.warns(UserWarning, match=r"the targets of .*houses.csv have mean 2\.\d+e\+05 and standard"):
        cr.Experiment(
            data=str(tmp_path / "houses.csv"), target="price", task="regression", epochs=1
        ).pipeline()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cr.Experiment(data="plane", epochs=1).pipeline()  # targets of the scale of the outputs


def test_python_dash_m_chainrule_is_the_command(tmp_path):
    """`python -m chainrule` said "No module named chainrule.__main__"."""
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "gradcheck", "--layers", "2"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "passed" in done.stdout, done.stderr
