"""The fit loop and the optimisers: learning, reproducibility, early stopping, the update rules."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import chainrule as cr

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0, 1, 1, 0])


def test_xor_with_plain_full_batch_gradient_descent():
    """The seeds' setting: a 2-2-1 sigmoid network, cross entropy, θ ← θ − η∇L on all examples."""
    net = cr.Network.from_sizes([2, 2, 1], "sigmoid", loss="binary_cross_entropy", seed=0)
    history = cr.fit(net, XOR_X, XOR_Y, epochs=3000, batch_size=None, optimizer="sgd", lr=2.0)
    np.testing.assert_array_equal(net.predict(XOR_X), XOR_Y)
    assert history["loss"][-1] < 0.01
    assert history["loss"][0] > 0.69  # it started at chance: log 2
    assert history["accuracy"][-1] == 1.0


def test_xor_with_squared_error_as_seed_002():
    net = cr.Network.from_sizes([2, 2, 1], "sigmoid", "sigmoid", "squared_error", seed=1)
    cr.fit(net, XOR_X, XOR_Y, epochs=4000, batch_size=None, lr=5.0)
    np.testing.assert_array_equal(net.predict(XOR_X).ravel() > 0.5, XOR_Y == 1)


def test_digits_reach_97_percent_held_out(digits):
    X_train, X_test, y_train, y_test = digits
    net = cr.Network.from_sizes([64, 128, 10], "relu", seed=0)
    history = cr.fit(
        net, X_train, y_train, epochs=30, batch_size=32, optimizer="adam", lr=1e-3,
        validation_data=(X_test, y_test),
    )  # fmt: skip
    result = net.evaluate(X_test, y_test)
    assert result["accuracy"] >= 0.97
    assert history["val_accuracy"][-1] == result["accuracy"]
    assert history.epochs == 30 and len(history["val_loss"]) == 30


def test_lecture_network_on_digits(digits):
    """Sigmoid hidden layer, softmax + cross entropy, plain mini-batch gradient descent."""
    X_train, X_test, y_train, y_test = digits
    net = cr.Network.from_sizes([64, 30, 10], "sigmoid", seed=0)
    cr.fit(net, X_train, y_train, epochs=60, batch_size=10, optimizer="sgd", lr=0.5)
    assert net.evaluate(X_test, y_test)["accuracy"] >= 0.95


def _train(seed: int) -> cr.Network:
    rng = np.random.default_rng(99)
    X, y = rng.normal(size=(300, 8)), rng.integers(0, 3, 300)
    net = cr.Network.from_sizes([8, 16, 16, 3], ["tanh", "relu"], dropout=0.2, seed=seed)
    cr.fit(net, X, y, epochs=4, batch_size=32, optimizer="adam", lr=1e-2, validation_data=(X[:50], y[:50]))
    return net


def test_same_seed_gives_bit_identical_weights():
    a, b = _train(seed=7), _train(seed=7)
    assert a.flat_params.tobytes() == b.flat_params.tobytes()
    assert not np.array_equal(a.flat_params, _train(seed=8).flat_params)


def test_full_batch_is_one_step_per_epoch_on_the_whole_loss():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    net = cr.Network.from_sizes([3, 4, 2], "tanh", seed=0, dtype="float64")
    manual = net.copy()
    cr.fit(net, X, y, epochs=3, batch_size=None, lr=0.1)
    for _ in range(3):
        _, grads = manual.loss_and_grad(X, y)
        for p, g in zip(manual.parameters(), grads, strict=True):
            p -= 0.1 * g
    np.testing.assert_allclose(net.flat_params, manual.flat_params, rtol=1e-13)


