"""`explain` walks the reversed network as the notes do (issue 17): output layer first, indices
from 1, no σ'(z) where δ = a − y, and the notes' 2-2-2 example one command away."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import notes_example
from tests.test_cli import call
from tests.test_seeds_worked_example import A2, D1, D2, DW1, C


def _text(loss: str, output: str, k: int) -> str:
    net = cr.Network.from_sizes([3, 4, k], "tanh", output, loss, seed=0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, 2) if loss == "cross_entropy" else rng.integers(0, 2, (2, k)).astype(float)
    return cr.explain(net, rng.normal(size=(2, 3)), y, level=1, weight=(0, 1)).render()


def test_output_layer_first_and_indices_from_one():
    text = _text("cross_entropy", "softmax", 3)
    assert text.index("layer 2:") < text.index("layer 1, neuron 2:")  # the reversed network
    assert "w_1,2^(1)" in text and "from x_1 to neuron 2" in text
    assert text.count("indices count from 1") == 1 and "W[0, 1]" in text and "--weight 0,1" in text
    rows = text.split("layer 2:")[1].splitlines()
    assert [r.split()[0] for r in rows[2:5]] == ["1", "2", "3"]  # neurons 1..3, not 0..2


@pytest.mark.parametrize(
    ("loss", "output", "k"), [("cross_entropy", "softmax", 3), ("binary_cross_entropy", "sigmoid", 2)]
)
def test_no_sigma_prime_where_delta_is_a_minus_y(loss, output, k):
    text = _text(loss, output, k)
    top = text.split("layer 2:")[1].split("layer 1,")[0]
    header = top.splitlines()[1]
    assert "σ'(z)" not in header and "∂C/∂a" not in header and header.split()[-1] == "δ"
    assert "δ = a − y" in top and "seed 003" not in text


def test_squared_error_keeps_sigma_prime_and_credits_seed_002_for_delta_only():
    net, X, y = notes_example()
    text = cr.explain(net, X, y, level=1, weight=(0, 0)).render()
    header = text.split("layer 2:")[1].splitlines()[1]
    assert "σ'(z)" in header and "∂C/∂a" in header
    assert "seed 002's δ^(O)" in text


def test_the_notes_example_has_the_pocket_calculator_numbers():
    net, X, y = notes_example()
    e = cr.explain(net, X, y, level=1, weight=(0, 0))
    assert e.cost == pytest.approx(C, rel=1e-12)
    assert e.gradient == pytest.approx(DW1[0][0], rel=1e-12)
    top = e.chain[-1]
    np.testing.assert_allclose([n.a for n in top], A2, rtol=1e-12)
    np.testing.assert_allclose([n.delta for n in top], D2, rtol=1e-12)


def test_explain_example_notes_on_the_command_line(capsys):
    status, out, _ = call(capsys, "explain", "--example", "notes")
    assert status == 0
    for value in (C, D2[0], D2[1], D1[0], DW1[0][0]):
        assert f"{value:.6g}" in out
    assert out.index("layer 2:") < out.index("layer 1, neuron 1:")
    status, out, _ = call(capsys, "explain", "--example", "notes", "--layer", "2", "--weight", "1,0")
    assert status == 0 and "w_2,1^(2)" in out


def test_explain_without_model_or_example_is_a_usage_error(capsys):
    status, _, err = call(capsys, "explain", "--layer", "1", "--weight", "0,0")
    assert status == 2 and "Missing argument 'MODEL'" in err
    status, _, err = call(capsys, "explain", "--example", "moon")
    assert status == 2 and "unknown example" in err
