"""chainrule.show, the network view in Jupyter: the state its Python side syncs (shapes, bounds,
errors), and its front end (the playground's diagram.js with the widget's glue) rendered in headless
Chromium without Jupyter, fed by a minimal anywidget model filled from the widget's real state."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import traitlets

import chainrule as cr
from chainrule.widget import GRID, MAX_WIDTH, NetworkView, show

SRC = Path(__file__).resolve().parent.parent / "src"


def trained() -> tuple[cr.Network, np.ndarray, np.ndarray]:
    """A 2-4-3-3 network (tanh, relu, softmax + cross entropy) trained a little on three blobs."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    centres = np.array([[-1.5, 0.0], [1.5, 0.5], [0.0, -1.5]])
    X = (rng.normal(size=(60, 2)) * 0.6 + centres[y]).astype(np.float32)
    net = cr.Network.from_sizes([2, 4, 3, 3], activation=["tanh", "relu"], seed=1)
    cr.fit(net, X, y, epochs=5, batch_size=10, optimizer="adam", lr=0.05)
    return net, X, y


def by_hand(net: cr.Network, x: np.ndarray, label: int) -> list[dict[str, np.ndarray]]:
    """The notes' passes written out: z = a W + b, a = σ(z); δ^(O) = a − y (softmax with cross
    entropy), δ^(l) = σ'(z^(l)) ⊙ W^(l+1) δ^(l+1); ∂C/∂W = a^(l-1) δ^(l)ᵀ."""
    sigma = [np.tanh, lambda z: np.maximum(z, 0)]
    sigma_prime = [lambda z: 1 - np.tanh(z) ** 2, lambda z: (z > 0).astype(float)]
    a, out = np.asarray(x, dtype=float), []
    for k, lv in enumerate(net.levels):
        W, b = lv.W.astype(float), lv.b.astype(float)
        z = a @ W + b
        if k < 2:
            new = sigma[k](z)
        else:
            e = np.exp(z - z.max())
            new = e / e.sum()
        out.append({"a_prev": a, "z": z, "a": new, "W": W})
        a = new
    delta = out[-1]["a"] - np.eye(3)[label]
    for k in range(len(out) - 1, -1, -1):
        out[k]["delta"] = delta
        out[k]["dW"] = np.outer(out[k]["a_prev"], delta)
        if k:
            delta = sigma_prime[k - 1](out[k - 1]["z"]) * (out[k]["W"] @ delta)
    return out


@pytest.fixture(scope="module")
def problem():
    return trained()


# ------------------------------------------------------------------------------ the Python side
def test_the_synced_state_holds_the_librarys_numbers(problem):
    net, X, y = problem
    view = cr.show(net, X, y, example=5)
    assert isinstance(view, NetworkView) and view.example == 5 and view.n_examples == 60
    assert [lv["n"] for lv in view.levels] == [2, 4, 3, 3]
    assert [lv["activation"] for lv in view.levels] == ["input", "tanh", "relu", "softmax"]
    assert view.feature_names == ["x1", "x2"] and view.loss == "cross entropy"
    assert [np.shape(w["W"]) for w in view.weights] == [(2, 4), (4, 3), (3, 3)]
    assert view.grid == GRID and len(base64.b64decode(view.maps)) == GRID * GRID * (2 + 4 + 3 + 3)
    hand = by_hand(net, X[5], y[5])
    assert view.passes[0]["a"] == pytest.approx(X[5].tolist(), abs=1e-7)
    for k, h in enumerate(hand):
        p, g = view.passes[k + 1], view.gradients[k]
        for key in ("z", "a", "delta"):
            assert np.allclose(p[key], h[key], atol=1e-6), (k, key)
        assert np.allclose(g["dW"], h["dW"], atol=1e-6) and np.allclose(g["db"], h["delta"], atol=1e-6)
        # how each δ was built (chainrule.explain.neurons) agrees with the passes
        assert [n["delta"] for n in view.neurons[k]] == pytest.approx(p["delta"], abs=1e-12)
    e = cr.explain(net, X, y, level=2, weight=(1, 2), sample=5)
    assert view.gradients[1]["dW"][1][2] == pytest.approx(e.gradient, abs=1e-12)
    assert view.cost == pytest.approx(e.cost, abs=1e-12)
    assert view.neurons[1][2]["terms"][0]["w"] == pytest.approx(float(net.levels[2].W[2, 0]))
    rules = [n["rule"] for level in view.neurons for n in level]
    assert rules and not [r for r in rules if "seed" in r]  # the notes' file numbers left out, as on the page
    json.dumps({k: v for k, v in view.get_state().items() if k != "layout"}, allow_nan=False)
    bundle = view._repr_mimebundle_()[0]  # what a notebook stores: the view, and text for a static page
    assert "application/vnd.jupyter.widget-view+json" in bundle
    text = f"NetworkView of a 2-4-3-3 network (cross entropy, example 5 of 60, C = {view.cost:.6g})"
    assert bundle["text/plain"].startswith(text)


