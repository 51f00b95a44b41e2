"""The playground in a real browser: headless Chromium from Debian's ``chromium`` package, driven
by Playwright (never a browser downloaded by Playwright). The page trains xor, shows the same δ
and ∂C/∂w as the library, shows bad input as a visible message, and exports a model file."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
XOR = "?data=xor&noise=0.03&hidden=6&activation=tanh&optimizer=adam&lr=0.05&batch_size=20"
FULL_BATCH_SGD = (
    "?data=xor&samples=60&hidden=4,3&activation=tanh,sigmoid"
    "&optimizer=sgd&lr=0.5&batch_size=2000&seed=3&example=5"
)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


def open_page(page, url: str, query: str = "") -> str:
    page.goto(url + query)
    page.wait_for_selector("body[data-session] .neuron canvas")
    return page.get_attribute("body", "data-session")


def state(url: str, sid: str) -> dict:
    with urllib.request.urlopen(f"{url}api/sessions/{sid}/state", timeout=10) as r:
        return json.loads(r.read())


def rebuild(s: dict, dtype: str = "float64") -> tuple[cr.Network, np.ndarray, np.ndarray]:
    net = cr.Network.from_config(s["config"])
    net.flat_params[...] = np.array(s["params"], dtype=net.dtype)
    return net.astype(dtype), np.array(s["X_train"]), np.array(s["y_train"]).astype(int)


def shown(page, selector: str) -> float:
    """A number as the page shows it (six significant digits in the inspector)."""
    return float(page.text_content(selector).split()[-1])


def test_the_page_trains_xor_until_the_test_loss_is_low(page, browser, url):
    sid = open_page(page, url, XOR)
    assert page.input_value("[name=hidden]") == "6" and page.input_value("[name=optimizer]") == "adam"
    assert "lr=0.05" in page.url and "noise=0.03" in page.url  # the settings stay in the URL
    other = browser.new_page()  # a second tab: its own session
    other_sid = open_page(other, url, XOR)
    assert other_sid != sid

    page.click("#train")
    page.wait_for_function(
        "() => Number(document.querySelector('#test-loss').dataset.value) < 0.1", timeout=60_000
    )
    page.click("#pause")
    page.wait_for_selector("#train:enabled")
    final = state(url, sid)
    page.wait_for_function(f"() => document.querySelector('#steps').textContent === '{final['step']}'")
    net, _, _ = rebuild(final, "float32")
    y_test = np.array(final["y_test"]).astype(int)
    test_loss = net.evaluate(np.array(final["X_test"]), y_test)["loss"]
    # the page showed a test loss below 0.1 (waited for above); a few Adam steps ran between that
    # frame and the pause and may have moved it a little: the figure shown is the final state's
    assert float(page.text_content("#test-loss")) == pytest.approx(test_loss, abs=1e-4) and test_loss < 0.3
    assert float(page.text_content("#test-acc").rstrip("%")) >= 90

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-xor.png"), full_page=True)
    assert (ARTIFACTS / "playground-xor.png").stat().st_size > 20_000

    assert other.text_content("#steps") == "0" and state(url, other_sid)["step"] == 0  # untouched
    other.close()


def test_step_shows_the_librarys_delta_and_gradient(page, url):
    sid = open_page(page, url, FULL_BATCH_SGD)
    assert page.input_value("#sample") == "5"
    page.locator(".edge-hit[data-level='2'][data-i='1'][data-j='2']").dispatch_event("click")
    page.wait_for_selector("#inspector[data-kind='weight'][data-step='0']")
    before = state(url, sid)

    page.uncheck("#autoplay")
    page.click("#step")
    page.wait_for_selector("#phase[data-phase='forward'][data-step='0']")
    page.keyboard.press("End")
    page.wait_for_selector("#phase[data-phase='update'][data-step='1']")
    page.wait_for_selector("#inspector[data-kind='weight'][data-step='1']")
    after = state(url, sid)
    assert after["step"] == 1

    # the backward phase: δ of example 5, on the weights the step started from
    net, X, y = rebuild(before)
    net.forward(X[5:6])
    net.backward(y[5:6])
    for j in range(3):
        box = f".neuron[data-level='2'][data-neuron='{j}']"
        label = page.text_content(f"{box} .label.delta")
        assert label.startswith("δ ")
        assert float(label.split()[1]) == pytest.approx(net.levels[1].delta[0, j], rel=6e-3)
        assert float(page.text_content(f"{box} .label.a").split()[1]) == pytest.approx(
            net.levels[1].a[0, j], rel=6e-3
        )  # a and δ stand together

    # the weight W^(2)[1, 2] after the step: a, δ, ∂C/∂w = a · δ, the finite difference
    net, X, y = rebuild(after)
    net.forward(X[5:6])
    net.backward(y[5:6])
    a, delta = net.levels[1].a_prev[0, 1], net.levels[1].delta[0, 2]
    assert shown(page, "#inspector [data-key='a']") == pytest.approx(a, rel=1e-5)
    assert shown(page, "#inspector [data-key='delta']") == pytest.approx(delta, rel=1e-5)
    assert shown(page, "#inspector [data-key='gradient']") == pytest.approx(a * delta, rel=1e-5)
    assert a * delta == net.levels[1].dW[1, 2]  # one example: ∂C/∂w is the library's dW
    assert shown(page, "#inspector [data-key='finite_difference']") == pytest.approx(a * delta, rel=1e-5)

    # the update phase: full-batch SGD moved the weight by −η ∂L/∂w
    net32, X, y = rebuild(before, "float32")
    net32.loss_and_grad(X.astype(np.float32), y)
    step = -0.5 * net32.levels[1].dW[1, 2]
    assert shown(page, "#inspector [data-key='minus_lr_grad']") == pytest.approx(step, rel=1e-4)
    w_before, w_after = (rebuild(s, "float32")[0].levels[1].W[1, 2] for s in (before, after))
    moved = w_after - w_before
    assert shown(page, "#inspector [data-key='dw']") == pytest.approx(moved, rel=1e-5)
    assert moved == pytest.approx(step, rel=1e-3, abs=1e-7)

    # a neuron: z, σ'(z) and δ of example 5 at the current weights
    page.click(".neuron[data-level='1'][data-neuron='2']")
    page.wait_for_selector("#inspector[data-kind='neuron']")
    level = net.levels[0]
    assert shown(page, "#inspector [data-key='z']") == pytest.approx(level.z[0, 2], rel=1e-5)
    assert shown(page, "#inspector [data-key='sigma_prime']") == pytest.approx(
        level.sigma_prime()[0, 2], rel=1e-5
    )
    assert shown(page, "#inspector [data-key='delta']") == pytest.approx(level.delta[0, 2], rel=1e-5)


def test_bad_input_shows_a_visible_message(page, url):
    open_page(page, url)
    message = page.locator("#message")
    hidden = page.locator("[name=hidden]")
    hidden.fill("4, 99")
    hidden.press("Tab")
    message.wait_for(state="visible")
    assert "hidden layer 2 must have 1 to 8 neurons" in message.text_content()
    assert page.locator(".neuron[data-level='1']").count() == 4  # the network is as it was
    assert page.input_value("[name=hidden]") == "4, 2"  # and so is the form
    page.select_option("[name=optimizer]", "adam")  # a later change is not refused again
    page.wait_for_function("() => location.search.includes('optimizer=adam')")
    assert page.locator("#message").is_hidden()
    hidden.fill("4, 99")
    hidden.press("Tab")
    message.wait_for(state="visible")
    page.click("#message-close")
    message.wait_for(state="hidden")

    bad = "x1,x2,label\n" + "".join(f"{k},{k % 5},{k % 2}\n" for k in range(12)) + "1,abc,0\n"
    page.set_input_files(
        "#csv", files=[{"name": "points.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    message.wait_for(state="visible")
    assert "points.csv: line 14: x2 = 'abc' is not a finite number" in message.text_content()

    good = bad.replace("1,abc,0\n", "")
    page.set_input_files(
        "#csv", files=[{"name": "points.csv", "mimeType": "text/csv", "buffer": good.encode()}]
    )
    message.wait_for(state="hidden")
    assert page.input_value("[name=data]") == "csv"

    sample = page.locator("#sample")
    sample.fill("5000")
    sample.press("Tab")
    message.wait_for(state="visible")
    assert "example 5000 does not exist: choose 0..5" in message.text_content()

    open_page(page, url, "?lr=-1")  # a shared link with a bad value
    message.wait_for(state="visible")
    assert "learning rate η must be greater than 0" in message.text_content()
    assert page.input_value("[name=lr]") == "0.03"  # the defaults instead


def test_export_downloads_a_model_file_and_the_url_reproduces_the_setup(page, browser, url, tmp_path):
    sid = open_page(page, url, "?data=moons&hidden=5&activation=relu&seed=7")
    page.select_option("[name=optimizer]", "momentum")
    page.wait_for_function("() => location.search.includes('optimizer=momentum')")
    page.uncheck("#autoplay")
    for n in range(1, 3):
        page.click("#step")
        page.wait_for_selector(f"#phase[data-phase='forward'][data-step='{n - 1}']")
        page.keyboard.press("End")
        page.wait_for_selector(f"#phase[data-phase='update']:has-text('step {n} done')")
    with page.expect_download() as download:
        page.click("#export")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "chainrule-playground-moons.safetensors"
    net = cr.load(path)
    s = state(url, sid)
    assert (
        s["step"] == 2 and net.metadata["classes"] == [0, 1] and net.metadata["feature_names"] == ["x1", "x2"]
    )
    np.testing.assert_array_equal(net.flat_params, np.array(s["params"], dtype=np.float32))

    twin = browser.new_page()  # the shared link: same settings, same initial weights
    twin_sid = open_page(twin, url, "?" + page.url.split("?", 1)[1])
    assert twin.input_value("[name=optimizer]") == "momentum" and twin.input_value("[name=hidden]") == "5"
    page.click("#reset")
    page.wait_for_selector("#steps:text-is('0')")
    assert state(url, twin_sid)["params"] == state(url, sid)["params"]
    twin.close()


def test_two_quick_clicks_the_inspector_shows_the_last(page, url):
    open_page(page, url)
    for _ in range(3):
        page.evaluate(
            """() => {
                document.querySelector(".neuron[data-level='1'][data-neuron='0']").click();
                document.querySelector(".edge-hit[data-level='2'][data-i='1'][data-j='0']")
                    .dispatchEvent(new MouseEvent("click", {bubbles: true}));
            }"""
        )
        page.wait_for_selector("#inspector[data-selected='weight 2 1 0']")
        page.wait_for_timeout(150)  # the neuron's answer, if late, must not replace it
        assert page.get_attribute("#inspector", "data-selected") == "weight 2 1 0"
        assert page.locator(".edge.selected").count() == 1
        page.click(".neuron[data-level='2'][data-neuron='1']")
        page.wait_for_selector("#inspector[data-selected='neuron 2 1']")


def test_a_closed_tab_frees_its_session_and_a_full_server_makes_room(page, browser, url):
    other = browser.new_page()
    gone = open_page(other, url)
    other.close(run_before_unload=True)  # pagehide: the beacon frees the session
    page.wait_for_timeout(50)
    for _ in range(50):
        try:
            state(url, gone)
        except urllib.error.HTTPError as e:
            assert e.code == 404
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail("the closed tab's session is still held")

    sid = open_page(page, url)
    request = urllib.request.Request(
        url + "api/sessions", data=b"{}", headers={"Content-Type": "application/json"}
    )
    for _ in range(32):  # other clients fill the server: this idle tab's place goes to one of them
        urllib.request.urlopen(request, timeout=10).close()
    page.click("#step")  # no lock-out: a fresh session with the same settings, and a plain message
    page.wait_for_selector("#message:has-text('its place went to another tab')")
    assert page.get_attribute("body", "data-session") != sid
    page.uncheck("#autoplay")
    page.click("#step")
    page.wait_for_selector("#phase[data-phase='forward']")
    page.keyboard.press("End")
    page.wait_for_selector("#phase[data-phase='update']")
    assert "sid" not in page.text_content("#message") and "pattern" not in page.text_content("#message")


def visible_labels(page, level: int, kind: str) -> int:
    return page.locator(f".neuron[data-level='{level}'] .label.{kind}:not([hidden])").count()


def test_the_phases_walk_layer_by_layer_forward_and_back(page, url):
    open_page(page, url, FULL_BATCH_SGD)  # 2 inputs, 4, 3, 2 outputs: 4 + 3 + 1 stages
    page.uncheck("#autoplay")
    page.click("#step")
    page.wait_for_selector("#phase[data-phase='forward'][data-stage='0']")
    assert visible_labels(page, 0, "a") == 2 and visible_labels(page, 1, "a") == 0
    assert page.is_disabled("#back") and page.text_content("#walk-count") == "1 / 8"
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#phase[data-stage='1']")
    assert visible_labels(page, 1, "a") == 4 and visible_labels(page, 2, "a") == 0
    for _ in range(3):
        page.click("#next")
    page.wait_for_selector("#phase[data-phase='backward'][data-stage='4']")
    assert "a − y" in page.text_content("#phase")
    assert (
        visible_labels(page, 3, "delta") == 2 and visible_labels(page, 3, "amp") == 0
    )  # no ×σ' at the output
    assert visible_labels(page, 3, "a") == 2  # a and δ together
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#phase[data-stage='5']")
    assert visible_labels(page, 2, "delta") == 3 and visible_labels(page, 2, "amp") == 3
    assert visible_labels(page, 1, "delta") == 0
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("#phase[data-stage='4']")
    assert visible_labels(page, 2, "delta") == 0 and visible_labels(page, 2, "a") == 3
    # a label lies over the edges, yet a click there reaches the weight beneath
    label = page.locator(".neuron[data-level='3'][data-neuron='0'] .label.delta").bounding_box()
    assert page.evaluate(
        "([x, y]) => !document.elementFromPoint(x, y).classList.contains('label')",
        [label["x"] + 5, label["y"] + label["height"] / 2],
    )
    assert page.evaluate(
        "() => getComputedStyle(document.querySelector('.label.amp')).backgroundColor !== 'rgba(0, 0, 0, 0)'"
    )
    page.keyboard.press("Home")
    page.wait_for_selector("#phase[data-stage='0']")
    page.keyboard.press("End")
    page.wait_for_selector("#phase[data-phase='update'][data-step='1']:has-text('Step 1 done')")
    assert page.is_disabled("#next") and page.text_content("#steps") == "1"
    page.keyboard.press("s")  # the next iteration, from the keyboard
    page.wait_for_selector("#phase[data-phase='forward'][data-stage='0']")
    page.check("#autoplay")  # and it plays by itself to the end
    page.wait_for_selector("#phase[data-phase='update'][data-step='2']")


def test_the_speed_control_and_the_log_scale_loss_curve(page, url):
    open_page(page, url)
    page.fill("#speed", "0")  # 1 step per second
    page.dispatch_event("#speed", "input")
    assert page.text_content("#speed-text") == "1 step/s"
    page.click("#train")
    page.wait_for_timeout(1500)
    page.click("#pause")
    page.wait_for_selector("#train:enabled")
    steps = int(page.text_content("#steps"))
    assert 1 <= steps <= 4, steps
    page.fill("#speed", "5")
    page.dispatch_event("#speed", "input")
    assert page.text_content("#speed-text") == "full speed"
    page.click("#train")
    page.wait_for_function(
        "() => Number(document.querySelector('#steps').textContent) > 2000", timeout=30_000
    )
    page.click("#pause")
    page.wait_for_selector("#train:enabled")
    page.wait_for_timeout(200)
    last = page.text_content("#curves .last-step")
    assert last == f"step {page.text_content('#steps')}"  # the whole number, not clipped
    svg, text = page.locator("#curves").bounding_box(), page.locator("#curves .last-step").bounding_box()
    assert text["x"] >= svg["x"] and text["x"] + text["width"] <= svg["x"] + svg["width"] + 0.5
    assert page.text_content("#curves").count("log") == 1


BIGGEST = "?hidden=8,8,8,8,8,8&activation=tanh,tanh,tanh,tanh,tanh,tanh"


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080), (768, 1024), (390, 844)])
def test_the_layout_fits_the_screen(browser, url, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    open_page(page, url, BIGGEST)
    page.uncheck("#autoplay")
    page.click("#step")
    page.wait_for_selector("#phase[data-phase='forward']")
    page.keyboard.press("End")
    page.wait_for_selector("#phase[data-phase='update']")
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    together = width >= 1100  # a wide screen: diagram, output and inspector seen at once
    for selector in ("#diagram", "#output", "#inspector", "#walk", "#step", "#speed", "#settings"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)
        if together and selector != "#settings":
            assert box["y"] >= 0 and box["y"] + box["height"] <= height + 0.5, (selector, box)
    last = page.locator(".neuron[data-level='7'][data-neuron='1']").bounding_box()  # the output layer
    assert last["x"] + last["width"] <= width
    frame = page.locator("#diagram-box").bounding_box()
    for stage in ("Home", "End"):  # the walk's longest texts do not push the drawing out of its box
        page.keyboard.press(stage)
        lowest = max(b["y"] + b["height"] for b in (n.bounding_box() for n in page.locator(".neuron").all()))
        frame = page.locator("#diagram-box").bounding_box()
        assert lowest <= frame["y"] + frame["height"] + 0.5, (stage, lowest, frame)
    page.click(".neuron[data-level='7'][data-neuron='1']")  # usable: it answers a click
    page.wait_for_selector("#inspector[data-selected='neuron 7 1']")
    if width == 1280:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "playground-1280x720.png"))
    page.click("#lesson-open")  # the lesson opens where it is seen (below the fold on a phone before)
    page.wait_for_selector("#lesson[data-ready='1']")
    box = page.locator("#lesson").bounding_box()
    assert box["y"] < height and box["y"] + min(box["height"], height) > 0, box
    context.close()


def test_the_lesson_walks_the_notes_on_the_live_network(page, url):
    open_page(page, url, FULL_BATCH_SGD)  # levels 0..3; the lesson's weight is W^(3)[0, 0]
    page.click("#lesson-open")
    marks = [
        ".neuron[data-level='1'][data-neuron='0']",
        ".neuron[data-level='3'][data-neuron='0']",
        "path.edge.lesson-mark",
        ".neuron[data-level='2'][data-neuron='0']",
        ".neuron[data-level='3'][data-neuron='0']",
        "path.edge.lesson-mark",
    ]
    texts = []
    for n, mark in enumerate(marks, start=1):
        page.wait_for_selector(f"#lesson[data-ready='{n}']")
        assert page.locator(".lesson-mark").count() == 1
        assert page.locator(mark).first.evaluate("el => el.classList.contains('lesson-mark')")
        texts.append(page.text_content("#lesson-text"))
        if n == 3:  # the inspector shows the same weight, and the text its a · δ
            page.wait_for_selector("#inspector[data-selected='weight 3 0 0']")
            gradient = shown(page, "#inspector [data-key='gradient']")
            assert "= " + page.evaluate("(g) => g.toPrecision(3)", gradient) + ";" in texts[-1]
        if n < len(marks):
            page.click("#lesson-next")
    assert "forward" in texts[0] and "C = " in texts[1] and "∂z/∂w · ∂C/∂z" in texts[2]
    # screen 2: every output and target, so that C adds up (it showed the marked output alone)
    found = re.search(
        r"a = \(([^,]+), ([^)]+)\) is compared with the target y = \(([^,]+), ([^)]+)\)", texts[1]
    )
    a, y = [float(v) for v in found.groups()[:2]], [float(v) for v in found.groups()[2:]]
    cost = float(re.search(r"C = ([\d.e+-]+)", texts[1]).group(1))
    assert sum(a) == pytest.approx(1, abs=2e-3) and sorted(y) == [0, 1]
    assert cost == pytest.approx(-np.log(a[y.index(1)]), rel=2e-2)
    assert "reversed" in texts[4] and "amplifier" in texts[4] and "w − η" in texts[5]
    # the live numbers of the neuron of screen 1: its z, for the chosen example
    page.click("#lesson-back")
    assert "z = " in texts[0] and "for example 5" in texts[0]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-lesson.png"))
    page.wait_for_selector("#lesson[data-ready='5']")
    page.click("#lesson-close")
    assert page.locator("#lesson").is_hidden() and page.locator(".lesson-mark").count() == 0


def test_a_link_to_plane_alone_opens_the_regression(page, url):
    """?data=plane was refused ("use loss squared_error") though the menu switches the loss itself."""
    open_page(page, url, "?data=plane")
    assert page.locator("#message").is_hidden()
    assert page.input_value("[name=data]") == "plane" and page.input_value("[name=loss]") == "squared_error"


def test_no_stage_of_the_walk_pushes_the_diagram_out_of_its_box(browser, url):
    """At 1280×720 a three-line stage text pushed the bottom neurons of a 2-8-8-2 network 8 px
    out of the diagram's box (the drawing was fitted to a two-line text)."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    open_page(page, url, "?hidden=8,8&activation=relu,relu")
    page.uncheck("#autoplay")
    page.click("#step")
    page.wait_for_selector("#phase[data-phase='forward']")
    for _ in range(8):  # forward 0..3, backward 3..1, update
        lowest = max(b["y"] + b["height"] for b in (n.bounding_box() for n in page.locator(".neuron").all()))
        frame = page.locator("#diagram-box").bounding_box()
        assert lowest <= frame["y"] + frame["height"] + 0.5, (page.text_content("#phase"), lowest, frame)
        page.keyboard.press("ArrowRight")
    context.close()


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("?example=9999", "The link's example 9999 does not exist: choose 0..199; showing example 0."),
        ("?show_test=2", "The link's show_test=2 is neither 0 nor 1: the test data is shown."),
    ],
)
def test_a_link_value_out_of_bounds_is_said(page, url, query, said):
    """?example=9999 and ?show_test=2 were ignored without a word."""
    open_page(page, url, query)
    page.locator("#message").wait_for(state="visible")
    assert page.text_content("#message").strip().startswith(said)
