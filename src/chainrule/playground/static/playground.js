// chainrule playground: the page. Plain JavaScript, no build step, nothing loaded from the internet.
// The server (chainrule.playground.app) owns every number; the page's ES modules draw them:
//   playground.js (this one): the page's state, its session (opened, reopened, closed, its events),
//     training (train / pause / speed), the diagram and a frame's numbers, and the wiring;
//   diagram.js: the network diagram (neurons as heat maps of a over the input plane, edges as
//     weights), shared with the notebook widget;   controls.js: TensorFlow Playground's controls;
//   settings.js: the settings form and the link;   output.js: the output and the loss curves;
//   walk.js: the three phases of Step;   inspector.js: chainrule.explain's numbers of a selection;
//   lesson.js: the guided tour;   api.js: the server's API.
// Each module that needs the page is wired with what it needs (its `wire…(page)`), so none imports
// this one.
import { buildDiagram as drawDiagram, drawMaps, drawWeights } from "./diagram.js";
import { renderControls, wireControls } from "./controls.js";
import { REOPENED, api, initApi } from "./api.js";
import { activationSelects, fillForm, readForm, settingsFromURL, wireSettings, writeURL as writeLink } from "./settings.js";
import { drawCurves, drawOutput } from "./output.js";
import { IDLE_TEXT, clearValues, redrawWalk, setPhase, wireWalk } from "./walk.js";
import { inspect, markSelection, select, wireInspector } from "./inspector.js";
import { lesson, showLesson, wireLesson } from "./lesson.js";

const $ = (selector, root = document) => root.querySelector(selector);

const state = {
  id: null, structure: null, frame: null, sample: 0, running: false, busy: false,
  selected: null,  // {kind: "neuron", level, j} or {kind: "weight", level, i, j}
  events: null, inspecting: 0, inspectTicket: 0, lastInspect: 0, lastUpdate: null,
};
window.playground = { state };  // what the page shows, for the browser's console (and the tests)

// ---------------------------------------------------------------------------------------- helpers
function showMessage(text) {
  $("#message-text").textContent = text;
  $("#message").hidden = false;
}

function hideMessage() { $("#message").hidden = true; }

function writeURL() { writeLink(state.structure.settings, state.sample); }

// ---------------------------------------------------------------------------------------- sessions
async function start() {
  const wanted = settingsFromURL();
  const raw = new URLSearchParams(location.search).get("example");
  let setup;
  try {
    setup = await api("POST", "/api/sessions", wanted);
  } catch (e) {
    if (Object.keys(wanted).length === 0) { showMessage(e.message); return; }
    showMessage(`The settings in the link were refused (${e.message}); showing the defaults instead.`);
    setup = await api("POST", "/api/sessions", {});
  }
  const count = setup.structure.train.x.length, example = raw === null ? 0 : Number(raw);
  const exists = Number.isInteger(example) && example >= 0 && example < count;
  state.sample = exists ? example : 0;
  adopt(setup);
  if (!exists) showMessage(`The link's example ${raw} does not exist: choose 0..${count - 1}; showing example 0.`);
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
  redrawWalk();
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

// A frame of the network now drawn: one W of levels[l].n × levels[l + 1].n per layer. A frame sent
// for the network before a change of settings (still on its way when the new one was drawn) is not.
function fits(frame) {
  const levels = state.structure.levels;
  return frame.weights.length === levels.length - 1
    && frame.weights.every((w, l) => w.W.length === levels[l].n && w.W[0].length === levels[l + 1].n);
}

function drawFrame(frame) {
  if (!fits(frame)) return;
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
  drawOutput(state, maps[levels.length - 1]);  // output.js
  drawCurves(frame.history);
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
  initApi({ state, reopen });
  wireControls({ state, changeSettings, activationSelects, writeURL, drawFrame, showMessage });
  wireInspector({ state, showMessage });
  wireWalk({ state, drawFrame, inspect, run, showMessage, hideMessage });
  wireLesson({ state, select, showMessage });
  wireSettings({ changeSettings });
  $("#train").addEventListener("click", () => run(true));
  $("#pause").addEventListener("click", () => run(false));
  $("#speed").addEventListener("input", () => {
    $("#speed-text").textContent = speedText(speed());
    if (state.running) run(true);
  });
  $("#speed-text").textContent = speedText(speed());
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(redraw, 120);
  });
  $("#reset").addEventListener("click", async () => {
    try { applySetup(await api("POST", `/api/sessions/${state.id}/reset`)); hideMessage(); } catch (e) { showMessage(e.message); }
  });
  $("#message-close").addEventListener("click", hideMessage);
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