def test_minibatches_follow_the_seeded_order():
    """fit gathers batch rows in a permutation drawn from the network's generator."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(25, 3)), rng.integers(0, 2, 25)
    net = cr.Network.from_sizes([3, 4, 2], seed=5, dtype="float64")
    manual = net.copy()
    cr.fit(net, X, y, epochs=2, batch_size=10, lr=0.1)
    order = np.arange(25)
    for _ in range(2):
        manual.rng.shuffle(order)
        for start in range(0, 25, 10):
            rows = order[start : start + 10]
            manual.loss_and_grad(X[rows], y[rows])
            manual.flat_params -= 0.1 * manual.flat_grads
    np.testing.assert_allclose(net.flat_params, manual.flat_params, rtol=1e-13)


def _one_step(opt: cr.Optimizer, g: np.ndarray, p0: np.ndarray, steps: int = 1) -> np.ndarray:
    net = cr.Network([cr.Dense(2, 2)], loss="squared_error", dtype="float64")
    net.flat_params[...] = p0
    opt.bind(net)
    for _ in range(steps):
        net.flat_grads[...] = g
        opt.step()
    return net.flat_params.copy()


def test_update_rules():
    rng = np.random.default_rng(0)
    p0, g = rng.normal(size=6), rng.normal(size=6)
    np.testing.assert_allclose(_one_step(cr.SGD(0.1), g, p0), p0 - 0.1 * g)
    # momentum, two steps: v₁ = −ηg, v₂ = μ v₁ − ηg
    v1 = -0.1 * g
    v2 = 0.9 * v1 - 0.1 * g
    np.testing.assert_allclose(_one_step(cr.SGD(0.1, momentum=0.9), g, p0, 2), p0 + v1 + v2)
    nesterov = p0 + (0.9 * v1 - 0.1 * g) + (0.9 * v2 - 0.1 * g)
    np.testing.assert_allclose(_one_step(cr.SGD(0.1, 0.9, nesterov=True), g, p0, 2), nesterov)
    # Adam after two identical steps: m̂ = g, v̂ = g², step = η g / (|g| + ε) each time
    adam = _one_step(cr.Adam(0.01), g, p0, 2)
    np.testing.assert_allclose(adam, p0 - 2 * 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-10)


def test_adam_is_the_textbook_rule_step_by_step():
    """Adam keeps m/(1 − β₁) and v/(1 − β₂) to save passes over θ: over changing gradients
    (tiny ones too, where ε matters) it stays the textbook m, v, m̂, v̂ rule (Kingma & Ba)."""
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=6)
    net = cr.Network([cr.Dense(2, 2)], loss="squared_error", dtype="float64")
    net.flat_params[...] = p0
    opt = cr.Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-6)
    opt.bind(net)
    p, m, v = p0.copy(), np.zeros(6), np.zeros(6)
    for t in range(1, 31):
        g = rng.normal(size=6) * 10.0 ** rng.integers(-7, 2, size=6)
        net.flat_grads[...] = g
        opt.step()
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g**2
        p = p - 0.01 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-6)
        np.testing.assert_allclose(net.flat_params, p, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(opt.m, m, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(opt.v, v, rtol=1e-12, atol=1e-300)
    assert opt.t == 30


def test_adam_resumes_from_a_state_that_kept_the_moments_themselves():
    """Checkpoints written before Adam kept m/(1 − β₁) and v/(1 − β₂) hold m and v: they load."""
    rng = np.random.default_rng(2)
    nets = [cr.Network([cr.Dense(2, 2)], loss="squared_error", dtype="float64") for _ in range(2)]
    a, b = cr.Adam(0.01), cr.Adam(0.01)
    for net, opt in zip(nets, (a, b), strict=True):
        net.flat_params[...] = 1.0
        opt.bind(net)
    for _ in range(3):
        nets[0].flat_grads[...] = rng.normal(size=6)
        a.step()
    b.load_state({"m": a.m, "v": a.v, "t": a.t})
    nets[1].flat_params[...] = nets[0].flat_params
    g = rng.normal(size=6)
    for net, opt in zip(nets, (a, b), strict=True):
        net.flat_grads[...] = g
        opt.step()
    np.testing.assert_allclose(nets[1].flat_params, nets[0].flat_params, rtol=1e-14)
    with pytest.raises(ValueError, match="m_sum"):
        b.load_state({"m": "damaged", "v": a.v, "t": 3})


def test_weight_decay_applies_to_weights_not_biases():
    p0, g = np.ones(6), np.zeros(6)  # W is the first 4 entries, b the last 2
    after = _one_step(cr.SGD(0.1, weight_decay=0.5), g, p0)
    np.testing.assert_allclose(after, [0.95, 0.95, 0.95, 0.95, 1.0, 1.0])


def test_schedules():
    assert cr.Constant(0.1)(50) == 0.1
    assert [cr.StepDecay(1.0, step=2, gamma=0.5)(t) for t in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert cr.ExponentialDecay(1.0, 0.9)(2) == pytest.approx(0.81)
    cosine = cr.CosineDecay(1.0, epochs=4, min_lr=0.1)
    assert [round(cosine(t), 6) for t in (0, 2, 4, 9)] == [1.0, 0.55, 0.1, 0.1]
    opt = cr.SGD(cr.StepDecay(1.0, 1, 0.5))
    rng = np.random.default_rng(0)
    net = cr.Network.from_sizes([2, 2], seed=0)
    seen = []

    class Spy(cr.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append(opt.lr)

    cr.fit(net, rng.normal(size=(8, 2)), rng.integers(0, 2, 8), epochs=3, optimizer=opt, callbacks=[Spy()])
    assert seen == [1.0, 0.5, 0.25]


def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 2, 60)  # noise: validation loss soon rises
    Xv, yv = rng.normal(size=(40, 5)), rng.integers(0, 2, 40)
    net = cr.Network.from_sizes([5, 64, 2], "relu", seed=0, dtype="float64")
    snapshots = []

    class Snapshot(cr.Callback):
        def on_epoch_end(self, epoch, logs):
            snapshots.append(net.flat_params.copy())

    history = cr.fit(
        net, X, y, epochs=200, batch_size=8, optimizer="adam", lr=0.01, validation_data=(Xv, yv),
        early_stopping=5, callbacks=[Snapshot()],
    )  # fmt: skip
    assert history.stopped_early and history.epochs < 200
    best = history.best_epoch
    assert history["val_loss"][best] == min(history["val_loss"])
    assert history.epochs == best + 1 + 5
    np.testing.assert_array_equal(net.flat_params, snapshots[best])
    assert net.evaluate(Xv, yv)["loss"] == pytest.approx(history["val_loss"][best])


def test_callback_can_stop_and_sees_batches():
    rng = np.random.default_rng(0)
    batches = []

    class StopAfterTwo(cr.Callback):
        def on_batch_end(self, batch, logs):
            batches.append((batch, logs["samples"]))

        def on_epoch_end(self, epoch, logs):
            return epoch == 1

    net = cr.Network.from_sizes([2, 2], seed=0)
    history = cr.fit(net, rng.normal(size=(10, 2)), rng.integers(0, 2, 10), epochs=9, batch_size=4,
                     callbacks=[StopAfterTwo()])  # fmt: skip
    assert history.epochs == 2
    assert batches == [(0, 4), (1, 8), (2, 10)] * 2


def test_divergence_stops_with_a_clear_error():
    X = np.array([[1e3, -1e3], [-1e3, 1e3]])
    net = cr.Network.from_sizes([2, 8, 1], "relu", loss="squared_error", seed=0)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        cr.fit(net, X, [1e3, -1e3], epochs=50, batch_size=None, lr=10.0)


def test_history_dict():
    net = cr.Network.from_sizes([2, 2], seed=0)
    h = cr.fit(net, [[0.0, 1.0], [1.0, 0.0]], [0, 1], epochs=2)
    d = h.to_dict()
    assert d["epochs"] == 2 and set(d["metrics"]) == {"loss", "accuracy"}
    assert all(math.isfinite(v) for v in d["metrics"]["loss"])


def test_training_step_allocates_no_batch_sized_arrays():
    """The hot loop reuses its buffers: after warm-up, a step allocates nothing that grows with
    the batch (NumPy's ufunc machinery keeps a fixed scratch of 8192 elements for broadcasting)."""
    n = 2048
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, 100)).astype(np.float32), rng.integers(0, 10, n)
    net = cr.Network.from_sizes([100, 200, 100, 10], "relu", dropout=0.1, seed=0)
    opt = cr.Adam(1e-3)
    opt.bind(net)
    yc = net.check_y(y, n)
    for _ in range(2):
        net.train_step(X, yc)
        opt.step()
    tracemalloc.start()
    for _ in range(5):
        net.train_step(X, yc)
        opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    smallest_buffer = n * 10 * 4  # the output layer's z, 80 KB
    assert peak < smallest_buffer, f"{peak} bytes allocated during 5 steps"


