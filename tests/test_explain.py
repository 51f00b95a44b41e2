"""`explain`: the chain rule of one weight, every number checked against backprop and the seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import explain, neurons
from tests.conftest import LOSS_OUTPUTS, targets
from tests.test_seeds_worked_example import A1, D1, D2, DW1, DW2, C, network  # noqa: F401


def _net(loss: str, output: str, k: int, hidden: list[str], seed: int = 0) -> cr.Network:
    net = cr.Network.from_sizes([*[4, 5, 3][: 1 + len(hidden)], k], hidden, output, loss, seed=seed)
    rng = np.random.default_rng(seed)
    for level in net.levels:  # non-zero biases: no z on a ReLU kink
        level.b[...] = rng.normal(0, 0.5, level.b.shape)
    return net


@pytest.mark.parametrize(("loss", "output", "k"), LOSS_OUTPUTS)
@pytest.mark.parametrize("hidden", [["sigmoid", "relu"], ["tanh", "leaky_relu"], ["softmax"], []])
def test_gradient_is_backprop_and_finite_difference(loss, output, k, hidden):
    rng = np.random.default_rng(3)
    net = _net(loss, output, k, hidden)
    X, y = rng.normal(size=(6, 4)), targets(loss, k, 6, rng)
    single = net.astype("float64")
    single.loss_and_grad(X[4:5], y[4:5], training=False)  # one row: ∂C/∂W of that example
    for level in range(1, len(net.levels) + 1):
        dense = net.levels[level - 1].dense
        i, j = dense.n_in - 1, dense.n_out // 2
        e = explain(net, X, y, level=level, weight=(i, j), sample=4)
        expected = single.levels[level - 1].dW[i, j]
        np.testing.assert_allclose(e.gradient, expected, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(e.finite_difference, expected, rtol=1e-6, atol=1e-9)
        assert e.relative_difference < 1e-6 or abs(expected) < 1e-9
        assert e.a == single.levels[level - 1].a_prev[0, i]
        assert e.delta == single.levels[level - 1].delta[0, j]
        assert e.w == dense.W[i, j].astype(float)


@pytest.mark.parametrize(("loss", "output", "k"), LOSS_OUTPUTS)
def test_the_chain_is_consistent_from_the_output_down(loss, output, k):
    """Each level's δ is σ'(z) · Σ_k w_jk δ_k with the δ_k of the level above; the output's δ comes
    from the loss: a − y when fused, (a − y) σ'(z) for squared error on an element-wise output."""
    rng = np.random.default_rng(5)
    net = _net(loss, output, k, ["tanh", "sigmoid"], seed=2)
    X, y = rng.normal(size=(3, 4)), targets(loss, k, 3, rng)
    e = explain(net, X, y, level=1, weight=(2, 3), sample=1)
    assert [len(lv) for lv in e.chain] == [1, 3, k]  # neuron j, then every neuron above
    assert [lv[0].level for lv in e.chain] == [1, 2, 3]
    for below, above in zip(e.chain, e.chain[1:], strict=False):
        for n in below:
            assert [t.delta for t in n.terms] == [m.delta for m in above]
            np.testing.assert_allclose(n.dC_da, sum(t.w * t.delta for t in n.terms), rtol=1e-12)
            np.testing.assert_allclose(n.delta, n.sigma_prime * n.dC_da, rtol=1e-10, atol=1e-15)
    assert e.chain[0][0].delta == e.delta
    for n in e.chain[-1]:
        if loss == "squared_error" and output != "softmax":
            np.testing.assert_allclose(n.dC_da, n.a - n.y, rtol=1e-12)
            np.testing.assert_allclose(n.delta, n.dC_da * n.sigma_prime, rtol=1e-10, atol=1e-15)
        elif loss != "squared_error":
            assert n.dC_da is None
            np.testing.assert_allclose(n.delta, n.a - n.y, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize(("loss", "output", "k"), LOSS_OUTPUTS[:4])
def test_neurons_gives_every_neurons_delta_as_explains_chains_do(loss, output, k):
    """`neurons`: how δ of every neuron of every layer was built, the same as explain's chains."""
    rng = np.random.default_rng(6)
    net = _net(loss, output, k, ["tanh", "sigmoid"], seed=4)
    X, y = rng.normal(size=(3, 4)), targets(loss, k, 3, rng)
    every = neurons(net, X, y, sample=2)
    assert [len(lv) for lv in every] == [5, 3, k] and [lv[0].level for lv in every] == [1, 2, 3]
    single = net.astype("float64")
    single.loss_and_grad(X[2:3], y[2:3], training=False)
    for level, lv in enumerate(every, start=1):
        assert [n.delta for n in lv] == pytest.approx(single.levels[level - 1].delta[0].tolist(), abs=1e-14)
        for j in (0, len(lv) - 1):
            assert lv[j] == explain(net, X, y, level=level, weight=(0, j), sample=2).chain[0][0]
    assert every[-1] == explain(net, X, y, level=1, weight=(0, 0), sample=2).chain[-1]


def test_the_seeds_worked_example(network):  # noqa: F811
    """The pocket-calculator numbers of seeds 000–002, weight w3 (from a₁ to z')."""
    x, target = np.array([[1.0, -1.0]]), np.array([[1.0, 0.0]])
    e = explain(network, x, target, level=2, weight=(0, 0))
    assert e.a == pytest.approx(A1[0], rel=1e-12)
    assert e.delta == pytest.approx(D2[0], rel=1e-12)
    assert e.gradient == pytest.approx(DW2[0][0], rel=1e-12)
    assert e.cost == pytest.approx(C, rel=1e-12)
    e = explain(network, x, target, level=1, weight=(1, 0))  # from x2 to neuron 1
    assert e.a == -1.0
    assert e.delta == pytest.approx(D1[0], rel=1e-12)
    assert e.gradient == pytest.approx(DW1[1][0], rel=1e-12)
    # δ₁ = σ'(z₁) · (w3 δ' + w4 δ''), the two terms of seed 001's case 2
    (neuron,) = e.chain[0]
    assert [(t.w, t.delta) for t in neuron.terms] == [
        (2.0, pytest.approx(D2[0])),
        (-1.0, pytest.approx(D2[1])),
    ]
    assert neuron.sigma_prime == pytest.approx(A1[0] * (1 - A1[0]), rel=1e-12)
    text = e.render()
    assert "δ = σ'(z) · Σ" in text and f"{D1[0]:.6g}" in text and f"{DW1[1][0]:.6g}" in text


def test_network_is_untouched_and_output_is_json(digits):
    X_train, _, y_train, _ = digits
    net = cr.Network.from_sizes([64, 12, 10], activation="relu", dropout=0.2, seed=0)
    before, state = net.flat_params.copy(), net.rng.bit_generator.state
    e = explain(net, X_train, y_train, level=1, weight=(20, 3), sample=7)
    assert np.array_equal(net.flat_params, before) and net.rng.bit_generator.state == state
    assert net.dtype == np.float32
    data = json.loads(json.dumps(e.to_dict()))
    assert data["gradient"] == e.gradient and len(data["chain"][1]) == 10
    assert data["chain"][0][0]["terms"][3]["k"] == 3
    assert e.a == X_train[7, 20]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": 0, "weight": (0, 0)}, "level must be 1..2"),
        ({"level": 3, "weight": (0, 0)}, "level must be 1..2"),
        ({"level": 1, "weight": (4, 0)}, "weight i"),
        ({"level": 2, "weight": (0, 3)}, "weight j"),
        ({"level": 1, "weight": (0,)}, "pair"),
        ({"level": 1, "weight": (0, 0), "sample": 6}, "sample must be an integer in 0..5"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    rng = np.random.default_rng(0)
    net = cr.Network.from_sizes([4, 5, 3], seed=0)
    with pytest.raises(ValueError, match=message):
        explain(net, rng.normal(size=(6, 4)), rng.integers(0, 3, 6), **kwargs)
