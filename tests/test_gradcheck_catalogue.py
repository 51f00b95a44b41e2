"""gradcheck judges the very object it is given, at any scale of gradient: a catalogue of broken
layers is caught, every one, and healthy networks 1 to 16 layers deep pass (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from tests import broken_layers as broken
from tests.conftest import targets

CASES = broken.networks()


@pytest.mark.parametrize("mistake", sorted(CASES))
def test_every_broken_layer_is_caught(mistake):
    net, loss = CASES[mistake]
    rng = np.random.default_rng(1)
    for level in net.levels:
        level.b[...] = rng.normal(0, 0.5, level.b.shape)
    X = rng.normal(size=(6, 3))
    result = cr.gradcheck(net, X, targets(loss, net.n_outputs, 6, rng))
    assert not result.passed(), f"{mistake} passed:\n{result}"
    assert result.max_rel_error > 1e-2, str(result)


def test_the_same_networks_pass_once_repaired():
    """The catalogue's networks with the stock layers in place of the broken ones pass."""
    for mistake, (net, loss) in CASES.items():
        stock = [_stock(layer) for layer in net.layers]
        healthy = cr.Network(stock, _stock_loss(net.loss), dtype="float64", seed=0)
        healthy.flat_params[...] = net.flat_params
        rng = np.random.default_rng(1)
        X = rng.normal(size=(6, 3))
        result = cr.gradcheck(healthy, X, targets(loss, net.n_outputs, 6, rng))
        assert result.passed(), f"{mistake}:\n{result}"


def _stock(layer: cr.Layer) -> cr.Layer:
    for cls in (cr.Dense, cr.Dropout, cr.Sigmoid, cr.Tanh, cr.Softmax, cr.Identity):
        if isinstance(layer, cls):
            if cls is cr.Dense:
                return cr.Dense(layer.n_in, layer.n_out)
            return cr.Dropout(layer.p) if cls is cr.Dropout else cls()
    raise AssertionError(layer)


def _stock_loss(loss: cr.Loss) -> str:
    return loss.name


@pytest.mark.parametrize("depth", [1, 2, 4, 8, 12, 14, 16])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize(
    ("loss", "output", "k"),
    [
        ("cross_entropy", "softmax", 3),
        ("binary_cross_entropy", "sigmoid", 2),
        ("squared_error", "identity", 2),
    ],
)
def test_no_false_alarm_on_healthy_networks(depth, act, loss, output, k):
    rng = np.random.default_rng(depth)
    net = cr.Network.from_sizes([3] + [4] * (depth - 1) + [k], act, output, loss, seed=depth)  # float32
    for level in net.levels:  # biases away from 0: few z on a ReLU kink
        level.b[...] = rng.normal(0, 0.5, level.b.shape)
    result = cr.gradcheck(net, rng.normal(size=(5, 3)), targets(loss, k, 5, rng))
    assert result.passed(), str(result)


@pytest.mark.parametrize("depth", [14, 16])
def test_sign_flipped_first_layer_in_a_deep_sigmoid_network_fails(depth, monkeypatch):
    """First-layer gradients of ~1e-9 to 1e-12: an absolute floor of 1e-3 would pass them all."""
    rng = np.random.default_rng(0)
    net = cr.Network.from_sizes([3] + [8] * (depth - 1) + [2], "sigmoid", seed=0)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    assert cr.gradcheck(net, X, y).passed()
    first = net.layers[0]
    original = cr.Dense.backward

    def flipped(self, grad, need_input_grad=True):
        out = original(self, grad, need_input_grad)
        if self is first:
            self.dW *= -1
        return out

    monkeypatch.setattr(cr.Dense, "backward", flipped)
    result = cr.gradcheck(net, X, y)
    assert result.parameters[0].scale < 1e-6  # the true gradient really is tiny
    assert not result.passed() and result.worst.startswith("layers.0.W"), str(result)