def test_a_new_example_and_more_training_redraw(problem):
    net, X, y = problem
    net = net.copy()
    view = show(net, X, y)
    first = view.passes[1]["a"]
    view.example = 7
    assert view.passes[1]["a"] == pytest.approx(by_hand(net, X[7], y[7])[0]["a"].tolist(), abs=1e-6)
    assert view.passes[1]["a"] != first
    weights, maps = view.weights, view.maps
    cr.fit(net, X, y, epochs=2, batch_size=10, optimizer="adam", lr=0.05)
    assert view.weights == weights  # drawn as it was, until update()
    assert view.update() is view and view.example == 7
    assert np.allclose(view.weights[0]["W"], net.levels[0].W) and view.weights != weights
    assert view.maps != maps
    assert view.passes[3]["delta"] == pytest.approx(by_hand(net, X[7], y[7])[2]["delta"].tolist(), abs=1e-6)


def test_bounds_and_errors(problem):
    net, X, y = problem
    view = show(net, X, y)
    with pytest.raises(traitlets.TraitError, match=r"example 60 does not exist: choose 0\.\.59"):
        view.example = 60
    assert view.example == 0
    with pytest.raises(traitlets.TraitError, match="example must be a row number of X, got True"):
        cr.show(net, X, y, example=True)  # "sample must be an integer" before
    with pytest.raises(ValueError, match="3 features"):
        show(net, np.ones((4, 3)), [0, 1, 2, 0])
    with pytest.raises(ValueError, match="y without X"):
        show(net, None, y)
    with pytest.raises(TypeError, match=r"show needs a chainrule\.Network, got list"):
        show([[1.0]])
    wide = cr.Network.from_sizes([64, 8, 10], seed=0)
    with pytest.raises(ValueError, match=f"too large to draw: the input has 64 neurons.*at most {MAX_WIDTH}"):
        show(wide)
    deep = cr.Network.from_sizes([2, *[3] * 9, 2], seed=0)
    with pytest.raises(ValueError, match="too large to draw: 10 layers of weights"):
        show(deep)


def test_without_targets_or_rows_and_without_a_plane():
    net = cr.Network.from_sizes([3, 4, 1], activation="sigmoid", loss="squared_error", seed=0)
    X = np.random.default_rng(1).normal(size=(5, 3))
    view = show(net, X)  # no y: the forward pass only
    assert view.grid == 0 and view.maps == ""  # 3 inputs: no plane to draw over
    assert "delta" not in view.passes[1] and view.neurons == [] and view.gradients == []
    assert view.passes[2]["a"] == pytest.approx(net.forward(X[:1])[0].tolist(), rel=1e-5)
    assert "targets y" in view.message
    bare = show(net)
    assert bare.passes == [] and bare.n_examples == 0 and "rows X" in bare.message
    with pytest.raises(traitlets.TraitError, match="example 1 does not exist: give show"):
        bare.example = 1


