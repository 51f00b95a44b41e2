// chainrule playground: the controls TensorFlow Playground has. An ES module that playground.js imports
// and wires (`wireControls(page)`, page = its state, changeSettings, activationSelects, writeURL and
// drawFrame):
//   + / − for hidden layers and, over each hidden layer, for its neurons (within the server's bounds);
//   the input features x₁, x₂, x₁², x₂², x₁x₂, sin x₁, sin x₂ (computed by the server);
//   "show test data" on the output map (kept in the URL as show_test);
//   a neuron's map shown large in the output's place while the pointer is over it.
import { element } from "./diagram.js";

const $ = (selector, root = document) => root.querySelector(selector);
let page = null;  // what playground.js lends: { state, changeSettings, activationSelects, writeURL, drawFrame, showMessage }

// ---- TF Playground controls: the input features
const FEATURE_LABELS = {
  x1: "x₁", x2: "x₂", x1_squared: "x₁²", x2_squared: "x₂²", x1_x2: "x₁x₂", sin_x1: "sin x₁", sin_x2: "sin x₂",
};

function featureBoxes() {
  const box = $("#feature-boxes");
  if (box.childElementCount) return box;
  for (const [name, text] of Object.entries(FEATURE_LABELS)) {
    const input = element("input", { type: "checkbox", name: "features", value: name });
    const label = element("label", { class: "feature", "data-feature": name });
    label.append(input, ` ${text}`);
    box.append(label);
  }
  return box;
}

// The chosen features, in the order of the list (the network's input column from top to bottom).
export function readFeatures() {
  return [...featureBoxes().querySelectorAll("input:checked")].map((input) => input.value);
}

// Tick the features of the settings; the last ticked one cannot be unticked (at least one input).
export function fillFeatures(features) {
  const chosen = new Set(features || ["x1", "x2"]);
  const s = page.state.structure;
  const columns = s && s.columns ? s.columns : ["x1", "x2"];
  const apply = columns.length === 2;
  featureBoxes().querySelectorAll("input").forEach((input) => {
    input.checked = chosen.has(input.value);
    input.disabled = !apply || (input.checked && chosen.size === 1);
  });
  let note = "";
  if (!apply) note = `features apply to two input columns; this data has ${columns.length}`;
  else if (columns[0] !== "x1" || columns[1] !== "x2") {
    note = `x₁ = ${columns[0]}, x₂ = ${columns[1]}` + (s && s.settings.data === "csv" ? ", standardised" : "");
  }
  $("#features-note").textContent = note;
}

// ---- TF Playground controls: + / − for layers and neurons
const NEW_LAYER_NEURONS = 2;  // a layer added by + starts with 2 neurons, as in TensorFlow Playground
const controls = { busy: false, zoomed: null, frameRequest: 0 };

function hiddenSizes() { return page.state.structure.settings.hidden.slice(); }

// Ask for the network with these hidden layers; the form, the activations and the URL follow.
async function changeNetwork(hidden, activations) {
  if (controls.busy) return;
  controls.busy = true;
  renderControls();
  const form = $("#settings");
  form.elements.hidden.value = hidden.join(", ");
  page.activationSelects(activations);
  try {
    await page.changeSettings();
  } finally {
    controls.busy = false;
    renderControls();
  }
}

function addLayer() {
  const hidden = hiddenSizes(), activations = page.state.structure.settings.activation.slice();
  changeNetwork([...hidden, NEW_LAYER_NEURONS], [...activations, activations[activations.length - 1] || "tanh"]);
}

function removeLayer() {
  const hidden = hiddenSizes(), activations = page.state.structure.settings.activation.slice();
  changeNetwork(hidden.slice(0, -1), activations.slice(0, -1));
}

function changeNeurons(layer, by) {
  const hidden = hiddenSizes();
  hidden[layer - 1] += by;
  changeNetwork(hidden, page.state.structure.settings.activation.slice());
}