def test_a_backward_patched_on_the_object_itself_is_what_is_checked():
    """1 % off on this network's own layer: a rebuilt copy would hide it."""
    rng = np.random.default_rng(0)
    net = cr.Network.from_sizes([3, 4, 2], "tanh", seed=0)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    layer = net.layers[0]
    original = layer.backward

    def off(grad, need_input_grad=True):
        out = original(grad, need_input_grad)
        layer.dW *= 1.01
        return out

    layer.backward = off
    result = cr.gradcheck(net, X, y)
    assert not result.passed() and result.worst.startswith("layers.0.W"), str(result)


def test_the_object_is_left_as_it_was():
    """Same arrays (an optimiser holds them), same values, dtype and generator state."""
    net = cr.Network.from_sizes([3, 5, 2], "tanh", dropout=0.3, seed=0)
    params, grads = net.flat_params, net.flat_grads
    before, state = params.copy(), net.rng.bit_generator.state
    views = [id(p) for p in net.parameters()]
    rng = np.random.default_rng(0)
    assert cr.gradcheck(net, rng.normal(size=(4, 3)), [0, 1, 1, 0]).passed()
    assert net.flat_params is params and net.flat_grads is grads and net.dtype == np.float32
    assert np.array_equal(params, before) and net.rng.bit_generator.state == state
    assert [id(p) for p in net.parameters()] == views
    assert not net.layers[2].freeze_mask
    net.train_step(net.check_X(rng.normal(size=(4, 3))), net.check_y([0, 1, 1, 0], 4))  # still trains


class Softplus(cr.Activation):
    """A student's own activation: a = log(1 + e^z), σ'(z) = sigmoid(z)."""

    name = "softplus"

    def _sigma(self, z, out):
        np.logaddexp(0, z, out=out)

    def _times_derivative(self, grad):
        grad *= 1 / (1 + np.exp(-self.z))


class SoftplusForgotChain(Softplus):
    def _times_derivative(self, grad):
        grad[...] = 1 / (1 + np.exp(-self.z))  # σ'(z) alone: ∂C/∂a forgotten


def test_user_defined_layers_in_a_network_and_alone():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    good = cr.Network([cr.Dense(3, 4), Softplus(), cr.Dense(4, 3), cr.Softmax()], seed=0)
    assert cr.gradcheck(good, X, y).passed()
    bad = cr.Network([cr.Dense(3, 4), SoftplusForgotChain(), cr.Dense(4, 3), cr.Softmax()], seed=0)
    assert not cr.gradcheck(bad, X, y).passed()
    # alone: L = Σ R ⊙ layer(X), the input gradient checked too
    assert cr.gradcheck(Softplus(), X).passed()
    alone = cr.gradcheck(broken.WrongSignSigmoid(), X)
    assert not alone.passed() and alone.worst.startswith("input")
    assert cr.gradcheck(cr.Dense(3, 4, W=rng.normal(size=(3, 4))), X).passed()
    assert not cr.gradcheck(broken.TransposedDense(3, 3, W=rng.normal(size=(3, 3))), X).passed()


def test_a_loss_alone():
    rng = np.random.default_rng(0)
    Z, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    assert cr.gradcheck(cr.SquaredError(), Z, y).passed()
    assert cr.gradcheck(cr.CrossEntropy(), rng.normal(size=(5, 3)), [0, 1, 2, 1, 0]).passed()
    assert not cr.gradcheck(broken.OffByOneMeanSquaredError(), Z, y).passed()


def test_a_rebound_gradient_array_is_named():
    class Rebinding(cr.Dense):
        def backward(self, grad, need_input_grad=True):
            out = super().backward(grad, need_input_grad)
            self.dW = self.a_prev.T @ grad  # a new array: the optimiser never sees it
            return out

    net = cr.Network([Rebinding(3, 2), cr.Softmax()], seed=0)
    with pytest.raises(ValueError, match=r"replaced self\.dW"):
        cr.gradcheck(net, np.ones((2, 3)), [0, 1])
