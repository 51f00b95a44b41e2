"""The playground's server without a browser: validation and bounds, the numbers of a step
against the library's, model files, isolated sessions, the live event stream, the command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from importlib.resources import files
from typing import get_args

import numpy as np
import pytest
from fastapi.testclient import TestClient

import chainrule as cr
from chainrule.diagram import plain, plain_rules
from chainrule.explain import explain
from chainrule.playground import create_app, running
from chainrule.playground.app import MAX_BODY
from chainrule.playground.session import GRID
from chainrule.playground.settings import DataName
from chainrule.toys import TOYS

FULL_BATCH_SGD = {"batch_size": 2000, "optimizer": "sgd", "lr": 0.5, "samples": 60, "seed": 3}


def new(client: TestClient, **settings) -> tuple[str, dict]:
    r = client.post("/api/sessions", json=settings)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()


def rebuild(state: dict, dtype: str = "float64") -> cr.Network:
    """The session's network, rebuilt with the library from the state the API reports."""
    net = cr.Network.from_config(state["config"])
    net.flat_params[...] = np.array(state["params"], dtype=net.dtype)
    return net.astype(dtype)


def training_data(state: dict) -> tuple[np.ndarray, np.ndarray]:
    y = np.array(state["y_train"])
    return np.array(state["X_train"]), y.astype(int) if state["config"]["loss"][
        "type"
    ] == "cross_entropy" else y


# ------------------------------------------------------------------------------ the page
def test_page_and_static_files_are_served_and_load_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "<script" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    static = files("chainrule.playground") / "static"
    names = sorted(p.name for p in static.iterdir())
    assert {"index.html", "playground.js", "playground.css"} <= set(names)
    for name in names:
        r = client.get(f"/static/{name}")
        assert r.status_code == 200
        urls = set(re.findall(r"https?://[^\s\"'`)]+", r.text))
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{name} refers to {urls}"  # a namespace, not a fetch
    assert client.get("/docs").status_code == 404  # the interactive docs would load scripts from a CDN


def test_the_page_scripts_are_small_modules_without_an_import_cycle():
    """One concept per module: each script says what it is, stays under 500 lines, and imports
    only files shipped beside it; the page's modules get what they need through an init call."""
    static = files("chainrule.playground") / "static"
    scripts = {p.name: p.read_text() for p in static.iterdir() if p.name.endswith(".js")}
    imports = {}
    for name, text in scripts.items():
        assert text.startswith("// "), f"{name} has no header comment"
        assert text.count("\n") < 500, f"{name} has {text.count(chr(10))} lines"
        imports[name] = re.findall(r'^import [^;]*? from "\./([\w.]+)";', text, re.MULTILINE | re.DOTALL)
        assert set(imports[name]) <= set(scripts), f"{name} imports {imports[name]}"

    def reaches(start, name, seen=()):
        return any(n == start or (n not in seen and reaches(start, n, (*seen, n))) for n in imports[name])

    assert [name for name in scripts if reaches(name, name)] == []


def test_only_loopback_host_names_are_answered(client):
    """A page elsewhere that rebinds its DNS name to 127.0.0.1 is refused."""
    assert client.post("/api/sessions", json={}, headers={"host": "attacker.example"}).status_code == 400
    assert client.post("/api/sessions", json={}, headers={"host": "localhost:8000"}).status_code == 201


def test_the_settings_offer_every_toy_and_csv():
    assert set(get_args(DataName)) == {*TOYS, "csv"}


