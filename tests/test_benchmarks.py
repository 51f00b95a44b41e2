"""The benchmark runner cannot rot: its floor computes chainrule's math, its anchors agree with
chainrule, and a smoke run on tiny sizes writes every section. No speed is asserted here: speed
is measured by `python -m benchmarks` (docs/performance.md)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import struct

import numpy as np
import pytest
from benchmarks import fashion, main
from benchmarks.anchors import make_trainer
from benchmarks.fashion import read_idx
from benchmarks.numpy_loop import NumpyLoop
from benchmarks.timing import speedups
from benchmarks.workloads import Workload, initial_params, synthetic, train_flops_per_sample

import chainrule as cr

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.parametrize(
    ("sizes", "activation", "optimizer", "batch"),
    [
        ([20, 16, 12, 10], "relu", "sgd", 32),
        ([20, 16, 10], "sigmoid", "adam", 50),  # 1000 = 20 batches of 50
        ([20, 16, 12, 10], "relu", "adam", 64),  # a short last batch (1000 = 15 × 64 + 40)
        ([20, 16, 10], "sigmoid", "sgd", None),  # full batch
    ],
)
def test_numpy_loop_ends_where_chainrule_ends(sizes, activation, optimizer, batch):
    """Same weights, same shuffles (a generator in the network's state), same steps: the same
    loss and weights after three epochs, although the loop shares no code with the library."""
    rng = np.random.default_rng(0)
    X, y = rng.random((1000, sizes[0]), dtype=np.float32), rng.integers(0, 10, 1000)
    lr = 0.05 if optimizer == "sgd" else 1e-3
    net = cr.Network.from_sizes(sizes, activation, seed=1)
    start = [(level.W.copy(), level.b.copy()) for level in net.levels]
    same_rng = np.random.default_rng()
    same_rng.bit_generator.state = net.rng.bit_generator.state
    loop = NumpyLoop(start, activation, optimizer, lr, batch or len(X), same_rng)

    history = cr.fit(net, X, y, epochs=3, batch_size=batch, optimizer=optimizer, lr=lr)
    loop_loss = loop.fit(X, y, epochs=3)

    assert loop_loss == pytest.approx(history["loss"][-1], rel=1e-5)
    for level, (W, b) in zip(net.levels, loop.params(), strict=True):
        np.testing.assert_allclose(W, level.W, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b, level.b, rtol=1e-5, atol=1e-7)
    moved = max(np.abs(level.W - W0).max() for level, (W0, _) in zip(net.levels, start, strict=True))
    assert moved > 1e-3  # the comparison is of weights that really trained


def test_loop_predicts_chainrule_probabilities():
    w = Workload("sigmoid", "sgd", 32)
    X, y = synthetic(64)
    params = initial_params(w.sizes, w.activation)
    ours, loop = (make_trainer(a, w, X, y, params) for a in ("chainrule", "numpy"))
    np.testing.assert_allclose(loop.predict_proba(X), ours.predict_proba(X), rtol=1e-5, atol=1e-7)


def test_speedups_pair_the_repeats_of_a_round():
    # round 2 ran under load from elsewhere: both slowed down, the ratio within the round did not
    times = {"chainrule": [1.0, 2.0, 1.0], "torch": [2.0, 4.0, 3.0], "numpy": [1.0, 1.0, 1.0]}
    assert speedups(times) == {"torch": 2.0, "numpy": 1.0}


def test_flop_count_of_a_training_example():
    # forward z = a W and ∂L/∂W = aᵀ δ for all three layers, δ Wᵀ for the upper two; 2 FLOPs per multiply-add
    products = [784 * 256, 256 * 128, 128 * 10]
    assert train_flops_per_sample([784, 256, 128, 10]) == 2 * (2 * sum(products) + sum(products[1:]))


def test_read_idx(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB3I", 0, 0x08, 3, 2, 3, 4) + images.tobytes())
    np.testing.assert_array_equal(read_idx(path), images)
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB1I", 0, 0x0D, 1, 2) + b"\0" * 8)  # 0x0D: float32, not ours
    with pytest.raises(ValueError, match="unsigned bytes"):
        read_idx(path)


def test_smoke_run(tmp_path, capsys):
    """The runner on tiny sizes: every section present, every figure a positive finite number,
    every printed ratio chainrule's throughput over the other's, and the anchors computing
    chainrule's numbers (the NumPy loop exactly, PyTorch and scikit-learn to float32 rounding)."""
    out = tmp_path / "bench.json"
    args = ["--smoke", "--threads", "1", "--json", str(out), "--fashion-dir", str(tmp_path)]
    if not HAS_TORCH:
        args += ["--anchors", "chainrule", "numpy", "sklearn"]
    assert main(args) == 0
    report = json.loads(out.read_text())
    anchors = ["chainrule", "numpy", "sklearn"] + (["torch"] if HAS_TORCH else [])
    printed = capsys.readouterr().out
    assert "training throughput" in printed and "targets" in printed
    assert "time to accuracy skipped" in printed  # no Fashion-MNIST in tmp_path: said, not fatal

    assert report["machine"]["threads"] == 1 and report["sgemm_peak_gflops"]["numpy"] > 0
    rows = report["train"]
    assert {(r["network"], r["optimizer"], r["batch"]) for r in rows} == {
        (net, opt, batch)
        for net in ("784-256-128-10 relu", "784-30-10 sigmoid")
        for opt in ("sgd", "adam")
        for batch in (32, "full")
    }
    for row in rows + report["inference"]:
        rate = row["samples_per_s"]
        assert set(rate) == set(anchors)
        assert all(math.isfinite(v) and v > 0 for v in rate.values())
        times = row["times_s"]
        assert set(row["ratio"]) == set(anchors) - {"chainrule"}
        for other, ratio in row["ratio"].items():  # one repeat: the ratio of the two times
            assert ratio == pytest.approx(times[other][0] / times["chainrule"][0])
            assert ratio == pytest.approx(rate["chainrule"] / rate[other])

    agreement = {(r["network"], r["optimizer"], r["anchor"]): r for r in report["agreement"]}
    for (network, optimizer, anchor), r in agreement.items():
        # float32 sums in another order can move a ReLU's z across 0, and that unit's gradient
        # with it: PyTorch and scikit-learn agree to a few % of a step, the NumPy loop exactly
        bound, loss_tol = {"chainrule": (0, 0), "numpy": (1e-6, 1e-6)}.get(anchor, (0.1, 1e-3))
        if anchor == "sklearn" and optimizer == "adam":
            bound, loss_tol = 1.0, 1e-2  # scikit-learn adds ε to √v, not to √v̂: tiny gradients differ
        assert r["relative_to_step"] <= bound, r
        assert r["loss"] == pytest.approx(agreement[(network, optimizer, "chainrule")]["loss"], abs=loss_tol)

    memory = report["memory"]
    assert set(memory["by_anchor"]) == set(anchors)
    for r in memory["by_anchor"].values():
        assert 0 < r["after_import"] <= r["after_data"] <= r["peak"]
    command = memory["fashion_command"]  # the Fashion-MNIST command of docs/results.md (smoke: 2000 rows)
    if "skipped" not in command:
        assert command["command"].startswith("chainrule train --data fashion-mnist --layers 512,256")
        assert 40 < command["peak"] < 350 and command["float32_images"] == pytest.approx(209.4, abs=0.1)
    assert report["scaling"]["batch"][0]["chainrule"] > 0
    targets = {t["target"]: t for t in report["targets"]}
    assert targets["chainrule/numpy loop, every batch"]["goal"] == 0.95
    # a goal is above the ceiling where even a step at the sgemm peak would not reach it
    peak = max(report["sgemm_peak_gflops"].values())
    sklearn = targets["chainrule/sklearn"]
    assert sklearn["rows"] == len(rows)
    assert sklearn["above_ceiling"] == sum(2.5 * r["gflops"]["sklearn"] > peak for r in rows)

    # the estimators against scikit-learn's, given float64 data and a float32 copy, and the floor
    fits = {r["solver"]: r for r in report["estimators"]}
    assert set(fits) == {"adam", "sgd"}
    for r in fits.values():
        times = r["times_s"]
        assert set(times) == {"chainrule", "sklearn float64", "sklearn float32", "floor"}
        assert all(len(t) == 1 and t[0] > 0 for t in times.values())
        for other, ratio in r["ratio"].items():
            assert ratio == pytest.approx(times[other][0] / times["chainrule"][0])
        assert r["ceiling"] == pytest.approx(times["sklearn float64"][0] / times["floor"][0])
        assert r["of_floor"] == pytest.approx(times["chainrule"][0] / times["floor"][0])
        assert all(math.isfinite(v) and v > 0 for v in r["final_loss"].values())
    estimators = targets["chainrule.sklearn/sklearn MLPClassifier (float64 data)"]
    assert estimators["value"] == min(r["ratio"]["sklearn float64"] for r in fits.values())
    assert estimators["above_ceiling"] == sum(r["ceiling"] < 2.5 for r in fits.values())


def test_estimators_section_says_it_is_skipped_without_the_sklearn_anchor(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["--smoke", "--threads", "1", "--sections", "estimators", "--anchors", "chainrule", "numpy"]
    assert main([*args, "--json", str(out)]) == 0
    assert "estimators section skipped: it needs the sklearn anchor" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert "estimators" not in report and report["targets"] == []


@pytest.mark.skipif(not fashion.DEFAULT_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_smoke_time_to_accuracy_on_the_fashion_mnist_files(tmp_path):
    """The time-to-accuracy section on the real files (--smoke: 2000 rows, target 0.5, at most 3
    epochs), so that it cannot rot: every contender reaches the target, and the medians are
    those of its runs."""
    out = tmp_path / "bench.json"
    anchors = ["chainrule", "torch"] if HAS_TORCH else ["chainrule"]
    args = ["--smoke", "--threads", "1", "--sections", "fashion", "--anchors", *anchors, "--json", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())["fashion"]
    assert result["target"] == 0.5
    for anchor in anchors:
        (run,) = result[anchor]["runs"]  # one repeat in a smoke run
        assert run is not None and run["accuracy"] >= 0.5 and 1 <= run["epochs"] <= 3 and run["seconds"] > 0
        assert result[anchor]["median_seconds"] == run["seconds"]
        assert result[anchor]["median_seconds_per_epoch"] == pytest.approx(run["seconds"] / run["epochs"])
