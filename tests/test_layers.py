"""Layers, activations and losses one at a time: values, derivatives, numerical stability."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.activations import ACTIVATIONS
from chainrule.losses import LOSSES


def _numeric_derivative(act: cr.layers.Activation, z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    up = act.forward(z + h).copy()
    down = act.forward(z - h).copy()
    return (up - down) / (2 * h)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_elementwise_derivative_matches_finite_differences(name):
    z = np.random.default_rng(0).normal(0, 2, size=(5, 4))
    z[np.abs(z) < 1e-3] = 0.5  # stay off the ReLU kink
    act = ACTIVATIONS[name]()
    expected = _numeric_derivative(act, z)
    act.forward(z)
    np.testing.assert_allclose(act.derivative(), expected, rtol=1e-7, atol=1e-9)


def test_softmax_backward_is_its_jacobian_times_the_gradient():
    rng = np.random.default_rng(1)
    z, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    act = cr.Softmax()
    a = act.forward(z).copy()
    delta = act.backward(g.copy())
    for n in range(3):
        jacobian = np.diag(a[n]) - np.outer(a[n], a[n])  # ∂a_k/∂z_j = a_k (1[k=j] − a_j)
        np.testing.assert_allclose(delta[n], jacobian @ g[n], rtol=1e-12)
    np.testing.assert_allclose(act.derivative(), a * (1 - a))


def test_values_of_each_activation():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(cr.Sigmoid().forward(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_allclose(cr.Tanh().forward(z), np.tanh(z))
    np.testing.assert_array_equal(cr.ReLU().forward(z), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(cr.LeakyReLU(0.1).forward(z), [[-0.2, 0.0, 3.0]])
    np.testing.assert_allclose(cr.Softmax().forward(z), np.exp(z) / np.exp(z).sum(), rtol=1e-15)
    assert cr.Identity().forward(z) is z


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_overflow_for_huge_logits(dtype):
    """|z| ~ 1e4: log-sum-exp softmax, a sigmoid that cannot overflow, no log(0) in the losses."""
    z = np.array([[1e4, 0.0, -1e4]], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        sig = cr.Sigmoid()
        np.testing.assert_array_equal(sig.forward(z), [[1.0, 0.5, 0.0]])
        soft = cr.Softmax()
        np.testing.assert_array_equal(soft.forward(z), [[1.0, 0.0, 0.0]])
        ce = cr.CrossEntropy(reduction="sum")
        assert ce.value(soft, np.array([0])) == 0.0
        assert ce.value(soft, np.array([2])) == pytest.approx(2e4)  # −log softmax = lse − z = 2e4
        bce = cr.BinaryCrossEntropy(reduction="sum")
        sig.forward(z)
        assert bce.value(sig, np.array([[1.0, 1.0, 1.0]], dtype=dtype)) == pytest.approx(1e4 + np.log(2))
        assert bce.value(sig, np.array([[0.0, 0.0, 0.0]], dtype=dtype)) == pytest.approx(1e4 + np.log(2))


def test_cross_entropy_labels_one_hot_and_soft_agree():
    rng = np.random.default_rng(2)
    net = cr.Network.from_sizes([3, 4], loss="cross_entropy", seed=0, dtype="float64")
    X, labels = rng.normal(size=(6, 3)), rng.integers(0, 4, 6)
    one_hot = np.eye(4)[labels]
    loss_int, g_int = net.loss_and_grad(X, labels)
    g_int = [g.copy() for g in g_int]
    loss_hot, g_hot = net.loss_and_grad(X, one_hot)
    assert loss_int == pytest.approx(loss_hot, rel=1e-14)
    for a, b in zip(g_int, g_hot, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    p = net.predict_proba(X)
    assert loss_int == pytest.approx(-np.mean(np.log(p[np.arange(6), labels])), rel=1e-12)
    soft = np.full((6, 4), 0.25)
    assert net.loss_and_grad(X, soft)[0] == pytest.approx(-np.mean(np.log(p).sum(axis=1) / 4), rel=1e-12)


@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy", "squared_error"])
def test_sum_reduction_is_n_times_the_mean(name):
    rng = np.random.default_rng(3)
    k = 3
    y = rng.integers(0, k, 5) if name == "cross_entropy" else rng.integers(0, 2, (5, k)).astype(float)
    X = rng.normal(size=(5, 2))
    mean = cr.Network.from_sizes([2, k], loss=name, seed=0, dtype="float64")
    total = cr.Network.from_sizes([2, k], loss=name, reduction="sum", seed=0, dtype="float64")
    lm, gm = mean.loss_and_grad(X, y)
    ls, gs = total.loss_and_grad(X, y)
    assert ls == pytest.approx(5 * lm, rel=1e-13)
    np.testing.assert_allclose(gs[0], 5 * gm[0], rtol=1e-12)


def test_squared_error_is_half_the_sum_of_squares():
    net = cr.Network([cr.Dense(1, 2)], loss="squared_error", reduction="sum", dtype="float64")
    net.levels[0].W[...] = [[1.0, 2.0]]
    loss, _ = net.loss_and_grad([[1.0], [2.0]], [[0.0, 0.0], [1.0, 1.0]])
    assert loss == pytest.approx(0.5 * (1 + 4 + 1 + 9))
    assert isinstance(net.layers[-1], cr.Identity)  # a network ending in Dense is linear


def test_dropout_drops_scales_and_switches_off_at_inference():
    drop = cr.Dropout(0.25)
    drop.rng = np.random.default_rng(0)
    a = np.ones((400, 50))
    assert drop.forward(a, training=False) is a
    out = drop.forward(a, training=True)
    kept = out != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(out[kept], 1 / 0.75)  # inverted scaling keeps E[a] unchanged
    g = drop.backward(np.ones_like(a))
    np.testing.assert_array_equal(g != 0, kept)  # the same mask on the way back


def test_dense_shapes_follow_seed_002():
    d = cr.Dense(3, 2)
    assert d.W.shape == (3, 2) and d.b.shape == (2,)
    d.W[...] = [[1, 0], [0, 1], [1, 1]]
    np.testing.assert_array_equal(d.forward(np.array([[1.0, 2.0, 3.0]])), [[4.0, 5.0]])


def test_initialisers_suit_the_activation():
    net = cr.Network.from_sizes([400, 300, 300, 10], ["relu", "tanh"], seed=0, dtype="float64")
    he, glorot, _ = (level.W for level in net.levels)
    assert he.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert np.abs(glorot).max() <= np.sqrt(6 / 600)
    assert glorot.std() == pytest.approx(np.sqrt(2 / 600), rel=0.02)  # U(−r, r): std r/√3
    assert all((level.b == 0).all() for level in net.levels)


def test_names_are_validated():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        cr.Network.from_sizes([2, 3, 2], "swish")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        cr.Network.from_sizes([2, 2], loss="hinge")
    with pytest.raises(ValueError, match="unknown reduction"):
        cr.CrossEntropy(reduction="max")
    with pytest.raises(ValueError, match="alpha"):
        cr.LeakyReLU(-0.5)
    with pytest.raises(ValueError, match="Dropout p"):
        cr.Dropout(1.0)
    with pytest.raises(ValueError, match="positive integer"):
        cr.Dense(0, 3)
    with pytest.raises(ValueError, match="unknown initialiser"):
        cr.Dense(2, 3, init="lecun")
    assert set(LOSSES) >= {"cross_entropy", "binary_cross_entropy", "squared_error"}


def test_architecture_is_validated():
    with pytest.raises(ValueError, match="Dense expects 4 inputs but the layer below gives 3"):
        cr.Network([cr.Dense(2, 3), cr.ReLU(), cr.Dense(4, 2), cr.Softmax()])
    with pytest.raises(ValueError, match="cross_entropy needs a Softmax output layer"):
        cr.Network([cr.Dense(2, 3), cr.Sigmoid()], loss="cross_entropy")
    with pytest.raises(ValueError, match="binary_cross_entropy needs a Sigmoid output"):
        cr.Network([cr.Dense(2, 1)], loss="binary_cross_entropy")
    with pytest.raises(ValueError, match="single output"):
        cr.Network([cr.Dense(2, 1), cr.Softmax()])
    with pytest.raises(ValueError, match="at least one Dense"):
        cr.Network([cr.ReLU()])
    relu = cr.ReLU()
    with pytest.raises(ValueError, match="appears twice"):
        cr.Network([cr.Dense(2, 2), relu, cr.Dense(2, 2), relu], loss="squared_error")
    with pytest.raises(ValueError, match="one per hidden layer"):
        cr.Network.from_sizes([2, 3, 3, 2], ["relu"])


def test_explicit_weights_are_kept_and_layers_are_not_shared():
    dense = cr.Dense(2, 1, W=[[2.0], [3.0]], b=[1.0])
    net = cr.Network([dense], loss="squared_error", seed=0)
    np.testing.assert_array_equal(net.forward([[1.0, 1.0]]), [[6.0]])
    with pytest.raises(ValueError, match="already belongs to another Network"):
        cr.Network([dense], loss="squared_error")
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        cr.Dense(2, 1, W=np.ones((1, 2)))


def test_a_given_bias_survives_initialisation():
    net = cr.Network([cr.Dense(2, 3, b=[1.0, 2.0, 3.0]), cr.Softmax()], seed=0)
    np.testing.assert_array_equal(net.levels[0].b, [1.0, 2.0, 3.0])
    assert np.abs(net.levels[0].W).max() > 0  # W was drawn


def test_scratch_views_follow_the_batch_size_and_dtype():
    """Buffers are sized once per batch size: a smaller batch reuses the larger buffer's first
    rows, values stay right whatever the order of sizes, and a new dtype gets new buffers."""
    rng = np.random.default_rng(0)
    net = cr.Network.from_sizes([4, 6, 3], "relu", seed=0)
    dense, relu, soft = net.layers[0], net.layers[1], net.layers[-1]
    X = rng.normal(size=(5, 4)).astype(np.float32)
    seen = []
    for n in (5, 3, 5, 1):
        a = net.forward(X[:n])
        z = X[:n] @ dense.W + dense.b
        np.testing.assert_allclose(dense.z, z, rtol=1e-6)
        np.testing.assert_allclose(relu.a, np.maximum(z, 0), rtol=1e-6)
        logits = relu.a @ net.layers[2].W + net.layers[2].b
        expected = np.exp(logits - logits.max(axis=1, keepdims=True))
        np.testing.assert_allclose(a, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5)
        assert soft.log_sum_exp.shape == (n,)
        seen.append(dense.z.base)
    assert all(base is seen[0] for base in seen)  # one buffer, made for the first batch of 5

    standalone = cr.Dense(4, 2, W=np.ones((4, 2)))
    standalone.forward(np.ones((2, 4)))  # float64 scratch
    net32 = cr.Network([standalone, cr.Softmax()])
    assert net32.forward(np.ones((2, 4))).dtype == np.float32 and standalone.z.dtype == np.float32


@pytest.mark.parametrize("k", [3, 200])  # a few classes (the row max down zᵀ) and many
def test_softmax_of_few_and_many_classes(k):
    z = np.random.default_rng(k).normal(scale=30, size=(7, k))
    soft = cr.Softmax()
    a = soft.forward(z)
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(a, expected / expected.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(soft.log_sum_exp, np.log(np.exp(z - 100).sum(axis=1)) + 100, rtol=1e-12)