# ------------------------------------------------------------------------------ a session
def test_a_new_session_describes_the_network_and_its_heat_maps(client):
    sid, setup = new(client, hidden=[3, 5], activation=["relu", "sigmoid"], data="spiral", classes=3)
    s, frame = setup["structure"], setup["frame"]
    assert [lv["n"] for lv in s["levels"]] == [2, 3, 5, 3]
    assert [lv["activation"] for lv in s["levels"]] == ["input", "relu", "sigmoid", "softmax"]
    assert s["classes"] == ["0", "1", "2"] and s["task"] == "classification"
    # test_fraction 0.5 of 400, split class by class as chainrule.data splits every data set
    n_train, n_test = len(s["train"]["x"]), len(s["test"]["x"])
    assert n_train + n_test == 400 and abs(n_test - 200) <= 1
    assert [np.shape(w["W"]) for w in frame["weights"]] == [(2, 3), (3, 5), (5, 3)]
    import base64

    maps = np.frombuffer(base64.b64decode(frame["maps"]), dtype=np.uint8)
    assert maps.size == GRID * GRID * (2 + 3 + 5 + 3)
    assert frame["step"] == 0 and 0 < frame["train"]["loss"] < 5 and 0 <= frame["test"]["accuracy"] <= 1
    # the output maps are the network's probabilities over the plane
    probs = maps[-3 * GRID * GRID :].reshape(3, -1).astype(float) / 255
    np.testing.assert_allclose(probs.sum(axis=0), 1, atol=3 * 0.5 / 255 + 1e-9)
    assert len(sid) >= 16


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hidden": [4] * 7, "activation": ["tanh"] * 7}, "at most 6 hidden layers"),
        ({"hidden": [4, 9]}, "hidden layer 2 must have 1 to 8 neurons"),
        ({"hidden": [0, 2]}, "hidden layer 1 must have 1 to 8 neurons"),
        ({"hidden": ["four", 2]}, "hidden layer 1 must be a whole number"),
        ({"hidden": [4, 2], "activation": ["tanh"]}, "one activation per hidden layer"),
        ({"activation": ["tanh", "swish"]}, "the activation of hidden layer 2 must be one of tanh, relu"),
        ({"lr": 0}, "learning rate η must be greater than 0"),
        ({"lr": "fast"}, "learning rate η must be a number"),
        ({"samples": 5000}, "samples must be at most 2000"),
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"dropout": 0.95}, "dropout must be at most 0.9"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"data": "mnist"}, "data set must be one of xor, circles"),
        ({"colour": "red"}, "'colour' is not a setting of the playground"),
        ({"data": "plane"}, "plane is a regression data set: use loss squared_error"),
        ({"loss": "squared_error"}, "xor is a classification data set"),
        ({"classes": 3}, "xor has 2 classes"),
        ({"data": "spiral", "classes": 3, "loss": "binary_cross_entropy"}, "it needs 2 classes"),
    ],
)
def test_bad_settings_get_a_422_that_names_the_field(client, settings, message):
    r = client.post("/api/sessions", json=settings)
    assert r.status_code == 422
    assert message in r.json()["detail"], r.json()["detail"]
    assert client.post("/api/sessions", json={}).status_code == 201  # and the server keeps serving


