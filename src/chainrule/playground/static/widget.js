// The notebook widget's view (chainrule.widget.NetworkView, an anywidget): the network drawn by
// diagram.js from the state the Python side syncs, nothing computed here but the layout.
//   levels, feature_names, weights, grid, maps   the network and its heat maps
//   example, n_examples, passes                  the chosen example's z, a, σ'(z), δ (a^(0) = x first)
//   neurons, gradients, cost, loss               how each δ was built, ∂C/∂W = a δᵀ, C of the example
// The widget's ES module is diagram.js followed by this file (Python drops the import below).
import {
  MID, buildDiagram, drawMap, drawMaps, drawWeights, element, markSelection, neuronPanel, showValues,
  weightPanel,
} from "./diagram.js";

const HINT = "Click a neuron for its z, a, σ'(z) and δ; click a weight (an edge) for ∂C/∂w = a · δ. "
  + "Orange is negative, blue positive; an edge's width is |w|.";
const SHAPE = ["levels", "feature_names", "grid"];
const KEYS = [...SHAPE, "weights", "maps", "example", "n_examples", "passes", "neurons", "gradients", "cost",
  "loss", "message"];

function selectionKey(s) {
  return s.kind === "neuron" ? `neuron ${s.level} ${s.j}` : `weight ${s.level} ${s.i} ${s.j}`;
}

function fits(s, levels) {
  if (s.level >= levels.length || s.j >= levels[s.level].n) return false;
  return s.kind === "neuron" || s.i < levels[s.level - 1].n;
}

// The numbers of chainrule.explain for one weight, from the synced state: w, a (forward), δ
// (backward), ∂C/∂w = a · δ (the library's backward pass), and the chain of δ from its layer up.
function weightNumbers(model, s) {
  const neurons = model.get("neurons");
  return {
    level: s.level, i: s.i, j: s.j, sample: model.get("example"),
    w: model.get("weights")[s.level - 1].W[s.i][s.j],
    a: model.get("passes")[s.level - 1].a[s.i],
    delta: model.get("passes")[s.level].delta[s.j],
    gradient: model.get("gradients")[s.level - 1].dW[s.i][s.j],
    cost: model.get("cost"), loss: model.get("loss"),
    chain: [[neurons[s.level - 1][s.j]], ...neurons.slice(s.level)],
  };
}

function render({ model, el }) {
  const root = element("div", { class: "cr-widget" });
  const head = element("div", { class: "cr-head" });
  const slider = element("input", { type: "range", min: "0", step: "1", class: "cr-example" });
  const chosen = element("output", { class: "cr-example-number" });
  const label = element("label", {}, "example ");
  label.append(slider, chosen);
  const cost = element("span", { class: "cr-cost" });
  head.append(label, cost);
  const message = element("p", { class: "cr-message" });
  const box = element("div", { class: "cr-diagram-box" });
  const diagram = element("div", { class: "cr-diagram" });
  box.append(diagram);
  const inspector = element("div", { class: "cr-inspector", "aria-live": "polite" });
  root.append(head, message, box, inspector);
  el.append(root);

  let d = null, selected = null, reshape = true, pending = false;

  function select(s) {
    selected = s;
    markSelection(d, selected);
    inspect();
  }

  function inspect() {
    const s = selected;
    delete root.dataset.kind;
    root.dataset.selected = s ? selectionKey(s) : "";
    if (!s) { inspector.replaceChildren(element("p", { class: "hint" }, HINT)); return; }
    if (!model.get("neurons").length) {
      inspector.replaceChildren(element("p", { class: "hint" }, model.get("message")));
      return;
    }
    const sample = model.get("example");
    if (s.kind === "neuron") {
      const n = { ...model.get("neurons")[s.level - 1][s.j], b: model.get("weights")[s.level - 1].b[s.j],
        x: model.get("passes")[0].a };
      inspector.replaceChildren(...neuronPanel(n, { levels: d.levels, sample }));
    } else {
      inspector.replaceChildren(...weightPanel(weightNumbers(model, s), { featureNames: model.get("feature_names") }));
    }
    root.dataset.kind = s.kind;
  }

  function draw() {
    pending = false;
    const levels = model.get("levels");
    if (reshape) {
      reshape = false;
      const grid = model.get("grid");
      const room = el.clientWidth > 200 ? el.clientWidth - 4 : 720;
      d = buildDiagram(diagram, { levels, grid: grid || 1, featureNames: model.get("feature_names"), onSelect: select, room });
      if (selected && !fits(selected, levels)) selected = null;
    }
    drawWeights(d, model.get("weights"));
    if (model.get("grid") > 0) drawMaps(d, model.get("maps"));
    else d.neurons.flat().forEach((b) => drawMap(b.querySelector("canvas"), 1, null, () => MID));
    const passes = model.get("passes");
    const withDelta = passes.length > 1 && passes[1].delta !== undefined;
    if (passes.length) showValues(d, passes, () => true, () => withDelta);
    const n = model.get("n_examples");
    slider.max = String(Math.max(0, n - 1));
    slider.value = String(model.get("example"));
    slider.disabled = n <= 1;
    label.hidden = n === 0;
    chosen.textContent = String(model.get("example"));
    const c = model.get("cost");
    cost.textContent = c === null || c === undefined ? "" : `C = ${Number(c).toPrecision(6)} (${model.get("loss")})`;
    message.textContent = model.get("message");
    message.hidden = model.get("message") === "";
    markSelection(d, selected);
    inspect();
    root.dataset.example = String(model.get("example"));
    root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
  }

  // Several traits change together (a new example: passes, neurons, gradients, cost): one redraw.
  function schedule(shape) {
    reshape = reshape || shape;
    if (pending) return;
    pending = true;
    queueMicrotask(draw);
  }
  const handlers = KEYS.map((key) => [`change:${key}`, () => schedule(SHAPE.includes(key))]);
  for (const [event, handler] of handlers) model.on(event, handler);
  slider.addEventListener("input", () => {
    model.set("example", Number(slider.value));
    model.save_changes();
  });
  draw();
  return () => { for (const [event, handler] of handlers) model.off(event, handler); };
}

export default { render };
