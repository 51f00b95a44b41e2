"""The 2-D toy data sets: their geometry, their labels, and that a network can learn each."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.toys import REGRESSION, TOYS, toy

CLASSIFIERS = sorted(set(TOYS) - REGRESSION)


@pytest.mark.parametrize("name", sorted(TOYS))
def test_shape_bounds_balance_and_seed(name):
    X, y = toy(name, 301, noise=0.0, seed=4)
    assert X.shape == (301, 2) and y.shape == (301,) and X.dtype == np.float64
    assert np.abs(X).max() <= 1.06
    assert np.array_equal(toy(name, 301, noise=0.0, seed=4)[0], X)
    assert not np.array_equal(toy(name, 301, noise=0.0, seed=5)[0], X)
    if name in REGRESSION:
        np.testing.assert_allclose(y, (X[:, 0] + 2 * X[:, 1]) / 3)
    else:
        assert np.bincount(y).tolist() in ([151, 150], [150, 151])


def test_the_labels_follow_the_geometry():
    X, y = toy("xor", 500, noise=0.0)
    assert np.array_equal(y, X[:, 0] * X[:, 1] > 0)
    X, y = toy("circles", 500, noise=0.0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r[y == 1].max() <= 0.5 < 0.7 <= r[y == 0].min()
    X, y = toy("spiral", 600, noise=0.0, classes=3)
    assert set(y) == {0, 1, 2}
    X, y = toy("gaussians", 400, noise=0.0, classes=4)
    centres = np.array([X[y == k].mean(axis=0) for k in range(4)])
    assert np.linalg.norm(centres, axis=1) == pytest.approx(0.55, abs=0.05)


def test_noise_is_the_jitter_standard_deviation():
    X0, _ = toy("moons", 4000, noise=0.0, seed=1)
    X1, _ = toy("moons", 4000, noise=0.2, seed=1)
    assert np.std(X1 - X0) == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_a_small_network_learns_each(name):
    hard = name == "spiral"  # two arms winding 1¾ times: the hardest of them
    X, y = toy(name, 400, noise=0.0 if hard else 0.05, seed=0, classes=2)
    net = cr.Network.from_sizes([2, 32, 32, 2] if hard else [2, 16, 16, 2], activation="tanh", seed=0)
    cr.fit(net, X, y, epochs=1000 if hard else 300, batch_size=32, optimizer="adam", lr=0.01)
    assert net.evaluate(X, y)["accuracy"] >= 0.95


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "donut"}, "unknown toy data set 'donut'"),
        ({"name": "xor", "n_samples": 0}, "n_samples must be a positive integer"),
        ({"name": "xor", "noise": -1}, "noise must be a number"),
        ({"name": "xor", "classes": 3}, "xor has 2 classes"),
        ({"name": "spiral", "classes": 11}, "spiral has 2..10 classes"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        toy(**kwargs)