def test_bit_identical_across_processes():
    """Run after run, not only within one interpreter: nothing depends on hash seeds or addresses."""
    import subprocess
    import sys

    script = (
        "import hashlib, numpy as np, chainrule as cr;"
        "rng = np.random.default_rng(0); X, y = rng.normal(size=(200, 10)), rng.integers(0, 4, 200);"
        "net = cr.Network.from_sizes([10, 32, 4], 'relu', dropout=0.2, seed=3);"
        "cr.fit(net, X, y, epochs=3, batch_size=16, optimizer='adam', lr=1e-2);"
        "print(hashlib.sha256(net.flat_params.tobytes()).hexdigest())"
    )
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}  # fmt: skip
    assert len(runs) == 1


def test_a_pickled_network_is_whole_and_still_trains(rng):
    import copy
    import pickle

    net = cr.Network.from_sizes([4, 6, 3], "tanh", dropout=0.2, seed=3)
    net.metadata = {"classes": ["a", "b", "c"]}
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    cr.fit(net, X, y, epochs=2, batch_size=8, optimizer="adam", lr=0.01)
    for back in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert back.config() == net.config() and back.metadata == net.metadata
        np.testing.assert_array_equal(back.flat_params, net.flat_params)
        for p, g in zip(back.parameters(), back.gradients(), strict=True):  # views, not detached copies
            assert np.shares_memory(p, back.flat_params) and np.shares_memory(g, back.flat_grads)
        assert not np.shares_memory(back.flat_params, net.flat_params)
        # the same generator state: the same shuffling and dropout, hence the same next epochs
        twin = net.copy()
        cr.fit(back, X, y, epochs=2, batch_size=8, optimizer="adam", lr=0.01)
        cr.fit(twin, X, y, epochs=2, batch_size=8, optimizer="adam", lr=0.01)
        np.testing.assert_array_equal(back.flat_params, twin.flat_params)
        assert not np.array_equal(back.flat_params, net.flat_params)  # it trained


