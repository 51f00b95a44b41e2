"""L1 and L2 regularisation in the optimisers: R(θ) = λ₁ Σ|w| + (λ₂/2) Σ w² on the weights (not the
biases); the gradient the rule steps along, ∇L + λ₁ sign(w) + λ₂ w, checked in float64 against finite
differences of the full L + R."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.gradcheck import STEPS, fourth_order_difference
from chainrule.optimizers import optimizer as make_optimizer


def _net(seed: int = 0) -> tuple[cr.Network, np.ndarray, np.ndarray]:
    net = cr.Network.from_sizes([3, 4, 3], activation="tanh", dtype="float64", seed=seed)
    rng = np.random.default_rng(seed)
    for level in net.levels:
        level.b[...] = rng.normal(0, 0.5, level.b.shape)
    return net, rng.normal(size=(7, 3)), rng.integers(0, 3, 7)


@pytest.mark.parametrize(("l1", "l2"), [(0.3, 0.0), (0.0, 0.2), (0.05, 0.1)])
def test_the_stepped_gradient_is_the_gradient_of_the_loss_plus_the_penalty(l1, l2):
    net, X, y = _net()
    opt = cr.SGD(0.1, weight_decay=l2, l1=l1)
    opt.bind(net)

    def full(theta: np.ndarray) -> float:
        net.flat_params[...] = theta
        return net.loss_and_grad(X, y, training=False)[0] + opt.penalty()

    theta = net.flat_params.copy()
    eps = 1e-4
    assert np.abs(theta).min() > 4 * eps  # no weight near the kink of |w|
    net.loss_and_grad(X, y, training=False)
    analytic = opt.gradient().copy()
    numeric = np.array(
        [fourth_order_difference([full(theta + s * eps * e) for s in STEPS], eps) for e in np.eye(theta.size)]
    )
    net.flat_params[...] = theta
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)
    # R is on the weights only: a bias's gradient is ∂L/∂b alone
    net.loss_and_grad(X, y, training=False)
    biases = np.concatenate([np.zeros(lv.W.size, bool).tolist() + [True] * lv.b.size for lv in net.levels])
    np.testing.assert_array_equal(opt.gradient()[biases], net.flat_grads[biases])


def test_l1_moves_each_weight_by_eta_lambda_sign_and_leaves_zero_and_biases():
    net = cr.Network.from_sizes([2, 2], dtype="float64", seed=0)
    net.flat_params[...] = [0.5, -0.25, 0.0, 2.0, 1.0, -1.0]  # W (2 × 2), then b
    net.flat_grads[...] = 0
    opt = cr.SGD(0.1, l1=0.5)
    opt.bind(net)
    assert opt.penalty() == pytest.approx(0.5 * (0.5 + 0.25 + 0 + 2))
    opt.step()
    np.testing.assert_allclose(net.flat_params, [0.45, -0.2, 0.0, 1.95, 1.0, -1.0])


def test_l1_works_with_every_optimiser_and_keeps_the_older_repr():
    assert repr(cr.SGD(0.1)) == "SGD(lr=Constant(lr=0.1), momentum=0.0, nesterov=False, weight_decay=0.0)"
    assert "l1=0.01" in repr(cr.Adam(0.1, l1=0.01))
    for name in ("sgd", "momentum", "nesterov", "adam"):
        net, X, y = _net(1)
        opt = make_optimizer(name, 0.01, l1=0.01)
        cr.fit(net, X, y, epochs=2, batch_size=4, optimizer=opt)
        assert np.isfinite(net.flat_params).all()
    for bad in (-1, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="l1 must be a number ≥ 0"):
            cr.SGD(0.1, l1=bad)
