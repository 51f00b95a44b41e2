"""Bad input gets a clear ValueError or TypeError that names the problem (and the fix)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


@pytest.fixture
def net() -> cr.Network:
    return cr.Network.from_sizes([3, 4, 2], seed=0)


GOOD_X = np.zeros((4, 3))
GOOD_Y = np.array([0, 1, 0, 1])


@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        (np.zeros((4, 5)), ValueError, "X has 5 features but the network expects 3"),
        (np.zeros(3), ValueError, r"X must be 2-D .* X.reshape\(1, -1\)"),
        (np.zeros((0, 3)), ValueError, "X is empty"),
        (np.array([[1.0, np.nan, 0.0]] * 4), ValueError, "NaN or inf"),
        (np.array([[1.0, np.inf, 0.0]] * 4), ValueError, "NaN or inf"),
        (np.array([[1e300, 0.0, 0.0]] * 4), ValueError, "too large for float32"),
        (np.array([["a", "b", "c"]] * 4), TypeError, "X must hold numbers"),
        ([[1.0, 2.0], [1.0]], ValueError, "not a rectangular array"),
    ],
)
def test_bad_X(net, X, error, message):
    with pytest.raises(error, match=message):
        net.predict(X)
    with pytest.raises(error, match=message):
        cr.fit(net, X, GOOD_Y, epochs=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_finiteness_check_of_X_is_exact_where_its_fast_path_overflows(dtype):
    """check_X's fast path (Σx², one BLAS pass) overflows for huge finite values: those are still
    accepted, and a single NaN or inf among them (or anywhere) is still found."""
    net = cr.Network.from_sizes([3, 4, 2], seed=0, dtype=dtype)
    huge = np.full((5000, 3), np.finfo(dtype).max / 4, dtype=dtype)  # Σx² = inf, every x finite
    assert net.check_X(huge) is not None
    for bad in (np.nan, np.inf, -np.inf):
        for where in ((0, 0), (4321, 2)):  # a first chunk and a later one of the exact check
            X = huge.copy()
            X[where] = bad
            with pytest.raises(ValueError, match="NaN or inf"):
                net.check_X(X)
            X = np.zeros((5000, 3), dtype=dtype)
            X[where] = bad
            with pytest.raises(ValueError, match="NaN or inf"):
                net.check_X(X)


@pytest.mark.parametrize(
    ("y", "error", "message"),
    [
        (np.array([0, 1, 2, 1]), ValueError, r"class labels must lie in 0..1 .* values from 0 to 2"),
        (np.array([0, -1, 0, 1]), ValueError, "must lie in 0..1"),
        (np.array([0, 1, 0]), ValueError, "X has 4 rows but y has 3"),
        (np.array([0.0, 1.0, np.nan, 1.0]), ValueError, "NaN or inf"),
        (np.array([0.5, 1.0, 0.0, 1.0]), ValueError, "whole numbers"),
        (np.array(["a", "b", "a", "b"]), TypeError, "map string labels to integers"),
        (np.array([[0.3, 0.3]] * 4), ValueError, "summing to 1"),
        (np.zeros((4, 2, 1)), ValueError, "1-D"),
        (None, ValueError, "y is missing"),
    ],
)
def test_bad_class_labels(net, y, error, message):
    with pytest.raises(error, match=message):
        cr.fit(net, GOOD_X, y, epochs=1)
    with pytest.raises(error, match=message):
        net.evaluate(GOOD_X, y)


def test_bad_regression_and_binary_targets():
    reg = cr.Network.from_sizes([3, 2], loss="squared_error", seed=0)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        cr.fit(reg, GOOD_X, np.zeros(4), epochs=1)
    with pytest.raises(ValueError, match="NaN or inf"):
        cr.fit(reg, GOOD_X, np.full((4, 2), np.inf), epochs=1)
    binary = cr.Network.from_sizes([3, 1], loss="binary_cross_entropy", seed=0)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        cr.fit(binary, GOOD_X, np.array([0, 2, 1, 0]), epochs=1)
    with pytest.raises(TypeError, match="no class probabilities"):
        reg.predict_proba(GOOD_X)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 2.5}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer or None"),
        ({"lr": 0.0}, "learning rate must be a positive number"),
        ({"lr": -1.0}, "learning rate must be a positive number"),
        ({"lr": float("nan")}, "learning rate must be a positive number"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"validation_data": (GOOD_X,)}, "validation_data must be a pair"),
        ({"early_stopping": 0}, "patience must be a positive integer"),
        ({"optimizer": cr.SGD(0.1), "lr": 0.5}, "give lr and other settings to the optimizer object"),
    ],
)
def test_bad_fit_settings(net, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cr.fit(net, GOOD_X, GOOD_Y, **kwargs)


def test_bad_optimizer_and_schedule_settings():
    with pytest.raises(ValueError, match="momentum must be in"):
        cr.SGD(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="nesterov=True needs a momentum"):
        cr.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta2"):
        cr.Adam(beta2=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        cr.SGD(0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="CosineDecay epochs"):
        cr.CosineDecay(0.1, epochs=0)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        cr.Network.from_sizes([2, 2], dtype="float16")
    with pytest.raises(ValueError, match="dtype must be"):
        cr.Network.from_sizes([2, 2], dtype="int")


def test_backward_before_forward():
    net = cr.Network.from_sizes([2, 2], seed=0)
    with pytest.raises(RuntimeError, match="call forward"):
        net.backward([0])


def test_inputs_are_converted_once_never_mixed():
    """float64 data into a float32 network computes in float32; integer features work too."""
    net = cr.Network.from_sizes([3, 4, 2], seed=0)
    out = net.forward(np.ones((2, 3), dtype=np.float64))
    assert out.dtype == np.float32
    assert net.levels[0].z.dtype == np.float32
    np.testing.assert_array_equal(net.predict(np.ones((2, 3), dtype=int)), net.predict(np.ones((2, 3))))
