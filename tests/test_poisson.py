"""The Poisson loss (half the deviance, log link): its value is scikit-learn's, its gradient is
backprop's (against finite differences in float64), and every face reaches it through
`chainrule.heads`."""

from __future__ import annotations

import typing

import numpy as np
import pytest

import chainrule as cr
from chainrule.activations import ACTIVATIONS
from chainrule.heads import head


def _problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    y = rng.poisson(np.exp(0.5 * X[:, :1] - 0.2 * X[:, 1:2] + 0.3), (40, 1)).astype(float)
    return X, y


def test_value_is_half_the_poisson_deviance_of_scikit_learn():
    from sklearn.metrics import mean_poisson_deviance

    X, y = _problem()
    net = cr.Network.from_sizes([3, 5, 1], "tanh", loss="poisson", dtype="float64", seed=0)
    assert net.output.name == "exp"
    a = net.forward(X)
    assert (a > 0).all()
    assert net.evaluate(X, y)["loss"] == pytest.approx(
        0.5 * mean_poisson_deviance(y[:, 0], a[:, 0]), rel=1e-12
    )


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences_in_float64(reduction):
    X, y = _problem(1)
    y[:5] = 0  # y log y = 0 at y = 0
    net = cr.Network.from_sizes(
        [3, 4, 4, 2], ["tanh", "relu"], loss="poisson", reduction=reduction, dtype="float64", seed=3
    )
    result = cr.gradcheck(net, X[:8], np.hstack([y, y[::-1]])[:8])
    assert result.max_rel_error < 1e-7, str(result)


@pytest.mark.parametrize("hidden", sorted(set(ACTIVATIONS) - {"linear", "logistic"}))
def test_every_hidden_activation_before_poisson(hidden):
    """test_gradcheck's grid for this loss: each hidden activation, dropout frozen, every entry."""
    rng = np.random.default_rng(7)
    layers = [cr.Dense(3, 4), ACTIVATIONS[hidden](), cr.Dropout(0.25), cr.Dense(4, 2), ACTIVATIONS["exp"]()]
    net = cr.Network(layers, "poisson", dtype="float64", seed=1)
    for level in net.levels:
        level.b[...] = rng.normal(0, 0.5, level.b.shape)
    result = cr.gradcheck(net, rng.normal(size=(6, 3)), rng.poisson(2.0, (6, 2)).astype(float))
    assert result.max_rel_error < 1e-6, str(result)
    assert [p.checked for p in result.parameters] == [12, 4, 8, 2]


def test_delta_is_a_minus_y():
    X, y = _problem(2)
    net = cr.Network.from_sizes(
        [3, 2, 1], "sigmoid", loss="poisson", reduction="sum", dtype="float64", seed=0
    )
    a = net.forward(X)
    net.backward(y)
    np.testing.assert_allclose(net.levels[-1].delta, a - y, rtol=1e-12)


def test_targets_must_be_counts_or_rates():
    net = cr.Network.from_sizes([3, 1], loss="poisson", dtype="float64")
    with pytest.raises(ValueError, match="≥ 0"):
        net.check_y(np.array([1.0, -1.0]), 2)


def test_fit_learns_a_log_linear_rate():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(2000, 2))
    y = rng.poisson(np.exp(0.8 * X[:, 0] - 0.5 * X[:, 1] + 1.0)).astype(float)
    net = cr.Network.from_sizes([2, 1], loss="poisson", dtype="float64", seed=0)
    cr.fit(net, X, y, epochs=60, batch_size=50, optimizer="adam", lr=0.05)
    np.testing.assert_allclose(net.levels[0].W[:, 0], [0.8, -0.5], atol=0.08)
    assert net.levels[0].b[0] == pytest.approx(1.0, abs=0.08)


def test_the_head_decides_poisson_for_regression_only():
    assert head(None, "poisson", targets=2) == cr.heads.Head("poisson", "exp", 2)
    assert head(None).loss == "squared_error"
    with pytest.raises(ValueError, match="class labels"):
        head(3, "poisson")


def test_the_command_line_offers_poisson():
    from chainrule.cli.app import LossName

    assert "poisson" in typing.get_args(LossName)


def test_the_pipeline_trains_a_poisson_network_from_a_csv(tmp_path):
    """The command line's path: a CSV of counts, task=regression, loss=poisson → an exp output."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 2))
    y = rng.poisson(np.exp(X[:, 0] + 0.5))
    rows = "\n".join(f"{a:.4f},{b:.4f},{c}" for (a, b), c in zip(X, y, strict=True))
    (tmp_path / "counts.csv").write_text("x1,x2,count\n" + rows + "\n")
    experiment = cr.Experiment(
        data=str(tmp_path / "counts.csv"),
        task="regression",
        loss="poisson",
        hidden=(8,),
        epochs=20,
        optimizer="adam",
        lr=0.01,
        seed=0,
    )
    result = experiment.run(tmp_path / "run")
    model = cr.load(result.run_dir / "model.safetensors")
    assert model.loss.name == "poisson" and model.output.name == "exp"
    assert result.scores["test_r2"] > 0.1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_regressor_poisson_saves_loads_and_refuses_negative_counts(tmp_path):
    from chainrule.sklearn import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 3))
    y = rng.poisson(np.exp(X[:, 0]))
    reg = MLPRegressor("poisson", hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(X, y)
    assert reg.out_activation_ == "exp" and (reg.predict(X) > 0).all()
    again = MLPRegressor.load(reg.save(tmp_path / "poisson.safetensors"))
    assert again.loss == "poisson"
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor("poisson").fit(X, -y - 1.0)
