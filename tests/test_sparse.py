"""Sparse X in the core: `chainrule.fit` on a CSR matrix takes the steps it takes on the same rows
dense (z = x W + b and ∂L/∂W = xᵀ δ on the stored entries), and only batches are ever copied."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

import chainrule as cr
from chainrule.batches import Batches


def _data():
    X = scipy.sparse.random(90, 40, density=0.05, random_state=1, format="csr")
    y = np.random.default_rng(0).integers(0, 3, 90)
    return X, y


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_fit_on_sparse_rows_equals_fit_on_dense(fmt):
    X, y = _data()
    nets = [cr.Network.from_sizes([40, 6, 3], "tanh", dtype="float64", seed=0) for _ in range(2)]
    cr.fit(nets[0], X.toarray(), y, epochs=3, batch_size=16, optimizer="adam", lr=0.01)
    cr.fit(nets[1], X.asformat(fmt), y, epochs=3, batch_size=16, optimizer="adam", lr=0.01)
    np.testing.assert_allclose(nets[1].flat_params, nets[0].flat_params, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(nets[1].predict_proba(X), nets[0].predict_proba(X.toarray()), rtol=1e-10)
    assert nets[1].evaluate(X, y)["loss"] == pytest.approx(
        nets[0].evaluate(X.toarray(), y)["loss"], rel=1e-12
    )


def test_a_batch_of_sparse_rows_stays_sparse():
    X, y = _data()
    batches = Batches(X, y, 16, shuffle=True)
    first = next(batches.epoch(np.random.default_rng(0)))
    assert scipy.sparse.issparse(first[0]) and first[0].shape == (16, 40)
    assert batches.X_buf is None  # no dense buffer of X's width


def test_sparse_gradient_is_backprops():
    X, y = _data()
    net = cr.Network.from_sizes([40, 5, 3], "sigmoid", dtype="float64", seed=2)
    _, g_sparse = net.loss_and_grad(X, y)
    g_sparse = [g.copy() for g in g_sparse]
    _, g_dense = net.loss_and_grad(X.toarray(), y)
    for a, b in zip(g_sparse, g_dense, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_nan_in_sparse_values_is_refused():
    X, _ = _data()
    X.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        cr.Network.from_sizes([40, 3], dtype="float64").check_X(X)
