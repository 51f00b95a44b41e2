// chainrule playground: the page. Plain JavaScript, no build step, nothing loaded from the internet.
// The server (chainrule.playground.app) owns every number; this file draws them:
//   the network diagram (neurons as heat maps of a over the input plane, edges as weights),
//   the output (decision boundary or regression surface, training and test points),
//   the loss curves, the three phases of Step, and the inspector (chainrule.explain's numbers).
import {
  MID, NEG, PALETTE, POS, SVG, buildDiagram as drawDiagram, drawMap, drawMaps, drawWeights, element, fmt,
  markSelection as markDiagram, mix, neuronPanel, short, showValues, weightPanel,
} from "./diagram.js";
import { controlsURL, fillFeatures, readFeatures, renderControls, wireControls } from "./controls.js";

const $ = (selector, root = document) => root.querySelector(selector);
const FIELDS = ["data", "classes", "samples", "noise", "test_fraction", "seed", "hidden", "activation",
  "loss", "dropout", "optimizer", "lr", "batch_size", "l2", "l1", "features"];
const TEXT_FIELDS = new Set(["data", "loss", "optimizer"]);
const ACTIVATIONS = ["tanh", "relu", "leaky_relu", "sigmoid", "identity"];
const MULTICLASS = new Set(["spiral", "gaussians"]);
const CLASS_COLOURS = [NEG, POS, [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
  [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];
const PHASE_MS = 450;  // each stage of a played walk

const state = {
  id: null, structure: null, frame: null, sample: 0, running: false, busy: false,
  selected: null,  // {kind: "neuron", level, j} or {kind: "weight", level, i, j}
  events: null, inspecting: 0, inspectTicket: 0, lastInspect: 0, lastUpdate: null,
};
window.playground = { state };  // what the page shows, for the browser's console (and the tests)

// ---------------------------------------------------------------------------------------- helpers
class ApiError extends Error {}

const REOPENED = "This tab was idle, and its place went to another tab: a fresh network started with "
  + "the same settings.";

async function api(method, path, body, raw = false) {
  const ofSession = path.startsWith("/api/sessions/");
  if (ofSession && !state.id) throw new ApiError("this page is not connected to the playground: reload the page");
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.body = raw ? body : JSON.stringify(body);
    options.headers["Content-Type"] = raw ? "text/csv" : "application/json";
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new ApiError(`the playground server does not answer (${e.message}): is it still running?`);
  }
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (response.status === 404 && ofSession && !state.reopening) {
    state.reopening = true;
    try { await reopen(); } finally { state.reopening = false; }
    throw new ApiError(REOPENED);
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : response.statusText;
    throw new ApiError(detail || `error ${response.status}`);
  }
  return data;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function showMessage(text) {
  $("#message-text").textContent = text;
  $("#message").hidden = false;
}

function hideMessage() { $("#message").hidden = true; }

// ---------------------------------------------------------------------------------------- settings
function toNumber(text) {
  const t = String(text).trim();
  const v = Number(t);
  return t !== "" && Number.isFinite(v) ? v : t;  // the server names what is wrong with the rest
}

function splitList(text) {
  const t = String(text).trim();
  return t === "" ? [] : t.split(",").map((s) => s.trim());
}

function readForm() {
  const form = $("#settings");
  const settings = {};
  for (const name of FIELDS) {
    if (name === "activation") {
      settings.activation = [...document.querySelectorAll("#activations select")].map((s) => s.value);
    } else if (name === "hidden") {
      settings.hidden = splitList(form.elements.hidden.value).map(toNumber);
    } else if (name === "features") {
      settings.features = readFeatures();  // controls.js
    } else {
      const value = form.elements[name].value;
      settings[name] = TEXT_FIELDS.has(name) ? value : toNumber(value);
    }
  }
  return settings;
}

function activationSelects(values) {
  const box = $("#activations");
  box.replaceChildren();
  values.forEach((value, k) => {
    const select = element("select", { "data-layer": String(k + 1) });
    for (const name of ACTIVATIONS) select.append(element("option", { value: name }, name));
    select.value = value;
    const label = element("label", {}, `activation of layer ${k + 1}`);
    label.append(select);
    box.append(label);
  });
}

function fillForm(settings) {
  const form = $("#settings");
  for (const name of FIELDS) {
    if (name === "activation" || name === "features") continue;
    const value = settings[name];
    form.elements[name].value = Array.isArray(value) ? value.join(", ") : value;
  }
  activationSelects(settings.activation);
  fillFeatures(settings.features);  // controls.js
  form.elements.classes.disabled = !MULTICLASS.has(settings.data);
}

function settingsFromURL() {
  const query = new URLSearchParams(location.search);
  const settings = {};
  for (const name of FIELDS) {
    if (!query.has(name)) continue;
    const value = query.get(name);
    if (name === "hidden") settings.hidden = splitList(value).map(toNumber);
    else if (name === "activation" || name === "features") settings[name] = splitList(value);
    else settings[name] = TEXT_FIELDS.has(name) ? value : toNumber(value);
  }
  if (settings.hidden && !settings.activation) settings.activation = settings.hidden.map(() => "tanh");
  return settings;
}

function writeURL() {
  const query = new URLSearchParams();
  const settings = state.structure.settings;
  for (const name of FIELDS) {
    const value = settings[name];
    query.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  query.set("example", String(state.sample));
  controlsURL(query);  // controls.js: show_test
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

// ---------------------------------------------------------------------------------------- sessions
async function start() {
  const wanted = settingsFromURL();
  const example = Number(new URLSearchParams(location.search).get("example"));
  let setup;
  try {
    setup = await api("POST", "/api/sessions", wanted);
  } catch (e) {
    if (Object.keys(wanted).length === 0) { showMessage(e.message); return; }
    showMessage(`The settings in the link were refused (${e.message}); showing the defaults instead.`);
    setup = await api("POST", "/api/sessions", {});
  }
  state.sample = Number.isInteger(example) && example >= 0 ? example : 0;
  adopt(setup);
  window.addEventListener("pagehide", closeSession);
  window.addEventListener("pageshow", async (event) => {  // back from the back-forward cache
    if (event.persisted && !state.id) adopt(await api("POST", "/api/sessions", state.structure.settings));
  });
}

// The tab is closing (or going into the back-forward cache): free its session at once, by a
// beacon, which the browser delivers even as the page goes away.
function closeSession() {
  if (!state.id) return;
  const sid = state.id;
  state.id = null;
  if (state.events) state.events.close();
  if (!navigator.sendBeacon(`/api/sessions/${sid}/close`)) {
    fetch(`/api/sessions/${sid}`, { method: "DELETE", keepalive: true }).catch(() => {});
  }
}

// The server let this tab's session go (it was idle longest when another tab needed room, or the
// server restarted): start a new one with the same settings.
async function reopen() {
  const setup = await api("POST", "/api/sessions", state.structure ? state.structure.settings : {});
  adopt(setup);
  showMessage(REOPENED);
}

function adopt(setup) {
  state.id = setup.id;
  document.body.dataset.session = setup.id;
  $("#export").href = `/api/sessions/${state.id}/model`;
  applySetup(setup);
  listen();
}

function applySetup(setup) {
  state.structure = setup.structure;
  const n = setup.structure.train.x.length;
  if (state.sample >= n) state.sample = 0;
  $("#sample").max = String(n - 1);
  $("#sample").value = String(state.sample);
  if (setup.structure.settings.data === "csv") $("#settings").elements.data.querySelector("[value=csv]").disabled = false;
  fillForm(setup.structure.settings);
  const levels = setup.structure.levels;
  if (state.selected && !selectionFits(levels)) state.selected = null;
  writeURL();
  buildDiagram();
  renderControls();  // controls.js: the +/− buttons over the new diagram
  clearValues();
  setPhase("idle", IDLE_TEXT);
  if (lesson.at >= 0) setTimeout(() => showLesson(lesson.at), 0);
  drawFrame(setup.frame);
  setRunning(false);
  inspect();
}

// A new size of the window: the diagram fitted again, with what it showed.
function redraw() {
  if (!state.structure) return;
  buildDiagram();
  renderControls();
  if (state.frame) drawFrame(state.frame);
  if (walk.result) showStage(walk.at);
  if (lesson.at >= 0) showLesson(lesson.at);
}

function selectionFits(levels) {
  const s = state.selected;
  if (s.level >= levels.length || s.j >= levels[s.level].n) return false;
  return s.kind === "neuron" || s.i < levels[s.level - 1].n;
}

function listen() {
  if (state.events) state.events.close();
  state.events = new EventSource(`/api/sessions/${state.id}/events`);
  state.events.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    drawFrame(frame);
    if (frame.error) showMessage(frame.error);
    if (!frame.running && state.running) setRunning(false);
    if (Date.now() - state.lastInspect > 500 && !state.inspecting) inspect();
  };
}

async function changeSettings() {
  try {
    const setup = await api("PUT", `/api/sessions/${state.id}/settings`, readForm());
    hideMessage();
    applySetup(setup);
  } catch (e) {
    showMessage(`${e.message}. The network is unchanged.`.replace(/\.\. /, ". "));
    if (state.structure) fillForm(state.structure.settings);  // the form says what is drawn
  }
}

function setRunning(running) {
  state.running = running;
  $("#train").disabled = running;
  $("#pause").disabled = !running;
}

const SPEEDS = [1, 3, 10, 50, 300, null];  // steps per second; null: as fast as the machine goes

function speedText(speed) {
  return speed === null ? "full speed" : `${speed} step${speed === 1 ? "" : "s"}/s`;
}

function speed() { return SPEEDS[Number($("#speed").value)]; }

async function run(running) {
  if (running) clearValues();
  try {
    const answer = await api("POST", `/api/sessions/${state.id}/run`, { running, speed: speed() });
    setRunning(answer.running);
    if (running) hideMessage();
  } catch (e) {
    showMessage(e.message);
  }
}

async function upload(file) {
  try {
    const setup = await api("POST", `/api/sessions/${state.id}/data`, file, true);
    hideMessage();
    applySetup(setup);
  } catch (e) {
    showMessage(`${file.name}: ${e.message}`);
  } finally {
    $("#csv").value = "";
  }
}

// ---------------------------------------------------------------------------------------- the diagram
const IDLE_TEXT = "Step runs one iteration and walks it: forward, layer by layer; backward, layer by layer; "
  + "update. Use next / back or the → / ← keys.";

// The diagram: chainrule/playground/static/diagram.js draws it, shared with the notebook widget.
function buildDiagram() {
  const s = state.structure;
  state.diagram = drawDiagram($("#diagram"), {
    levels: s.levels, grid: s.grid, featureNames: s.feature_names, onSelect: select,
  });
  state.layout = state.diagram.layout;
  state.edges = state.diagram.edges;
  state.neurons = state.diagram.neurons;
  markSelection();
}

function markSelection() { markDiagram(state.diagram, state.selected); }

function drawFrame(frame) {
  state.frame = frame;
  const levels = state.structure.levels;
  $("#steps").textContent = String(frame.step);
  $("#epoch").textContent = frame.epoch.toFixed(frame.epoch < 10 ? 2 : 0);
  for (const part of ["train", "test"]) {
    const loss = frame[part].loss;
    const cell = $(`#${part}-loss`);
    cell.textContent = loss === null ? "diverged" : loss.toFixed(4);
    cell.dataset.value = loss === null ? "NaN" : String(loss);
    const accuracy = frame[part].accuracy;
    $(`#${part}-acc`).textContent = accuracy === undefined || accuracy === null ? "–" : `${(100 * accuracy).toFixed(1)}%`;
  }
  document.querySelectorAll(".acc").forEach((el) => { el.hidden = state.structure.task !== "classification"; });
  drawWeights(state.diagram, frame.weights);
  const maps = drawMaps(state.diagram, frame.maps);
  drawOutput(maps[levels.length - 1]);
  drawCurves(frame.history);
}

function outputColour(outputs) {
  const s = state.structure;
  if (s.task === "regression") return (p) => PALETTE[outputs[0][p]];
  const k = s.classes.length;
  return (p) => {
    const probs = outputs.length === 1 ? [255 - outputs[0][p], outputs[0][p]] : outputs.map((m) => m[p]);
    let best = 0;
    for (let c = 1; c < probs.length; c++) if (probs[c] > probs[best]) best = c;
    const confidence = Math.max(0, (probs[best] / 255 - 1 / k) / (1 - 1 / k));
    return mix(MID, CLASS_COLOURS[best % CLASS_COLOURS.length], 0.8 * confidence);
  };
}

function drawOutput(outputs) {
  const s = state.structure;
  const g = s.grid;
  const canvas = $("#output");
  const off = document.createElement("canvas");
  off.width = g;
  off.height = g;
  const colour = outputColour(outputs);
  drawMap(off, g, null, (p) => colour(p));
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = true;
  context.drawImage(off, 0, 0, canvas.width, canvas.height);
  const [x1lo, x1hi, x2lo, x2hi] = s.extent;
  const px = (x) => [((x[0] - x1lo) / (x1hi - x1lo)) * canvas.width, ((x2hi - x[1]) / (x2hi - x2lo)) * canvas.height];
  const [lo, hi] = s.ranges[s.ranges.length - 1];
  const pointColour = (y) => {
    if (s.task === "regression") return PALETTE[Math.round(255 * Math.min(1, Math.max(0, (y - lo) / (hi - lo))))];
    return CLASS_COLOURS[y % CLASS_COLOURS.length];
  };
  for (const [part, test] of [["train", false], ["test", true]]) {
    if (test && state.showTest === false) continue;  // "show test data" unticked
    s[part].x.forEach((x, n) => {
      const [u, v] = px(x);
      const c = pointColour(s[part].y[n]);
      context.beginPath();
      context.arc(u, v, 3.2, 0, 2 * Math.PI);
      const regression = s.task === "regression";  // points coloured like the surface: outline them
      context.fillStyle = test && !regression ? "white" : `rgb(${c.join(",")})`;
      context.strokeStyle = regression ? (test ? "black" : "#555") : test ? `rgb(${c.join(",")})` : "white";
      context.lineWidth = test ? 1.8 : 1;
      context.fill();
      context.stroke();
    });
  }
  const chosen = s.train.x[state.sample];
  if (chosen) {
    const [u, v] = px(chosen);
    context.beginPath();
    context.arc(u, v, 7, 0, 2 * Math.PI);
    context.strokeStyle = "black";
    context.lineWidth = 2;
    context.stroke();
  }
}

// The loss curves on a log scale (a linear one is a cliff, then a flat line), with the full step count.
function drawCurves(history) {
  const svg = $("#curves");
  svg.replaceChildren();
  const steps = history.step;
  const values = [...history.train, ...history.test].filter((v) => v !== null && v > 0);
  if (steps.length < 1 || values.length === 0) return;
  let hi = Math.log10(Math.max(...values)), lo = Math.log10(Math.min(...values));
  if (hi - lo < 0.3) { hi += 0.15; lo -= 0.15; }
  const last = steps[steps.length - 1] || 1;
  const x = (s) => 34 + (s / last) * 260;
  const y = (v) => 8 + ((hi - Math.log10(Math.max(v, 1e-300))) / (hi - lo)) * 104;
  for (const part of ["train", "test"]) {
    const points = steps.map((s, k) => (history[part][k] === null ? null : `${x(s).toFixed(1)},${y(history[part][k]).toFixed(1)}`));
    svg.append(element("polyline", { class: part, points: points.filter(Boolean).join(" ") }, null, SVG));
  }
  svg.append(element("text", { x: "2", y: "12" }, (10 ** hi).toPrecision(2), SVG));
  svg.append(element("text", { x: "2", y: "114" }, (10 ** lo).toPrecision(2), SVG));
  svg.append(element("text", { x: "2", y: "63" }, "log", SVG));
  svg.append(element("text", { x: "34", y: "127" }, "0", SVG));
  svg.append(element("text", { x: "296", y: "127", "text-anchor": "end", class: "last-step" }, `step ${last}`, SVG));
}

// ---------------------------------------------------------------------------------------- Step, a walk through its phases
// Step asks the server for one iteration (the example's forward and backward values at the weights
// the step started from, and every weight's change), then walks it stage by stage: forward layer by
// layer, backward layer by layer, update. next / back (→ / ←) move by hand; "play" walks by itself.
const walk = { result: null, stages: [], at: -1, before: null, timer: null };

function stagesOf(result) {
  const last = state.structure.levels.length - 1;
  const stages = [];
  for (let l = 0; l <= last; l++) stages.push({ phase: "forward", level: l });
  for (let l = last; l >= 1; l--) stages.push({ phase: "backward", level: l });
  stages.push({ phase: "update", level: null });
  return stages;
}

function clearValues() {
  stopWalk();
  walk.result = null;
  walk.stages = [];
  walk.at = -1;
  document.querySelectorAll(".neuron .label").forEach((el) => { el.textContent = ""; el.hidden = true; });
  document.querySelectorAll(".neuron.lit").forEach((el) => el.classList.remove("lit"));
  document.querySelectorAll(".edge.lit").forEach((el) => el.classList.remove("lit"));
  markWalk();
}

function setPhase(name, text) {
  const phase = $("#phase");
  phase.dataset.phase = name;
  phase.textContent = text;
}

function stageText(stage, r) {
  const levels = state.structure.levels;
  const last = levels.length - 1;
  const l = stage.level;
  if (stage.phase === "forward" && l === 0) {
    return `forward pass, example ${r.sample}: the input a⁽⁰⁾ = x = (${r.x.map(short).join(", ")})`;
  }
  if (stage.phase === "forward") {
    const where = l === last ? "the output layer" : `layer ${l}`;
    return `forward, ${where}: z = Σᵢ wᵢⱼ aᵢ + bⱼ from the layer before, then a = σ(z) (${levels[l].activation})`
      + (l === last ? ": the network's answer" : "");
  }
  if (stage.phase === "backward" && l === last) {
    return "backward, the output layer: δ = ∂C/∂z = a − y, how far the answer is from the target "
      + "(the loss and the output's σ cancel: no ×σ' here)";
  }
  if (stage.phase === "backward") {
    return `backward, layer ${l}: δⱼ = σ'(zⱼ) · Σₖ wⱼₖ δₖ, the reversed network carries δ back and `
      + "σ'(z), known from the forward pass, amplifies it (×σ')";
  }
  const gradient = r.l1 || r.l2 ? "(∂L/∂w + λ₁ sign(w) + λ₂ w)" : "∂L/∂w";
  const rule = r.optimizer === "sgd" ? `Δw = −η ${gradient}` : `Δw from ${r.optimizer}`;
  return `update: every weight moves, ${rule}, ∂L/∂w = the mean of a · δ over a batch of ${r.batch_size} `
    + `(η = ${r.lr}). Step ${r.step} done.`;
}

// Draw stage k completely (so back is as exact as next): a up to the current layer of the forward
// pass, a and δ together in the backward pass, the new weights in the update.
function showStage(k) {
  const r = walk.result;
  if (!r) return;
  walk.at = Math.max(0, Math.min(walk.stages.length - 1, k));
  const stage = walk.stages[walk.at];
  const levels = state.structure.levels;
  const last = levels.length - 1;
  document.querySelectorAll(".neuron.lit").forEach((el) => el.classList.remove("lit"));
  document.querySelectorAll(".edge.lit").forEach((el) => el.classList.remove("lit"));
  showValues(
    state.diagram, r.passes,
    (l) => stage.phase !== "forward" || l <= stage.level,
    (l) => stage.phase === "update" || (stage.phase === "backward" && l >= stage.level),
  );
  if (stage.level !== null) {
    state.neurons[stage.level].forEach((box) => box.classList.add("lit"));
    // the weights the values travel along: into the layer going forward, out of it going back
    const l = stage.phase === "forward" ? stage.level : stage.level + 1;
    if (l >= 1 && l <= last) state.edges[l].flat().forEach((edge) => edge.classList.add("lit"));
  }
  const frame = stage.phase === "update" ? r.frame : walk.before;
  if (frame && state.frame !== frame) drawFrame(frame);
  setPhase(stage.phase, stageText(stage, r));
  $("#phase").dataset.stage = String(walk.at);
  $("#phase").dataset.step = String(stage.phase === "update" ? r.step : r.step - 1);
  if (stage.phase === "update") {
    state.lastUpdate = r;
    inspect();
  }
  markWalk();
}

function markWalk() {
  const active = walk.result !== null;
  $("#back").disabled = !active || walk.at <= 0;
  $("#next").disabled = !active || walk.at >= walk.stages.length - 1;
  $("#walk").dataset.at = active ? `${walk.at + 1}/${walk.stages.length}` : "";
  $("#walk-count").textContent = active ? `${walk.at + 1} / ${walk.stages.length}` : "";
}

function stopWalk() {
  if (walk.timer) clearTimeout(walk.timer);
  walk.timer = null;
}

function play() {
  stopWalk();
  if (!walk.result || walk.at >= walk.stages.length - 1) return;
  walk.timer = setTimeout(() => {
    walk.timer = null;
    showStage(walk.at + 1);
    play();
  }, PHASE_MS);
}

function move(by) {
  if (!walk.result) return;
  stopWalk();
  showStage(walk.at + by);
}

async function step() {
  if (state.busy) return;
  state.busy = true;
  $("#step").disabled = true;
  if (state.running) await run(false);
  clearValues();
  setPhase("busy", "one iteration…");
  try {
    const before = state.frame;
    const result = await api("POST", `/api/sessions/${state.id}/step`, { sample: state.sample });
    hideMessage();
    walk.result = result;
    walk.before = before;
    walk.stages = stagesOf(result);
    if ($("#autoplay").checked) {
      showStage(0);
      play();
    } else {
      showStage(0);
    }
  } catch (e) {
    showMessage(e.message);
    setPhase("idle", "");
  } finally {
    state.busy = false;
    $("#step").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------- the inspector
function select(selection) {
  state.selected = selection;
  markSelection();
  inspect();
}

// Every call asks the server; only the newest answer is drawn (a click while an older request is
// in flight must win: the inspector always shows what is selected).
async function inspect() {
  const s = state.selected;
  const panel = $("#inspector");
  state.lastInspect = Date.now();
  if (!s || !state.id) return;
  const ticket = ++state.inspectTicket;
  state.inspecting += 1;
  try {
    const query = s.kind === "neuron" ? `level=${s.level}&j=${s.j}` : `level=${s.level}&i=${s.i}&j=${s.j}`;
    const data = await api("GET", `/api/sessions/${state.id}/${s.kind}?${query}&sample=${state.sample}`);
    if (ticket !== state.inspectTicket || state.selected !== s) return;
    const content = s.kind === "neuron"
      ? neuronPanel(data, { levels: state.structure.levels, sample: state.sample })
      : weightPanel(data, { featureNames: state.structure.feature_names, update: state.lastUpdate });
    $("#inspector-body").replaceChildren(...content);
    panel.dataset.step = String(data.step);
    panel.dataset.kind = s.kind;
    panel.dataset.selected = selectionKey(s);
  } catch (e) {
    if (ticket === state.inspectTicket) showMessage(e.message);
  } finally {
    state.inspecting -= 1;
  }
}

function selectionKey(s) {
  return s.kind === "neuron" ? `neuron ${s.level} ${s.j}` : `weight ${s.level} ${s.i} ${s.j}`;
}

// ---------------------------------------------------------------------------------------- the lesson
// A guided tour of the lecture notes on the live network: one screen per idea, each marking the
// neuron or weight it speaks of and quoting its numbers (chainrule.explain's, for the chosen example).
const LESSON = [
  { title: "1. The forward pass", mark: (w) => ({ kind: "neuron", level: 1, j: 0 }),
    text: (e, first) => {
      const n = first;
      return `The forward pass: a network is a function of its input x. Layer by layer, each neuron adds up the values `
        + `coming in, z = Σᵢ wᵢⱼ aᵢ + bⱼ, and passes on a = σ(z). The marked neuron, for example `
        + `${state.sample}: z = ${short(n.z)}, a = σ(z) = ${short(n.a)}. Its small picture is its a over the whole `
        + "input plane; the output layer's a is the network's answer.";
    } },
  { title: "2. The loss C", mark: (w) => ({ kind: "neuron", level: w.level, j: w.j }),
    text: (e) => {
      const out = e.chain[0];
      const a = out.map((c) => short(c.a)).join(", "), y = out.map((c) => short(c.y)).join(", ");
      return `The output a = (${a}) is compared with the target y = (${y}). The loss of this one example `
        + `is C = ${short(e.cost)} (${e.loss.replace(/_/g, " ")}); training lowers L = Σₙ Cⁿ over all examples.`;
    } },
  { title: "3. ∂C/∂w = ∂z/∂w · ∂C/∂z", mark: (w) => w,
    text: (e) => `How does C change with one weight w (marked)? w acts only through the z of the neuron it `
      + `feeds, so by the chain rule ∂C/∂w = ∂z/∂w · ∂C/∂z = a · δ. Here ${short(e.a)} · ${short(e.delta)} `
      + `= ${short(e.gradient)}; changing w a tiny bit agrees: ${short(e.finite_difference)}.` },
  { title: "4. The forward part: a", mark: (w) => (w.level > 1 ? { kind: "neuron", level: w.level - 1, j: w.i } : w),
    text: (e) => `∂z/∂w = a, the value of the neuron the weight comes from (marked): the forward pass `
      + `already computed it, a = ${short(e.a)}. Every weight gets its a in one pass from input to output.` },
  { title: "5. The backward part: δ", mark: (w) => ({ kind: "neuron", level: w.level, j: w.j }),
    text: (e, first, hidden) => {
      const out = e.chain[0][0];
      return `δ = ∂C/∂z starts at the output: the marked neuron's δ = a − y = ${short(out.delta)}. It runs `
        + `back through the same network with its connections reversed: δⱼ = σ'(zⱼ) · Σₖ wⱼₖ δₖ. σ'(z) is `
        + `known from the forward pass, so it acts as a constant amplifier`
        + (hidden ? `: neuron 0 of layer ${hidden.level} gets Σₖ wⱼₖ δₖ = ${short(hidden.dC_da)}, `
          + `amplified by σ'(z) = ${short(hidden.sigma_prime)} into δ = ${short(hidden.delta)}.` : ".")
        + ` Press Step to watch δ travel back, layer by layer.`;
    } },
  { title: "6. The update", mark: (w) => w,
    text: (e) => {
      const lr = Number(state.structure.settings.lr);
      return `Gradient descent moves every weight against its gradient: w ← w − η ∂L/∂w, with ∂L/∂w the `
        + `mean of a · δ over a batch. With η = ${lr}, this example alone would move the marked weight by `
        + `−η · ${short(e.gradient)} = ${short(-lr * e.gradient)}. Step does it for a batch; Train repeats it.`;
    } },
];

const lesson = { at: -1 };

function lessonWeight() {
  const levels = state.structure.levels;
  const level = levels.length - 1;
  return { kind: "weight", level, i: 0, j: 0 };
}

async function showLesson(k) {
  lesson.at = Math.max(0, Math.min(LESSON.length - 1, k));
  const screen = LESSON[lesson.at];
  const w = lessonWeight();
  $("#lesson").hidden = false;
  $("#lesson").dataset.screen = String(lesson.at + 1);
  $("#lesson-title").textContent = screen.title;
  $("#lesson-count").textContent = `${lesson.at + 1} / ${LESSON.length}`;
  $("#lesson-back").disabled = lesson.at === 0;
  $("#lesson-next").textContent = lesson.at === LESSON.length - 1 ? "finish" : "next ▶";
  const mark = screen.mark(w);
  document.querySelectorAll(".lesson-mark").forEach((el) => el.classList.remove("lesson-mark"));
  const target = mark.kind === "neuron" ? state.neurons[mark.level][mark.j] : state.edges[mark.level][mark.i][mark.j];
  target.classList.add("lesson-mark");
  if (mark.level >= 1) select(mark);
  try {
    const sid = state.id, n = state.sample, last = state.structure.levels.length - 1;
    const [e, first, hidden] = await Promise.all([
      api("GET", `/api/sessions/${sid}/weight?level=${w.level}&i=${w.i}&j=${w.j}&sample=${n}`),
      api("GET", `/api/sessions/${sid}/neuron?level=1&j=0&sample=${n}`),
      last > 1 ? api("GET", `/api/sessions/${sid}/neuron?level=${last - 1}&j=0&sample=${n}`) : null,
    ]);
    if (LESSON[lesson.at] !== screen) return;
    $("#lesson-text").textContent = screen.text(e, first, hidden);
    $("#lesson").dataset.ready = String(lesson.at + 1);
  } catch (err) {
    showMessage(err.message);
  }
}

function closeLesson() {
  lesson.at = -1;
  $("#lesson").hidden = true;
  delete $("#lesson").dataset.ready;
  document.querySelectorAll(".lesson-mark").forEach((el) => el.classList.remove("lesson-mark"));
}

// ---------------------------------------------------------------------------------------- wiring
function chooseExample(n) {
  state.sample = n;
  $("#sample").value = String(n);
  writeURL();
  if (state.frame) drawFrame(state.frame);
  inspect();
}

function wire() {
  wireControls({ state, changeSettings, activationSelects, writeURL, drawFrame });
  $("#train").addEventListener("click", () => run(true));
  $("#pause").addEventListener("click", () => run(false));
  $("#step").addEventListener("click", step);
  $("#next").addEventListener("click", () => move(1));
  $("#lesson-open").addEventListener("click", () => showLesson(0));
  $("#lesson-next").addEventListener("click", () => (lesson.at === LESSON.length - 1 ? closeLesson() : showLesson(lesson.at + 1)));
  $("#lesson-back").addEventListener("click", () => showLesson(lesson.at - 1));
  $("#lesson-close").addEventListener("click", closeLesson);
  $("#back").addEventListener("click", () => move(-1));
  $("#autoplay").addEventListener("change", (event) => { if (event.target.checked) play(); else stopWalk(); });
  $("#speed").addEventListener("input", () => {
    $("#speed-text").textContent = speedText(speed());
    if (state.running) run(true);
  });
  $("#speed-text").textContent = speedText(speed());
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const keys = {
      ArrowRight: () => move(1), ArrowLeft: () => move(-1), Home: () => move(-1e9), End: () => move(1e9),
      s: step, " ": step,
    };
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(redraw, 120);
  });
  $("#reset").addEventListener("click", async () => {
    try { applySetup(await api("POST", `/api/sessions/${state.id}/reset`)); hideMessage(); } catch (e) { showMessage(e.message); }
  });
  $("#message-close").addEventListener("click", hideMessage);
  const form = $("#settings");
  form.addEventListener("submit", (event) => { event.preventDefault(); changeSettings(); });
  form.addEventListener("change", (event) => {
    const name = event.target.name;
    if (event.target.id === "csv") return;
    if (name === "data") {
      const data = form.elements.data.value;
      if (data === "plane") form.elements.loss.value = "squared_error";
      else if (form.elements.loss.value === "squared_error") form.elements.loss.value = "cross_entropy";
      if (!MULTICLASS.has(data)) form.elements.classes.value = "2";
    }
    if (name === "hidden") {
      const old = [...document.querySelectorAll("#activations select")].map((s) => s.value);
      const count = splitList(form.elements.hidden.value).length;
      activationSelects(Array.from({ length: count }, (_, k) => old[k] || old[old.length - 1] || "tanh"));
    }
    changeSettings();
  });
  $("#csv").addEventListener("change", (event) => { if (event.target.files.length) upload(event.target.files[0]); });
  $("#sample").addEventListener("change", (event) => {
    const n = Number(event.target.value);
    const count = state.structure.train.x.length;
    if (!Number.isInteger(n) || n < 0 || n >= count) {
      showMessage(`example ${event.target.value} does not exist: choose 0..${count - 1}`);
      event.target.value = String(state.sample);
      return;
    }
    hideMessage();
    chooseExample(n);
  });
  $("#output").addEventListener("click", (event) => {
    const s = state.structure;
    const canvas = event.currentTarget;
    const r = canvas.getBoundingClientRect();
    const [x1lo, x1hi, x2lo, x2hi] = s.extent;
    const x1 = x1lo + ((event.clientX - r.left) / r.width) * (x1hi - x1lo);
    const x2 = x2hi - ((event.clientY - r.top) / r.height) * (x2hi - x2lo);
    let best = 0, bestDistance = Infinity;
    s.train.x.forEach((x, n) => {
      const d = (x[0] - x1) ** 2 + (x[1] - x2) ** 2;
      if (d < bestDistance) { best = n; bestDistance = d; }
    });
    chooseExample(best);
  });
}

wire();
start();