def test_chainrule_imports_without_anywidget():
    code = (
        "import sys; sys.modules['anywidget'] = None\n"
        "import chainrule as cr\n"
        "try:\n    cr.show\nexcept ImportError as e:\n    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "pip install 'chainrule[widget]'" in out.stdout


# ------------------------------------------------------------------------------ the front end, in Chromium
# A model with anywidget's interface (get, set, on, off, save_changes), held by the page: push()
# sets traits as a state message from Python does, then fires their change events; save_changes
# sends the view's changes to Python (window.pySync) and pushes back what Python answers.
HARNESS = """async ([esm, state]) => {
  const handlers = {}, changed = new Set();
  const model = {
    get: (key) => state[key],
    set: (key, value) => { state[key] = value; changed.add(key); },
    on: (event, f) => { (handlers[event] ||= []).push(f); },
    off: (event, f) => { handlers[event] = (handlers[event] || []).filter((g) => g !== f); },
    save_changes: async () => {
      const changes = Object.fromEntries([...changed].map((k) => [k, state[k]]));
      changed.clear();
      window.push(await window.pySync(changes));
    },
    send: () => {},
  };
  window.push = (update) => {
    Object.assign(state, update);
    for (const key of Object.keys(update)) for (const f of handlers[`change:${key}`] || []) f();
  };
  window.listeners = () => Object.values(handlers).reduce((n, fs) => n + fs.length, 0);
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const module = await import(url);
  window.cleanup = await module.default.render({ model, el: document.querySelector("#root") });
}"""


def synced(view: NetworkView) -> dict:
    return {k: v for k, v in view.get_state().items() if k != "layout"}


def render(browser, view: NetworkView):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def sync(changes: dict) -> dict:
        view.set_state(changes)  # as a message from the view: the observers run
        return synced(view)

    page.expose_function("pySync", sync)
    page.set_content('<!doctype html><meta charset="utf-8"><div id="root"></div>')
    state = synced(view)
    page.add_style_tag(content=state["_css"])
    page.evaluate(HARNESS, [state["_esm"], state])
    page.wait_for_selector(".cr-widget[data-drawn] .neuron canvas")
    return page, errors


def number(page, selector: str) -> float:
    return float(page.text_content(selector))


def labels(page, level: int, kind: str) -> list[float]:
    return page.eval_on_selector_all(
        f".neuron[data-level='{level}'] .label.{kind}", "els => els.map((el) => Number(el.dataset.value))"
    )


def test_the_view_draws_the_network_with_a_delta_and_the_inspector(browser, problem):
    net, X, y = problem
    view = show(net, X, y, example=5)
    page, errors = render(browser, view)
    assert page.locator(".neuron").count() == 2 + 4 + 3 + 3
    assert page.locator(".edge").count() == 2 * 4 + 4 * 3 + 3 * 3
    assert page.locator(".edge-hit").count() == 29
    # the heat maps are drawn: a neuron's canvas is not one colour
    colours = page.evaluate(
        """() => { const c = document.querySelector(".neuron[data-level='1'] canvas");
                   const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                   return new Set(Array.from({length: d.length / 4}, (_, p) => d[4 * p])).size; }"""
    )
    assert colours > 10
    hand = by_hand(net, X[5], y[5])
    for k, h in enumerate(hand):
        assert labels(page, k + 1, "a") == pytest.approx(h["a"].tolist(), abs=1e-6)
        assert labels(page, k + 1, "delta") == pytest.approx(h["delta"].tolist(), abs=1e-6)
        shown = page.text_content(f".neuron[data-level='{k + 1}'][data-neuron='0'] .label.delta")
        assert shown.startswith("δ ") and float(shown.split()[1]) == pytest.approx(h["delta"][0], rel=5e-3)
    amp = labels(page, 1, "amp")  # ×σ'(z) beside the hidden neurons
    assert amp == pytest.approx((1 - np.tanh(hand[0]["z"]) ** 2).tolist(), abs=1e-6)
    assert "C = " in page.text_content(".cr-cost")

    page.locator(".edge-hit[data-level='2'][data-i='1'][data-j='2']").dispatch_event("click")
    page.wait_for_selector(".cr-widget[data-selected='weight 2 1 2'][data-kind='weight']")
    a, delta = hand[0]["a"][1], hand[1]["delta"][2]
    assert number(page, ".cr-inspector [data-key='a']") == pytest.approx(a, rel=1e-5)
    assert number(page, ".cr-inspector [data-key='delta']") == pytest.approx(delta, rel=1e-5)
    assert number(page, ".cr-inspector [data-key='gradient']") == pytest.approx(a * delta, rel=1e-5)
    w = float(net.levels[1].W[1, 2])
    assert number(page, ".cr-inspector [data-key='w']") == pytest.approx(w, rel=1e-5)
    assert page.locator(".edge.selected").count() == 1

    page.click(".neuron[data-level='1'][data-neuron='3']")
    page.wait_for_selector(".cr-widget[data-selected='neuron 1 3'][data-kind='neuron']")
    assert number(page, ".cr-inspector [data-key='z']") == pytest.approx(hand[0]["z"][3], rel=1e-5)
    assert number(page, ".cr-inspector [data-key='delta']") == pytest.approx(hand[0]["delta"][3], rel=1e-5)
    assert number(page, ".cr-inspector [data-key='b']") == pytest.approx(float(net.levels[0].b[3]), rel=1e-5)
    assert not errors, errors


def test_a_new_example_from_python_or_the_slider_redraws(browser, problem):
    net, X, y = problem
    view = show(net, X, y, example=5)
    page, errors = render(browser, view)
    page.locator(".edge-hit[data-level='3'][data-i='0'][data-j='1']").dispatch_event("click")
    page.wait_for_selector(".cr-widget[data-kind='weight']")
    # from Python: the example changes, its new state goes to the view as one message
    view.example = 11
    keys = ("example", "passes", "neurons", "gradients", "cost")
    update = {k: v for k, v in synced(view).items() if k in keys}
    page.evaluate("(update) => window.push(update)", update)
    page.wait_for_selector(".cr-widget[data-example='11']")
    hand = by_hand(net, X[11], y[11])
    assert labels(page, 2, "delta") == pytest.approx(hand[1]["delta"].tolist(), abs=1e-6)
    assert page.text_content(".cr-example-number") == "11"
    gradient = hand[2]["a_prev"][0] * hand[2]["delta"][1]
    assert number(page, ".cr-inspector [data-key='gradient']") == pytest.approx(gradient, rel=1e-5)
    # from the view: the slider sets example, Python recomputes, the view draws what it answers
    page.evaluate(
        """() => { const s = document.querySelector(".cr-example");
                   s.value = "20"; s.dispatchEvent(new Event("input")); }"""
    )
    page.wait_for_selector(".cr-widget[data-example='20']")
    assert view.example == 20
    hand = by_hand(net, X[20], y[20])
    assert labels(page, 3, "a") == pytest.approx(hand[2]["a"].tolist(), abs=1e-6)
    assert page.evaluate("window.listeners()") > 0
    page.evaluate("window.cleanup()")  # the view lets its model go
    assert page.evaluate("window.listeners()") == 0
    assert not errors, errors


def test_a_network_without_a_plane_and_without_targets_draws(browser):
    net = cr.Network.from_sizes([3, 5, 2], activation="tanh", seed=0)
    X = np.random.default_rng(2).normal(size=(8, 3))
    page, errors = render(browser, show(net, X, example=2))
    assert page.locator(".neuron").count() == 10 and page.locator(".edge").count() == 25
    assert labels(page, 2, "a") == pytest.approx(net.forward(X[2:3])[0].tolist(), rel=1e-5)
    assert page.locator(".label.delta:not([hidden])").count() == 0
    assert "targets y" in page.text_content(".cr-message")
    page.click(".neuron[data-level='1'][data-neuron='0']")
    assert "targets y" in page.text_content(".cr-inspector")
    assert not errors, errors
