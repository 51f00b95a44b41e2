"""TensorFlow Playground's controls on the page, in headless Chromium (Debian's, driven by
Playwright, as tests/test_playground_browser.py): + / − for layers and neurons, the input
features, show test data, a neuron's map enlarged on hover, and L1 in the inspector's update."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from tests.test_playground_browser import open_page, state

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})  # docs/playground-controls.png
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


def neurons(page, level: int) -> int:
    return page.locator(f".neuron[data-level='{level}']").count()


def wait_hidden(page, value: str) -> None:
    """The network drawn with these hidden layers, in the form and in the URL."""
    page.wait_for_function(
        "(v) => new URLSearchParams(location.search).get('hidden') === v"
        " && document.querySelector('[name=hidden]').value === v.split(',').join(', ')",
        arg=value,
    )


def test_plus_and_minus_change_the_network_the_form_and_the_url_and_stop_at_the_bounds(page, url):
    sid = open_page(page, url, "?hidden=4,2&activation=relu,sigmoid")
    assert page.text_content("#layer-count") == "2 hidden layers"
    page.click("#layer-add")
    wait_hidden(page, "4,2,2")
    assert neurons(page, 3) == 2 and neurons(page, 4) == 2  # a new layer of 2, then the output
    assert page.eval_on_selector_all("#activations select", "s => s.map((e) => e.value)") == [
        "relu",
        "sigmoid",
        "sigmoid",
    ]
    assert "activation=relu%2Csigmoid%2Csigmoid" in page.url
    for n in (5, 6, 7, 8):
        page.click(".neuron-buttons[data-layer='1'] .neuron-add")
        wait_hidden(page, f"{n},2,2")
    assert neurons(page, 1) == 8 and page.is_disabled(".neuron-buttons[data-layer='1'] .neuron-add")
    page.click(".neuron-buttons[data-layer='3'] .neuron-remove")
    wait_hidden(page, "8,2,1")
    assert page.is_disabled(".neuron-buttons[data-layer='3'] .neuron-remove")
    assert state(url, sid)["settings"]["hidden"] == [8, 2, 1]
    for hidden in ("8,2,1,2", "8,2,1,2,2", "8,2,1,2,2,2"):
        page.click("#layer-add")
        wait_hidden(page, hidden)
    assert page.is_disabled("#layer-add") and page.text_content("#layer-count").startswith("6")
    for hidden in ("8,2,1,2,2", "8,2,1,2", "8,2,1", "8,2", "8", ""):
        page.click("#layer-remove")
        wait_hidden(page, hidden)
    assert page.is_disabled("#layer-remove") and page.locator(".neuron-buttons").count() == 0
    assert neurons(page, 1) == 2  # inputs, then the output layer straight away


def test_a_feature_toggle_changes_the_input_column(page, url):
    sid = open_page(page, url)
    assert neurons(page, 0) == 2
    page.check("#feature-boxes input[value=x1_x2]")
    page.wait_for_function("() => location.search.includes('features=x1%2Cx2%2Cx1_x2')")
    page.wait_for_selector(".neuron[data-level='0'][data-neuron='2']")
    assert page.text_content(".neuron[data-level='0'][data-neuron='2'] .name") == "x1·x2"
    assert np.array(state(url, sid)["X_train"]).shape[1] == 3  # the network's input width
    page.uncheck("#feature-boxes input[value=x1]")
    page.wait_for_function("() => location.search.includes('features=x2%2Cx1_x2')")
    page.uncheck("#feature-boxes input[value=x2]")
    page.wait_for_function("() => location.search.includes('features=x1_x2&')")
    assert neurons(page, 0) == 1 and page.is_disabled("#feature-boxes input[value=x1_x2]")  # one at least
    twin = page.context.new_page()  # the link opens the same inputs
    open_page(twin, url, "?" + page.url.split("?", 1)[1])
    assert twin.locator(".neuron[data-level='0']").count() == 1 and twin.is_checked("input[value=x1_x2]")
    twin.close()


TEST_POINTS_WHITE = """() => {
  const s = window.playground.state.structure;
  const canvas = document.querySelector('#output'), c = canvas.getContext('2d');
  const [x1lo, x1hi, x2lo, x2hi] = s.extent;
  let white = 0;
  for (const x of s.test.x) {
    const u = Math.round(((x[0] - x1lo) / (x1hi - x1lo)) * canvas.width);
    const v = Math.round(((x2hi - x[1]) / (x2hi - x2lo)) * canvas.height);
    const p = c.getImageData(u, v, 1, 1).data;
    if (p[0] > 250 && p[1] > 250 && p[2] > 250) white += 1;
  }
  return white / s.test.x.length;
}"""


def test_the_test_data_toggle_hides_and_shows_the_test_points(page, url):
    open_page(page, url, "?samples=100")
    assert page.evaluate(TEST_POINTS_WHITE) > 0.8  # hollow test points: white centres
    page.uncheck("#show-test")
    page.wait_for_function("() => location.search.includes('show_test=0')")
    assert page.evaluate(TEST_POINTS_WHITE) < 0.1
    open_page(page, url, "?" + page.url.split("?", 1)[1])  # the link keeps them hidden
    assert not page.is_checked("#show-test")
    assert page.evaluate(TEST_POINTS_WHITE) < 0.1
    page.check("#show-test")
    page.wait_for_function("() => location.search.includes('show_test=1')")
    assert page.evaluate(TEST_POINTS_WHITE) > 0.8


EDGE_POINT = """(sel) => {
  const path = document.querySelector(sel);
  const p = path.getPointAtLength(path.getTotalLength() / 2);
  const m = path.getScreenCTM();
  return [p.x * m.a + p.y * m.c + m.e, p.x * m.b + p.y * m.d + m.f];
}"""


def test_hovering_a_neuron_shows_its_map_large_and_an_edge_still_takes_the_click(page, url):
    open_page(
        page, url, "?data=circles&hidden=3&activation=tanh&features=x1,x2,x1_squared&optimizer=adam&lr=0.03"
    )
    page.click("#train")  # a trained network makes a telling picture for the docs
    page.wait_for_function("() => Number(document.querySelector('#steps').textContent) > 300")
    page.click("#pause")
    page.wait_for_selector("#train:enabled")
    page.hover(".neuron[data-level='1'][data-neuron='1'] canvas")
    page.wait_for_selector("#zoom:not([hidden])[data-level='1'][data-neuron='1'][data-drawn='1']")
    assert "neuron 1 of layer 1" in page.text_content("#zoom-caption")
    output, zoom = page.locator("#output").bounding_box(), page.locator("#zoom").bounding_box()
    assert (
        abs(zoom["x"] - output["x"]) < 1 and abs(zoom["width"] - output["width"]) < 1
    )  # in the output's place
    same = page.evaluate(
        """() => {
          const small = document.querySelector(".neuron[data-level='1'][data-neuron='1'] canvas");
          const big = document.querySelector('#zoom-map');
          const g = small.width, k = big.width / g;
          let worst = 0;
          for (const [i, j] of [[3, 4], [16, 16], [28, 9], [10, 27]]) {
            const a = small.getContext('2d').getImageData(i, j, 1, 1).data;
            const u = Math.floor((i + 0.5) * k), v = Math.floor((j + 0.5) * k);
            const b = big.getContext('2d').getImageData(u, v, 1, 1).data;
            for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(a[c] - b[c]));
          }
          return worst;
        }"""
    )
    assert same <= 12, same  # the same map, smoothly enlarged
    x, y = page.evaluate(EDGE_POINT, ".edge-hit[data-level='1'][data-i='2'][data-j='1']")
    assert page.evaluate("([x, y]) => document.elementFromPoint(x, y).classList.contains('edge-hit')", [x, y])
    page.mouse.click(x, y)  # a real click on the edge (the pointer leaves the neuron): the weight
    page.wait_for_selector("#inspector[data-selected='weight 1 2 1']")
    page.wait_for_selector("#zoom[hidden]", state="attached")
    page.hover(".neuron[data-level='0'][data-neuron='2']")
    page.wait_for_selector("#zoom:not([hidden])[data-level='0']")
    assert page.text_content("#zoom-caption") == "input x1² over (x₁, x₂)"
    page.hover(".neuron[data-level='1'][data-neuron='1']")
    page.wait_for_selector("#zoom:not([hidden])[data-level='1'][data-neuron='1']")
    # the big map lets clicks through: the point under it is the output canvas, not the zoom
    box = page.locator("#zoom").bounding_box()
    assert (
        page.evaluate("([x, y]) => document.elementFromPoint(x, y).id", [box["x"] + 50, box["y"] + 50])
        == "output"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-controls.png"))


def test_with_l1_the_inspector_shows_the_penalty_and_the_exact_weight_change(page, url):
    sid = open_page(
        page, url, "?samples=60&hidden=4&activation=tanh&optimizer=sgd&lr=0.5&batch_size=2000&l1=0.05&l2=0.01"
    )
    assert page.input_value("[name=l1]") == "0.05"
    page.locator(".edge-hit[data-level='1'][data-i='1'][data-j='2']").dispatch_event("click")
    page.wait_for_selector("#inspector[data-kind='weight'][data-step='0']")
    before = state(url, sid)
    page.uncheck("#autoplay")
    page.click("#step")
    page.wait_for_selector("#phase[data-phase='forward']")
    page.keyboard.press("End")
    page.wait_for_selector("#phase[data-phase='update']:has-text('λ₁ sign(w)')")
    page.wait_for_selector("#inspector[data-kind='weight'][data-step='1'] [data-key='penalty_w']")
    after = state(url, sid)
    w0 = np.array(before["params"], dtype=np.float32)
    net = cr.Network.from_config(before["config"])
    net.flat_params[...] = w0
    W = net.levels[0].W[1, 2]
    shown = {
        k: float(page.text_content(f"#inspector [data-key='{k}']"))
        for k in ("dw", "grad_w", "penalty_w", "minus_lr_grad")
    }
    assert shown["penalty_w"] == pytest.approx(0.05 * np.sign(W) + 0.01 * W, rel=1e-5)
    net_after = cr.Network.from_config(after["config"])
    net_after.flat_params[...] = np.array(after["params"], dtype=np.float32)
    moved = float(net_after.levels[0].W[1, 2] - W)
    assert shown["dw"] == pytest.approx(moved, rel=1e-5)
    assert shown["minus_lr_grad"] == pytest.approx(moved, rel=1e-4, abs=1e-7)
    assert shown["minus_lr_grad"] == pytest.approx(-0.5 * (shown["grad_w"] + shown["penalty_w"]), rel=1e-5)


def test_a_frame_of_the_previous_network_is_not_drawn(page, url):
    """A live frame still on its way when + changed the network was drawn on the new diagram:
    "TypeError: Cannot read properties of undefined" in drawWeights (the page fixture fails on it)."""
    open_page(page, url, "?hidden=4")
    old = page.evaluate("() => JSON.stringify(window.playground.state.frame)")
    page.click(".neuron-buttons[data-layer='1'] .neuron-add")
    wait_hidden(page, "5")
    step = page.evaluate("() => window.playground.state.frame.step")
    page.evaluate("(old) => window.playground.state.events.onmessage({ data: old })", old)
    assert page.evaluate("() => window.playground.state.frame.weights[0].W[0].length") == 5
    assert page.evaluate("() => window.playground.state.frame.step") == step


def test_the_walk_names_the_features_the_input_layer_holds(page, url):
    """With sin x₁ ticked the walk said a⁽⁰⁾ = x = (x₁, x₂), two numbers for three inputs."""
    open_page(page, url, "?features=x1,x2,sin_x1&example=3")
    page.uncheck("#autoplay")
    page.click("#step")
    page.wait_for_selector("#phase[data-phase='forward']")
    text = page.text_content("#phase")
    numbers = re.search(r"a⁽⁰⁾ = \(([^)]*)\), the features x1, x2, sin x1 of the point x = \(([^)]*)\)", text)
    assert numbers, text
    a0, x = ([float(v) for v in g.split(", ")] for g in numbers.groups())
    assert len(a0) == 3 and a0[2] == pytest.approx(np.sin(x[0]), abs=2e-3)


def test_on_a_phone_every_neuron_button_of_six_layers_can_be_tapped(browser, url):
    """At 390 px the layer count and its buttons lay over the last layer's − (it caught the tap)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    open_page(page, url, "?hidden=2,2,2,2,2,2&activation=tanh,tanh,tanh,tanh,tanh,tanh")
    for button in page.locator(".neuron-buttons button").all():
        box = button.bounding_box()
        hit = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('button')?.className",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit in ("neuron-add", "neuron-remove"), (box, hit)
    page.click(".neuron-buttons[data-layer='6'] .neuron-remove")
    wait_hidden(page, "2,2,2,2,2,1")
    assert page.is_visible("#layer-add") and page.text_content("#layer-count") == "6 hidden layers"
    context.close()
