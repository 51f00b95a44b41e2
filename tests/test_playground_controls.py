"""The playground's TensorFlow-Playground controls on the server: the input features (x₁, x₂, x₁²,
x₂², x₁x₂, sin x₁, sin x₂), L1 regularisation beside L2, and the bounds the page's +/− buttons
keep to."""

from __future__ import annotations

import base64

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import explain
from chainrule.playground.features import FEATURES, featurize, input_names
from chainrule.playground.session import GRID
from chainrule.playground.settings import FEATURE_NAMES, MAX_HIDDEN_LAYERS, MAX_NEURONS
from tests.test_playground_api import FULL_BATCH_SGD, new


def state(client, sid: str) -> dict:
    return client.get(f"/api/sessions/{sid}/state").json()


def rebuild(s: dict, dtype: str = "float64") -> cr.Network:
    net = cr.Network.from_config(s["config"])
    net.flat_params[...] = np.array(s["params"], dtype=net.dtype)
    return net.astype(dtype)


def test_the_features_are_the_functions_of_x1_and_x2_their_docstring_names():
    assert tuple(FEATURES) == FEATURE_NAMES
    P = np.array([[0.5, -2.0], [0.0, 3.0]])
    np.testing.assert_array_equal(
        featurize(P, FEATURE_NAMES),
        [[0.5, -2, 0.25, 4, -1, np.sin(0.5), np.sin(-2)], [0, 3, 0, 9, 0, 0, np.sin(3)]],
    )
    assert input_names(FEATURE_NAMES, ["x1", "x2"]) == ["x1", "x2", "x1²", "x2²", "x1·x2", "sin x1", "sin x2"]
    with pytest.raises(ValueError, match="computed from 2 columns"):
        featurize(np.ones((3, 3)), ["x1"])


def test_chosen_features_are_the_networks_inputs_and_the_maps_stay_over_the_plane(client):
    features = ["x1_x2", "x2_squared", "sin_x1"]
    sid, setup = new(client, features=features, hidden=[3], activation=["tanh"])
    s, frame = setup["structure"], setup["frame"]
    assert s["levels"][0] == {"n": 3, "activation": "input"}
    assert s["feature_names"] == ["x1·x2", "x2²", "sin x1"] and s["columns"] == ["x1", "x2"]
    assert s["settings"]["features"] == features and s["features"] == list(FEATURE_NAMES)
    st = state(client, sid)
    P, X = np.array(s["train"]["x"]), np.array(st["X_train"])
    assert X.shape == (len(P), 3)
    np.testing.assert_allclose(X[:, 0], P[:, 0] * P[:, 1], rtol=1e-6)  # x₁x₂ at every point
    np.testing.assert_allclose(X[:, 1], P[:, 1] ** 2, rtol=1e-6)
    np.testing.assert_allclose(X[:, 2], np.sin(P[:, 0]), rtol=1e-6)

    # the output map is the network over the (x₁, x₂) plane, each grid point turned into features
    maps = np.frombuffer(base64.b64decode(frame["maps"]), dtype=np.uint8).reshape(-1, GRID, GRID)
    assert len(maps) == 3 + 3 + 2
    x1lo, x1hi, x2lo, x2hi = s["extent"]
    centres = (np.arange(GRID) + 0.5) / GRID
    plane = np.column_stack(
        [np.tile(x1lo + centres * (x1hi - x1lo), GRID), np.repeat(x2hi - centres * (x2hi - x2lo), GRID)]
    )
    probs = rebuild(st, "float32").predict_proba(featurize(plane, features).astype(np.float32))
    np.testing.assert_allclose(maps[-1].ravel() / 255, probs[:, 1], atol=0.6 / 255)
    x1x2 = (plane[:, 0] * plane[:, 1]).reshape(GRID, GRID)  # the first input's own map: x₁x₂, its own range
    expected = np.round(255 * (x1x2 - x1x2.min()) / (x1x2.max() - x1x2.min()))
    np.testing.assert_allclose(maps[0], expected, atol=1)


def test_the_inspector_and_the_export_with_features(client, tmp_path):
    sid, _ = new(client, features=["x1", "x2", "x1_squared"], hidden=[4], activation=["relu"], seed=5)
    for _ in range(3):
        client.post(f"/api/sessions/{sid}/step", json={"sample": 1})
    st = state(client, sid)
    net, X, y = rebuild(st, "float32"), np.array(st["X_train"]), np.array(st["y_train"]).astype(int)
    shown = client.get(f"/api/sessions/{sid}/weight", params={"level": 1, "i": 2, "j": 1, "sample": 4}).json()
    e = explain(net, X, y, level=1, weight=(2, 1), sample=4)
    assert shown["gradient"] == e.gradient and shown["finite_difference"] == e.finite_difference
    assert "from x_3" in shown["text"]  # the third input, x₁²

    r = client.get(f"/api/sessions/{sid}/model")
    (tmp_path / "m.safetensors").write_bytes(r.content)
    model = cr.load(tmp_path / "m.safetensors")
    assert model.metadata["feature_names"] == ["x1", "x2", "x1²"]
    assert model.metadata["features"]["names"] == ["x1", "x2", "x1_squared"]
    assert "standardize" not in model.metadata  # the toys are used as they are
    np.testing.assert_array_equal(model.predict(X), net.predict(X))