# ------------------------------------------------------------------------------------ row weights
def test_row_weights_are_repeated_rows_and_ones_change_nothing():
    """fit(sample_weight=s): full batch, integer weights train as the rows repeated (L = Σ s_n C^n
    / Σ s_n); weights of one, on shuffled mini-batches, give the unweighted fit to the last bit."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    counts = rng.integers(0, 4, 30)

    def net():
        return cr.Network.from_sizes([4, 6, 3], "tanh", dtype="float64", seed=0)

    a, b = net(), net()
    ha = cr.fit(a, X, y, epochs=5, batch_size=None, lr=0.5, sample_weight=counts)
    hb = cr.fit(b, np.repeat(X, counts, axis=0), np.repeat(y, counts), epochs=5, batch_size=None, lr=0.5)
    np.testing.assert_allclose(a.flat_params, b.flat_params, rtol=1e-12)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-12)
    a, b = net(), net()
    cr.fit(a, X, y, epochs=3, batch_size=8, optimizer="adam", sample_weight=np.ones(30))
    cr.fit(b, X, y, epochs=3, batch_size=8, optimizer="adam")
    np.testing.assert_array_equal(a.flat_params, b.flat_params)


def test_sample_weight_is_checked():
    net = cr.Network.from_sizes([2, 2], seed=0)
    for bad, match in [
        (np.ones(3), r"shape \(4,\)"),
        ([1, -1, 1, 1], "finite and ≥ 0"),
        ([1, np.nan, 1, 1], "finite and ≥ 0"),
        (np.zeros(4), "zero for every row"),
    ]:
        with pytest.raises(ValueError, match=match):
            cr.fit(net, XOR_X, XOR_Y, epochs=1, sample_weight=bad)
    with pytest.raises(TypeError, match="numbers"):
        cr.fit(net, XOR_X, XOR_Y, epochs=1, sample_weight=["a"] * 4)


def test_weighted_step_allocates_no_batch_sized_arrays():
    n = 2048
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, 100)).astype(np.float32), rng.integers(0, 10, n)
    s = rng.uniform(0, 2, n).astype(np.float32)
    net = cr.Network.from_sizes([100, 200, 100, 10], "relu", seed=0)
    yc = net.check_y(y, n)
    for _ in range(2):
        net.train_step(X, yc, s)
    tracemalloc.start()
    for _ in range(5):
        net.train_step(X, yc, s)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < n * 10 * 4, f"{peak} bytes allocated during 5 weighted steps"


def test_penalty_is_a_term_of_each_batchs_loss():
    """train_step(penalty=R): L + scale·R(θ) and ∇L + scale·∇R(θ), scale = 1/Σ s_n for the mean."""
    rng = np.random.default_rng(1)
    X, y, s = rng.normal(size=(9, 3)), rng.integers(0, 2, 9), rng.uniform(0.5, 2, 9)
    net = cr.Network.from_sizes([3, 4, 2], "tanh", dtype="float64", seed=0)
    yc = net.check_y(y, 9)
    plain = net.train_step(X, yc, s)
    g = net.flat_grads.copy()
    lam, theta = 0.3, net.flat_params

    def ridge(scale: float) -> float:  # R(θ) = λ/2 ‖θ‖²
        net.flat_grads[...] += scale * lam * theta
        return scale * lam / 2 * float(theta @ theta)

    value = net.train_step(X, yc, s, ridge)
    assert value == pytest.approx(plain + lam / 2 * float(theta @ theta) / s.sum(), rel=1e-14)
    np.testing.assert_allclose(net.flat_grads, g + lam * theta / s.sum(), rtol=1e-13)
    history = cr.fit(net, X, y, epochs=2, batch_size=None, lr=0.1, sample_weight=s, penalty=ridge)
    assert "accuracy" in history.metrics
    history = cr.fit(net, X, y, epochs=2, batch_size=None, lr=0.1, accuracy=False)
    assert "accuracy" not in history.metrics


def test_a_run_with_row_weights_resumes_bit_for_bit(tmp_path):
    rng = np.random.default_rng(2)
    X, y, s = rng.normal(size=(40, 3)), rng.integers(0, 2, 40), rng.uniform(0, 2, 40)
    kw = dict(batch_size=8, optimizer="adam", sample_weight=s)
    a, b = (cr.Network.from_sizes([3, 5, 2], seed=0) for _ in range(2))
    cr.fit(a, X, y, epochs=4, **kw)
    cr.fit(b, X, y, epochs=2, checkpoint=tmp_path / "run", **kw)
    with pytest.raises(ValueError, match="sample_weight"):
        cr.fit(b, X, y, epochs=4, checkpoint=tmp_path / "run", resume=True, **{**kw, "sample_weight": s + 1})
    cr.fit(b, X, y, epochs=4, checkpoint=tmp_path / "run", resume=True, **kw)
    np.testing.assert_array_equal(a.flat_params, b.flat_params)


# ------------------------------------------------------------------------------------ scikit-learn's rules
def test_plateau_is_scikit_learns_stopping_rule():
    """A stall: no better than the best by more than tol; the best moves on any improvement;
    more than `patience` stalls in a row stop, or lower η by `factor` (until η ≤ min_lr)."""
    from chainrule.stopping import Plateau

    net = cr.Network.from_sizes([2, 2], seed=0)
    rule = Plateau(tol=0.1, patience=2)
    rule.on_train_begin(net, cr.History())
    losses = [1.0, 0.95, 0.93, 0.80, 0.79, 0.78, 0.77]  # 0.80 beats 0.93 by more than tol: no stall
    stops = [rule.on_epoch_end(e, {"loss": v}) for e, v in enumerate(losses)]
    assert stops == [False] * 6 + [True] and rule.best == 0.77 and rule.history.stopped_early
    opt = cr.SGD(0.1)
    rule = Plateau("val_score", mode="max", tol=0.0, patience=0, optimizer=opt, factor=0.2, min_lr=0.005)
    rule.on_train_begin(net, cr.History())
    stops = [rule.on_epoch_end(e, {"val_score": v}) for e, v in enumerate([0.5, 0.4, 0.4, 0.3])]
    assert stops == [False, False, False, True]  # η 0.1 → 0.02 → 0.004, then it stops
    assert opt.lr == pytest.approx(0.004) and opt.schedule(7) == pytest.approx(0.004)
    net = cr.Network.from_sizes([2, 4, 2], "tanh", seed=0)
    rule = Plateau(tol=1.0, patience=1, restore_best_weights=True)
    history = cr.fit(net, XOR_X, XOR_Y, epochs=50, lr=0.5, callbacks=[rule])
    assert history.epochs == 3 and history.stopped_early  # epochs 2 and 3 stall: more than 1
    assert history["loss"][history.best_epoch] == rule.best == min(history["loss"])


def test_inverse_scaling_counts_the_samples_seen():
    from chainrule.schedules import InverseScaling

    sched = InverseScaling(0.1, 0.5, rows=100, seen=300)
    assert sched(0) == pytest.approx(0.1 / 301**0.5) and sched(2) == pytest.approx(0.1 / 501**0.5)
    assert InverseScaling(0.1, 0.5, rows=100)(0) == 0.1
    with pytest.raises(ValueError, match="rows"):
        InverseScaling(0.1, 0.5, rows=0)


@pytest.mark.parametrize("check_gradients", [True, False])
def test_divergence_without_the_gradient_check_still_keeps_good_weights(check_gradients):
    """check_gradients=False checks each batch's loss only: the blow-up is found a batch later
    (or at the end of the epoch), and the weights go back to the start of that epoch."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)) * 1e3, rng.normal(size=64) * 1e3
    net = cr.Network.from_sizes([3, 8, 1], "relu", loss="squared_error", seed=0)
    with pytest.raises(cr.DivergenceError, match="diverged in epoch"):
        cr.fit(net, X, y, epochs=20, batch_size=16, lr=1.0, check_gradients=check_gradients)
    assert np.isfinite(net.flat_params).all()
    with pytest.raises(ValueError, match="clip_norm needs check_gradients"):
        cr.fit(net, X, y, epochs=1, clip_norm=1.0, check_gradients=False)