def test_nan_and_malformed_json_are_refused(client):
    r = client.post("/api/sessions", content=b'{"lr": NaN}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "learning rate η must be a finite number"
    r = client.post("/api/sessions", content=b'{"lr": ', headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "the request body is not valid JSON"


def test_a_body_over_the_limit_gets_413_by_length_or_while_streaming(client):
    sid, _ = new(client)
    big = b"1,2,0\n" * (MAX_BODY // 6 + 1)
    r = client.post(f"/api/sessions/{sid}/data", content=big)
    assert r.status_code == 413 and "256 KiB" in r.json()["detail"]
    chunks = (big[k : k + 4096] for k in range(0, len(big), 4096))  # no Content-Length: chunked
    r = client.post(f"/api/sessions/{sid}/data", content=chunks)
    assert r.status_code == 413 and "256 KiB" in r.json()["detail"]
    assert client.get(f"/api/sessions/{sid}/state").json()["settings"]["data"] == "xor"  # nothing changed


def test_unknown_and_malformed_session_ids(client):
    r = client.post("/api/sessions/abcdefghijklmnop/step", json={})
    assert r.status_code == 404 and "reload the page" in r.json()["detail"]
    assert client.get("/api/sessions/..%2Fetc/state").status_code in (404, 422)
    assert client.get("/api/sessions/a b c d e f g h/state").status_code == 422


# ------------------------------------------------------------------------------ CSV upload
CSV = "east,north,colour\n" + "".join(
    f"{100 + 10 * np.cos(t):.4f},{-50 + 3 * np.sin(t):.4f},{'red' if k % 3 else 'blue'}\n"
    for k, t in enumerate(np.linspace(0, 6, 40))
)


def test_a_csv_upload_with_text_labels_is_standardised_and_named(client):
    sid, _ = new(client, loss="binary_cross_entropy", test_fraction=0.25)
    r = client.post(f"/api/sessions/{sid}/data", content=CSV.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    s = r.json()["structure"]
    assert s["settings"]["data"] == "csv" and s["settings"]["loss"] == "binary_cross_entropy"
    assert (
        s["classes"] == ["blue", "red"]
        and s["feature_names"] == ["east", "north"]
        and s["target"] == "colour"
    )
    assert len(s["train"]["x"]) == 30 and len(s["test"]["x"]) == 10
    state = client.get(f"/api/sessions/{sid}/state").json()
    P = np.array(s["train"]["x"])  # the points in the CSV's own coordinates
    meta = state["metadata"]
    np.testing.assert_allclose(meta["standardize"]["mean"], P.mean(axis=0))
    np.testing.assert_allclose(meta["standardize"]["scale"], P.std(axis=0))
    X = np.array(state["X_train"])  # what the network sees: x' = (x − mean) / scale
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(X.std(axis=0), 1, atol=1e-6)
    assert meta["classes"] == ["blue", "red"] and meta["task"] == "classification"
    # a settings change keeps the uploaded data; Reset too
    r = client.put(
        f"/api/sessions/{sid}/settings", json={**s["settings"], "hidden": [3], "activation": ["relu"]}
    )
    assert r.status_code == 200 and r.json()["structure"]["feature_names"] == ["east", "north"]


def test_a_csv_with_many_numeric_targets_is_a_regression(client):
    sid, _ = new(client)
    rows = "".join(f"{x},{x / 2},{x * 0.37}\n" for x in range(30))
    r = client.post(f"/api/sessions/{sid}/data", content=rows.encode())
    s = r.json()["structure"]
    assert s["task"] == "regression" and s["settings"]["loss"] == "squared_error"
    assert s["feature_names"] == ["x1", "x2"] and s["levels"][-1] == {"n": 1, "activation": "identity"}
    r = client.put(f"/api/sessions/{sid}/settings", json={**s["settings"], "loss": "cross_entropy"})
    assert (
        r.status_code == 422
        and "has numeric targets (regression): use loss=squared_error" in r.json()["detail"]
    )


def _rows(n: int, label=lambda k: k % 2) -> str:
    return "".join(f"{k},{k % 7},{label(k)}\n" for k in range(n))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00x", "not UTF-8 text"),
        (b"1,2,0\n\x003,4,1\n", "NUL bytes"),
        (b"", "the CSV is empty"),
        (b"x1,x2,label\n", "has 0 data rows"),
        (_rows(5).encode(), "has 5 data rows: the playground takes 10 to 2000"),
        (_rows(2001).encode(), "has 2001 data rows"),
        ((_rows(12) + "1,2\n").encode(), "line 13 has 2 fields: each row needs 3"),
        ((_rows(12) + "1,abc,0\n").encode(), "line 13: x2 = 'abc' is not a finite number"),
        ((_rows(12) + "inf,1,0\n").encode(), "line 13: x1 = 'inf' is not a finite number"),
        ((_rows(12) + "1,2, \n").encode(), "line 13: the label is empty"),
        (_rows(12, lambda k: "only").encode(), "a single class"),
        (_rows(24, lambda k: f"c{k}").encode(), "24 distinct labels: the playground takes at most 10"),
        (("a,b,c\n" + _rows(12)).replace("0\n", "nan\n", 1).encode(), "contains NaN or inf"),
        (("x,x,x\n" + _rows(12)).encode(), "the header names a column twice (x, x, x)"),  # export gave 500
    ],
)
def test_a_bad_csv_gets_a_422_that_says_what_is_wrong(client, content, message):
    sid, before = new(client)
    r = client.post(f"/api/sessions/{sid}/data", content=content)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"], r.json()["detail"]
    state = client.get(f"/api/sessions/{sid}/state").json()
    assert state["settings"] == before["structure"]["settings"]  # the session is as it was


def test_data_csv_without_an_upload_is_refused(client):
    r = client.post("/api/sessions", json={"data": "csv"})
    assert r.status_code == 422 and "no CSV uploaded" in r.json()["detail"]


# ------------------------------------------------------------------------------ the numbers
def test_step_shows_the_librarys_forward_backward_and_update(client):
    """The three phases of Step, for one example, equal what chainrule computes on the same
    weights; with full-batch SGD the update is −η ∇L(θ) of the whole training set."""
    sid, _ = new(client, hidden=[4, 3], activation=["tanh", "sigmoid"], **FULL_BATCH_SGD)
    before = client.get(f"/api/sessions/{sid}/state").json()
    r = client.post(f"/api/sessions/{sid}/step", json={"sample": 7})
    assert r.status_code == 200, r.text
    step = r.json()
    assert step["step"] == 1 and step["sample"] == 7 and step["batch_size"] == 30

    net = rebuild(before)
    X, y = training_data(before)
    net.forward(X[7:8])
    net.backward(y[7:8])
    np.testing.assert_array_equal(step["passes"][0]["a"], X[7])
    for lv, shown in zip(net.levels, step["passes"][1:], strict=True):
        for key, value in [("z", lv.z), ("a", lv.a), ("sigma_prime", lv.sigma_prime()), ("delta", lv.delta)]:
            np.testing.assert_allclose(shown[key], value[0], rtol=1e-12, atol=1e-15, err_msg=key)

    net32 = rebuild(before, "float32")
    loss, _ = net32.loss_and_grad(X.astype(np.float32), y, training=True)
    after = rebuild(client.get(f"/api/sessions/{sid}/state").json(), "float32")
    for k, (lv, lv_after, update) in enumerate(zip(net32.levels, after.levels, step["update"], strict=True)):
        np.testing.assert_allclose(update["grad_W"], lv.dW, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(update["dW"], lv_after.W - lv.W, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(update["dW"], -0.5 * lv.dW, atol=1e-6, err_msg=f"level {k + 1}")
        np.testing.assert_allclose(update["db"], -0.5 * lv.db, atol=1e-6)
    assert step["batch_loss"] == pytest.approx(loss, rel=1e-5)


def test_neuron_and_weight_are_the_numbers_of_explain(client):
    sid, _ = new(client, hidden=[5], activation=["relu"], seed=4)
    for _ in range(3):
        client.post(f"/api/sessions/{sid}/step", json={"sample": 2})
    state = client.get(f"/api/sessions/{sid}/state").json()
    net, (X, y) = rebuild(state, "float32"), training_data(state)

    shown = client.get(
        f"/api/sessions/{sid}/weight", params={"level": 1, "i": 1, "j": 3, "sample": 11}
    ).json()
    e = explain(net, X, y, level=1, weight=(1, 3), sample=11)
    assert shown["text"] == plain(e.render())  # what `chainrule explain` prints, less "seed 003"
    assert shown["gradient"] == e.gradient and shown["finite_difference"] == e.finite_difference
    assert json.loads(json.dumps(plain_rules(e.to_dict()))) == {
        k: v for k, v in shown.items() if k not in ("text", "step")
    }
    assert abs(shown["gradient"] - shown["finite_difference"]) < 1e-6 * max(1, abs(shown["gradient"]))

    neuron = client.get(f"/api/sessions/{sid}/neuron", params={"level": 1, "j": 4, "sample": 11}).json()
    single = net.astype("float64")
    single.forward(X[11:12])
    single.backward(y[11:12])
    lv = single.levels[0]
    assert neuron["delta"] == pytest.approx(lv.delta[0, 4], rel=1e-12, abs=1e-15)
    assert neuron["z"] == pytest.approx(lv.z[0, 4], rel=1e-12)
    assert neuron["sigma_prime"] == pytest.approx(lv.sigma_prime()[0, 4], rel=1e-12)
    assert neuron["b"] == float(net.levels[0].b[4]) and len(neuron["terms"]) == 2  # w_jk δ_k over 2 outputs
    out = client.get(f"/api/sessions/{sid}/neuron", params={"level": 2, "j": 1, "sample": 11}).json()
    assert out["rule"].startswith("δ = a − y") and out["delta"] == pytest.approx(single.levels[1].delta[0, 1])


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("weight", {"level": 0, "i": 0, "j": 0}, "layer must be 1..2 (this network's hidden and output"),
        (
            "weight",
            {"level": 3, "i": 0, "j": 0},
            "layer must be 1..2 (this network's hidden and output layers), got 3",
        ),
        ("weight", {"level": 99, "i": 0, "j": 0}, "layer must be 1..2 (this network's"),  # "at most 7" before
        ("neuron", {"level": 0, "j": 0}, "layer must be 1..2 (this network's"),
        ("weight", {"level": 1, "i": 2, "j": 0}, "weight i (an input of layer 1) must be an integer in 0..1"),
        ("weight", {"level": 2, "i": 0, "j": 5}, "weight j (a neuron of layer 2) must be an integer in 0..1"),
        ("neuron", {"level": 1, "j": 4}, "must be an integer in 0..3"),
        ("neuron", {"level": 1, "j": 0, "sample": 200}, "sample must be an integer in 0..199"),
        ("neuron", {"level": 1}, "neuron j is missing"),
    ],
)
def test_inspecting_outside_the_network_gets_a_422(client, path, params, message):
    sid, _ = new(client, hidden=[4], activation=["tanh"])
    r = client.get(f"/api/sessions/{sid}/{path}", params=params)
    assert r.status_code == 422 and message in r.json()["detail"], r.json()
    r = client.post(f"/api/sessions/{sid}/step", json={"sample": 200})
    assert r.status_code == 422 and "example 200 does not exist: choose 0..199" in r.json()["detail"]


def test_the_exported_model_file_loads_back_with_the_metadata(client, tmp_path):
    sid, _ = new(client, data="gaussians", classes=3, seed=2)
    for _ in range(5):
        client.post(f"/api/sessions/{sid}/step", json={})
    r = client.get(f"/api/sessions/{sid}/model")
    assert r.status_code == 200
    assert (
        r.headers["content-disposition"]
        == 'attachment; filename="chainrule-playground-gaussians.safetensors"'
    )
    path = tmp_path / "model.safetensors"
    path.write_bytes(r.content)
    net = cr.load(path)
    state = client.get(f"/api/sessions/{sid}/state").json()
    assert net.metadata == {
        "classes": [0, 1, 2],
        "feature_names": ["x1", "x2"],
        "target": "label",
        "task": "classification",
    }
    np.testing.assert_array_equal(net.flat_params, np.array(state["params"], dtype=np.float32))
    X_test = np.array(state["X_test"])
    np.testing.assert_array_equal(net.predict(X_test), rebuild(state, "float32").predict(X_test))


# ------------------------------------------------------------------------------ sessions
def test_sessions_are_isolated_and_the_settings_reproduce_the_run(client):
    settings = {"hidden": [3], "activation": ["tanh"], "dropout": 0.2, "seed": 9}
    a, _ = new(client, **settings)
    b, _ = new(client, **settings)
    initial = client.get(f"/api/sessions/{b}/state").json()["params"]
    for _ in range(4):
        client.post(f"/api/sessions/{a}/step", json={})
    state_a, state_b = (client.get(f"/api/sessions/{s}/state").json() for s in (a, b))
    assert state_a["step"] == 4 and state_b["step"] == 0 and state_b["params"] == initial
    assert state_a["params"] != initial
    for _ in range(4):
        client.post(f"/api/sessions/{b}/step", json={})
    assert client.get(f"/api/sessions/{b}/state").json()["params"] == state_a["params"]  # same URL, same run
    r = client.post(f"/api/sessions/{a}/reset")
    assert r.json()["frame"]["step"] == 0
    assert client.get(f"/api/sessions/{a}/state").json()["params"] == initial


def test_the_longest_idle_session_makes_room_and_a_beacon_frees_one():
    client = TestClient(create_app(max_sessions=2), base_url="http://127.0.0.1")
    first, _ = new(client)
    second, _ = new(client)
    client.get(f"/api/sessions/{first}/state")  # the second is now the longest idle
    third, _ = new(client)  # no refusal: the longest-idle session makes room
    assert len(client.app.state.sessions) == 2
    r = client.get(f"/api/sessions/{second}/state")
    assert r.status_code == 404 and "reload the page" in r.json()["detail"]
    assert client.get(f"/api/sessions/{first}/state").status_code == 200
    # the page's pagehide beacon (sendBeacon posts text/plain); unknown or repeated ids are no error
    r = client.post(f"/api/sessions/{third}/close", content=b"", headers={"content-type": "text/plain"})
    assert r.status_code == 204 and len(client.app.state.sessions) == 1
    assert client.post(f"/api/sessions/{third}/close").status_code == 204
    r = client.post("/api/sessions/not a session!/close")
    assert (
        r.status_code == 422
        and r.json()["detail"] == "this page's session is missing or malformed: reload the page"
    )
    r = client.post(f"/api/sessions/{first}/close", content=b"x" * (MAX_BODY + 1))
    assert r.status_code == 413 and client.get(f"/api/sessions/{first}/state").status_code == 200
    r = client.post(f"/api/sessions/{first}/close", headers={"host": "attacker.example"})
    assert r.status_code == 400 and client.get(f"/api/sessions/{first}/state").status_code == 200


def test_the_page_hears_no_jargon(client):
    sid, _ = new(client)
    client.post(f"/api/sessions/{sid}/step", json={})
    out = client.get(f"/api/sessions/{sid}/neuron", params={"level": 3, "j": 0}).json()
    weight = client.get(f"/api/sessions/{sid}/weight", params={"level": 1, "i": 0, "j": 0}).json()
    assert out["rule"].startswith("δ = a − y") and "seed" not in json.dumps([out, weight])
    r = client.post("/api/sessions/null/step", json={})
    assert r.status_code == 422 and "reload the page" in r.json()["detail"] and "pattern" not in r.text


def test_a_diverging_run_pauses_with_a_message(client):
    sid, _ = new(client, data="plane", loss="squared_error", hidden=[8], activation=["identity"], lr=10)
    session = client.app.state.sessions.get(sid)
    session.set_running(True)
    frame = session.train_for(0.2)
    assert not frame["running"] and "training diverged at step" in frame["error"]
    r = client.post(f"/api/sessions/{sid}/run", json={"running": True})
    assert r.status_code == 422 and "lower the learning rate" in r.json()["detail"]
    assert client.get(f"/api/sessions/{sid}/state").status_code == 200  # NaN weights travel as null
    assert client.post(f"/api/sessions/{sid}/reset").json()["frame"]["error"] is None


def _post(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_event_stream_trains_and_sends_frames_live():
    with running() as url:
        sid = _post(
            url + "api/sessions", {"hidden": [6], "activation": ["tanh"], "optimizer": "adam", "lr": 0.05}
        )["id"]
        assert _post(f"{url}api/sessions/{sid}/run", {"running": True}) == {"running": True, "speed": None}
        frames = []
        with urllib.request.urlopen(f"{url}api/sessions/{sid}/events", timeout=10) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream:
                if line.startswith(b"data: "):
                    frames.append(json.loads(line[6:]))
                    if len(frames) == 4:
                        break
        steps = [f["step"] for f in frames]
        assert all(f["running"] for f in frames) and steps == sorted(steps) and steps[0] > 0
        assert frames[-1]["test"]["loss"] < frames[0]["history"]["test"][0]  # it learns
        time.sleep(0.3)  # the stream is closed: training has stopped with it
        with urllib.request.urlopen(f"{url}api/sessions/{sid}/state", timeout=10) as r:
            stopped = json.loads(r.read())["step"]
        time.sleep(0.3)
        with urllib.request.urlopen(f"{url}api/sessions/{sid}/state", timeout=10) as r:
            assert json.loads(r.read())["step"] == stopped


def test_the_command_prints_its_url_and_serves_on_loopback():
    process = subprocess.Popen(
        [sys.executable, "-m", "chainrule.playground", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"chainrule playground: (http://127\.0\.0\.1:\d+/)  \(Ctrl\+C to stop\)\n", line)
        assert match, line + process.stderr.read() if process.poll() is not None else line
        with urllib.request.urlopen(match.group(1), timeout=10) as r:
            assert r.status == 200 and b"chainrule playground" in r.read()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_refuses_a_bad_port_in_one_line(capsys):
    from chainrule.playground.__main__ import main

    assert main(["--port", "70000"]) == 1
    assert capsys.readouterr().err == "chainrule playground: port must be an integer in 0..65535, got 70000\n"


def test_the_speed_control_paces_training():
    with running() as url:
        sid = _post(url + "api/sessions", {})["id"]
        assert _post(f"{url}api/sessions/{sid}/run", {"running": True, "speed": 10}) == {
            "running": True,
            "speed": 10,
        }
        frames = []
        began = time.perf_counter()
        with urllib.request.urlopen(f"{url}api/sessions/{sid}/events", timeout=10) as stream:
            for line in stream:
                if line.startswith(b"data: "):
                    frames.append(json.loads(line[6:]))
                    if len(frames) == 10:
                        break
        seconds = time.perf_counter() - began
        steps = frames[-1]["step"]
        assert 0.8 < seconds < 3 and 0.5 * 10 * seconds <= steps <= 1.5 * 10 * seconds + 2, (seconds, steps)
    client = TestClient(create_app(), base_url="http://127.0.0.1")
    sid, _ = new(client)
    for speed in (0, -1, 1e6, "fast"):
        r = client.post(f"/api/sessions/{sid}/run", json={"running": True, "speed": speed})
        assert r.status_code == 422 and r.json()["detail"].startswith("speed must be"), r.json()