def test_a_csv_with_features_keeps_its_standardisation_inside_the_features_entry(client, tmp_path):
    rows = "east,north,colour\n" + "".join(f"{100 + k},{-5 + (k % 7)},{k % 2}\n" for k in range(30))
    sid, _ = new(client, features=["x1", "x1_x2"], test_fraction=0.2)
    r = client.post(f"/api/sessions/{sid}/data", content=rows.encode())
    assert r.status_code == 200, r.text
    s = r.json()["structure"]
    assert s["feature_names"] == ["east", "east·north"] and s["settings"]["features"] == ["x1", "x1_x2"]
    st = state(client, sid)
    P = np.array(s["train"]["x"])
    Z = (P - P.mean(axis=0)) / P.std(axis=0)  # standardised first, then the features
    np.testing.assert_allclose(
        np.array(st["X_train"]), np.column_stack([Z[:, 0], Z[:, 0] * Z[:, 1]]), atol=1e-5
    )
    meta = st["metadata"]
    assert "standardize" not in meta and meta["features"]["columns"] == ["east", "north"]
    np.testing.assert_allclose(meta["features"]["standardize"]["mean"], P.mean(axis=0))
    r = client.get(f"/api/sessions/{sid}/model")
    (tmp_path / "m.safetensors").write_bytes(r.content)
    assert cr.load(tmp_path / "m.safetensors").metadata == meta


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"features": []}, "input features: choose at least one"),
        ({"features": ["x1", "x3"]}, "input feature 2 must be one of x1, x2, x1_squared"),
        ({"features": ["x1", "x1"]}, "input features: choose each feature at most once"),
        ({"features": "x1"}, "input features"),
        ({"features": ["x1"] * 50}, "input features"),
        ({"l1": -0.1}, "L1 λ must be at least 0"),
        ({"l1": 2}, "L1 λ must be at most 1"),
        ({"l1": "lots"}, "L1 λ must be a number"),
        ({"hidden": [4] * (MAX_HIDDEN_LAYERS + 1), "activation": ["tanh"] * 7}, "at most 6 hidden layers"),
        ({"hidden": [MAX_NEURONS + 1]}, "hidden layer 1 must have 1 to 8 neurons"),
    ],
)
def test_bad_controls_get_a_422_that_names_the_field(client, settings, message):
    r = client.post("/api/sessions", json=settings)
    assert r.status_code == 422 and message in r.json()["detail"], r.json()
    sid, setup = new(client)
    assert setup["structure"]["limits"] == {"hidden_layers": MAX_HIDDEN_LAYERS, "neurons": MAX_NEURONS}
    r = client.put(f"/api/sessions/{sid}/settings", json={**setup["structure"]["settings"], **settings})
    assert r.status_code == 422 and state(client, sid)["settings"] == setup["structure"]["settings"]


@pytest.mark.parametrize(("l1", "l2"), [(0.05, 0.0), (0.02, 0.03)])
def test_l1_moves_each_weight_by_minus_eta_times_the_gradient_plus_lambda_sign_w(client, l1, l2):
    """Full-batch SGD: Δw = −η (∂L/∂w + λ₁ sign(w) + λ₂ w), with what Step shows for each part."""
    sid, _ = new(client, hidden=[4, 3], activation=["tanh", "sigmoid"], l1=l1, l2=l2, **FULL_BATCH_SGD)
    before = state(client, sid)
    step = client.post(f"/api/sessions/{sid}/step", json={"sample": 2}).json()
    assert step["l1"] == l1 and step["l2"] == l2
    after = state(client, sid)
    X, y = np.array(before["X_train"], dtype=np.float32), np.array(before["y_train"]).astype(int)
    net = rebuild(before, "float32")
    net.loss_and_grad(X, y)
    for lv, lv_after, u in zip(net.levels, rebuild(after, "float32").levels, step["update"], strict=True):
        penalty = l1 * np.sign(lv.W) + l2 * lv.W
        np.testing.assert_allclose(u["penalty_W"], penalty, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(u["grad_W"], lv.dW, rtol=1e-5, atol=1e-7)
        moved = lv_after.W - lv.W
        np.testing.assert_allclose(u["dW"], moved, atol=1e-7)
        np.testing.assert_allclose(moved, -0.5 * (lv.dW + penalty), atol=2e-7)  # what the inspector shows
        np.testing.assert_allclose(u["db"], -0.5 * lv.db, atol=1e-6)  # no penalty on the biases

    # ∂L/∂w + ∂R/∂w is the derivative of the full L + R: a finite difference in float64
    net64, X64 = rebuild(before), X.astype(np.float64)

    def full(w: float) -> float:
        net64.levels[0].W[1, 2] = w
        R = sum(l1 * np.abs(lv.W).sum() + 0.5 * l2 * (lv.W**2).sum() for lv in net64.levels)
        return net64.loss_and_grad(X64, y, training=False)[0] + R

    w0, eps = float(net64.levels[0].W[1, 2]), 1e-5
    numeric = (full(w0 + eps) - full(w0 - eps)) / (2 * eps)
    u = step["update"][0]
    assert u["grad_W"][1][2] + u["penalty_W"][1][2] == pytest.approx(numeric, rel=1e-4)