// The layer count and its buttons, and a + / − pair over each hidden layer's column of the diagram
// (placed by where the column's first neuron is drawn), each disabled at its bound.
export function renderControls() {
  const s = page.state.structure;
  if (!s) return;
  const { hidden_layers: maxLayers, neurons: maxNeurons } = s.limits;
  const hidden = s.settings.hidden;
  $("#layer-count").textContent = `${hidden.length} hidden layer${hidden.length === 1 ? "" : "s"}`;
  $("#layer-count").title = "hidden layers";
  $("#layer-add").disabled = controls.busy || hidden.length >= maxLayers;
  $("#layer-remove").disabled = controls.busy || hidden.length === 0;
  const strip = $("#neuron-controls");
  strip.replaceChildren();
  const origin = strip.getBoundingClientRect();
  hidden.forEach((n, k) => {
    const first = document.querySelector(`.neuron[data-level='${k + 1}'][data-neuron='0']`);
    if (!first) return;
    const box = first.getBoundingClientRect();
    const pair = element("div", { class: "neuron-buttons", "data-layer": String(k + 1) });
    const more = element("button", { type: "button", class: "neuron-add", title: `Add a neuron to layer ${k + 1}` }, "+");
    const less = element("button", { type: "button", class: "neuron-remove", title: `Remove a neuron from layer ${k + 1}` }, "−");
    more.disabled = controls.busy || n >= maxNeurons;
    less.disabled = controls.busy || n <= 1;
    more.addEventListener("click", () => changeNeurons(k + 1, 1));
    less.addEventListener("click", () => changeNeurons(k + 1, -1));
    pair.append(more, less);
    strip.append(pair);
    pair.style.left = `${box.left - origin.left + box.width / 2 - pair.offsetWidth / 2}px`;
  });
  // a small diagram: smaller buttons if the pairs would touch, a shorter count if it meets the last pair
  const panel = $("#network-controls");
  panel.classList.remove("tight");
  const pairs = [...strip.children].map((pair) => pair.getBoundingClientRect());
  if (pairs.some((r, k) => k > 0 && r.left < pairs[k - 1].right + 2)) panel.classList.add("tight");
  const lastPair = strip.lastElementChild;
  const overlaps = () => lastPair
    && lastPair.getBoundingClientRect().right + 4 > $("#layer-controls").getBoundingClientRect().left;
  panel.classList.remove("stacked");
  const full = $("#layer-count").textContent;
  for (const text of [`${hidden.length} layers`, `${hidden.length}`]) {
    if (!overlaps()) break;
    $("#layer-count").textContent = text;
  }
  if (overlaps()) {  // still over the last pair (a phone, 6 layers): the layer buttons get a row of their own
    panel.classList.add("stacked");
    $("#layer-count").textContent = full;
  }
}

// ---- TF Playground controls: show test data (in the URL as show_test=0 or 1)
export function controlsURL(query) {
  query.set("show_test", page.state.showTest === false ? "0" : "1");
}

function setShowTest(show) {
  page.state.showTest = show;
  $("#show-test").checked = show;
  if (page.state.structure) page.writeURL();
  if (page.state.frame) page.drawFrame(page.state.frame);
}

// ---- TF Playground controls: a neuron's map, large, in the output's place while hovered
function showZoom(neuron) {
  controls.zoomed = neuron;
  const zoom = $("#zoom"), output = $("#output");
  zoom.style.left = `${output.offsetLeft}px`;
  zoom.style.top = `${output.offsetTop}px`;
  zoom.style.width = `${output.offsetWidth}px`;
  const l = Number(neuron.dataset.level), j = Number(neuron.dataset.neuron);
  const last = page.state.structure.levels.length - 1;
  $("#zoom-caption").textContent = l === 0 ? `input ${page.state.structure.feature_names[j]} over (x₁, x₂)`
    : `a of ${l === last ? "output" : "neuron"} ${j}${l === last ? "" : ` of layer ${l}`} over (x₁, x₂)`;
  zoom.dataset.level = String(l);
  zoom.dataset.neuron = String(j);
  zoom.hidden = false;
  drawZoom();
}

// Copy the neuron's small map, smoothly enlarged; again every animation frame, so it follows training.
function drawZoom() {
  cancelAnimationFrame(controls.frameRequest);
  const neuron = controls.zoomed;
  if (!neuron || !neuron.isConnected) { hideZoom(); return; }
  const big = $("#zoom-map"), context = big.getContext("2d");
  context.imageSmoothingEnabled = true;
  context.drawImage(neuron.querySelector("canvas"), 0, 0, big.width, big.height);
  $("#zoom").dataset.drawn = "1";
  controls.frameRequest = requestAnimationFrame(drawZoom);
}

function hideZoom() {
  cancelAnimationFrame(controls.frameRequest);
  controls.zoomed = null;
  $("#zoom").hidden = true;
  delete $("#zoom").dataset.drawn;
}

export function wireControls(lent) {
  page = lent;
  featureBoxes();
  $("#layer-add").addEventListener("click", addLayer);
  $("#layer-remove").addEventListener("click", removeLayer);
  $("#show-test").addEventListener("change", (event) => setShowTest(event.target.checked));
  const shown = new URLSearchParams(location.search).get("show_test");
  page.state.showTest = shown !== "0";
  if (shown !== null && shown !== "0" && shown !== "1") {
    page.showMessage(`The link's show_test=${shown} is neither 0 nor 1: the test data is shown.`);
  }
  $("#show-test").checked = page.state.showTest;
  const diagram = $("#diagram");
  diagram.addEventListener("mouseover", (event) => {
    const neuron = event.target.closest(".neuron");
    if (neuron && neuron !== controls.zoomed) showZoom(neuron);
  });
  diagram.addEventListener("mouseout", (event) => {
    const neuron = event.target.closest(".neuron");
    if (neuron && !neuron.contains(event.relatedTarget)) hideZoom();
  });
}

