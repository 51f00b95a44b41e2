"""The small network of seeds 000/001, one example worked out by hand.

    x1 ─┐  z₁ = 1·x1 − 1·x2 + 1   a₁ = σ(z₁)  ─┐  z'  = 2·a₁ − 1·a₂ + 0     y₁ = σ(z')
        ╳                                     ╳
    x2 ─┘  z₂ = −2·x1 + 1·x2 + 0  a₂ = σ(z₂)  ─┘  z'' = −1·a₁ + 1·a₂ + 0.5  y₂ = σ(z'')

x = (1, −1), target ŷ = (1, 0), C = ½ Σ (y − ŷ)² (seed 002's squared error), σ the sigmoid.
The numbers below were worked out with a pocket calculator (math.exp), not with chainrule.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

# forward pass
Z1 = [3.0, -3.0]
A1 = [0.9525741268224334, 0.04742587317756678]  # σ(3), σ(−3)
Z2 = [1.8577223804673, -0.4051482536448666]  # 2·0.95257 − 0.04743,  −0.95257 + 0.04743 + 0.5
A2 = [0.8650312520059584, 0.4000760474801536]
C = 0.08913870335121059  # ½ ((0.86503 − 1)² + 0.40008²)
# backward pass, output layer: δ' = ∂C/∂y · σ'(z') = (y − ŷ) · y (1 − y)
D2 = [-0.01575789624297681, 0.09602433403656549]
# backward pass, hidden layer: δ = σ'(z) [w3 δ' + w4 δ'']   (the reversed network of seed 004)
#   δ₁ = σ'(3)  · (2 · −0.015758 + −1 · 0.096024)
#   δ₂ = σ'(−3) · (−1 · −0.015758 + 1 · 0.096024)
D1 = [-0.00576183689794531, 0.0050499477813013465]
# ∂C/∂w = ∂z/∂w · ∂C/∂z = a · δ   (forward value times backward value)
DW1 = [[-0.00576183689794531, 0.0050499477813013465], [0.00576183689794531, -0.0050499477813013465]]
DW2 = [[-0.015010564254212138, 0.09147029614858704], [-0.0007473319887646743, 0.0045540378879784646]]


@pytest.fixture
def network() -> cr.Network:
    net = cr.Network(
        [cr.Dense(2, 2), cr.Sigmoid(), cr.Dense(2, 2), cr.Sigmoid()],
        loss="squared_error",
        reduction="sum",
        dtype="float64",
    )
    hidden, output = net.levels
    hidden.W[...] = [[1.0, -2.0], [-1.0, 1.0]]  # w_ij: from input i to neuron j (seed 002)
    hidden.b[...] = [1.0, 0.0]
    output.W[...] = [[2.0, -1.0], [-1.0, 1.0]]
    output.b[...] = [0.0, 0.5]
    return net


def test_forward_values(network):
    y = network.forward([[1.0, -1.0]])
    hidden, output = network.levels
    np.testing.assert_allclose(hidden.z[0], Z1, rtol=1e-12)
    np.testing.assert_allclose(hidden.a[0], A1, rtol=1e-12)
    np.testing.assert_allclose(output.z[0], Z2, rtol=1e-12)
    np.testing.assert_allclose(y[0], A2, rtol=1e-12)


def test_backward_values_and_gradients(network):
    loss, grads = network.loss_and_grad([[1.0, -1.0]], [[1.0, 0.0]])
    assert loss == pytest.approx(C, rel=1e-12)
    hidden, output = network.levels
    np.testing.assert_allclose(output.delta[0], D2, rtol=1e-12)
    np.testing.assert_allclose(hidden.delta[0], D1, rtol=1e-12)
    np.testing.assert_allclose(grads[0], DW1, rtol=1e-12)  # ∂C/∂W^(1)
    np.testing.assert_allclose(grads[1], D1, rtol=1e-12)  # ∂C/∂b = δ  (∂z/∂b = 1)
    np.testing.assert_allclose(grads[2], DW2, rtol=1e-12)
    np.testing.assert_allclose(grads[3], D2, rtol=1e-12)


def test_forward_pass_value_times_backward_pass_value(network):
    """∂C/∂w_ij = a_i · δ_j for every weight: the summary of the seeds."""
    network.loss_and_grad([[1.0, -1.0]], [[1.0, 0.0]])
    for level in network.levels:
        for i in range(2):
            for j in range(2):
                assert level.dW[i, j] == pytest.approx(level.a_prev[0, i] * level.delta[0, j], rel=1e-15)


def test_sigma_prime_is_the_amplifier(network):
    """δ = σ'(z) ⊙ (W δ_above): the hidden δ rebuilt from the level values."""
    network.loss_and_grad([[1.0, -1.0]], [[1.0, 0.0]])
    hidden, output = network.levels
    np.testing.assert_allclose(hidden.sigma_prime()[0], [a * (1 - a) for a in A1], rtol=1e-12)
    np.testing.assert_allclose(hidden.sigma_prime() * (output.delta @ output.W.T), hidden.delta, rtol=1e-12)


def test_one_gradient_descent_step(network):
    """θ¹ = θ⁰ − η ∇L(θ⁰), with η = 0.5."""
    before = [p.copy() for p in network.parameters()]
    cr.fit(network, [[1.0, -1.0]], [[1.0, 0.0]], epochs=1, batch_size=None, lr=0.5)
    for p, p0, g in zip(network.parameters(), before, [DW1, D1, DW2, D2], strict=True):
        np.testing.assert_allclose(p, p0 - 0.5 * np.asarray(g), rtol=1e-12)
