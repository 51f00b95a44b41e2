// chainrule playground: Step, a walk through its phases. An ES module that playground.js imports and
// wires (`wireWalk(page)`, page = its state, drawFrame, inspect, run, showMessage and hideMessage).
// Step asks the server for one iteration (the example's forward and backward values at the weights
// the step started from, and every weight's change), then walks it stage by stage: forward layer by
// layer, backward layer by layer, update. next / back (→ / ←, Home / End) move by hand; "play" walks
// by itself, one stage every PHASE_MS.
import { short, showValues } from "./diagram.js";
import { api } from "./api.js";

const $ = (selector, root = document) => root.querySelector(selector);
const PHASE_MS = 450;  // each stage of a played walk
let page = null;  // what playground.js lends: { state, drawFrame, inspect, run, showMessage, hideMessage }

export const IDLE_TEXT = "Step runs one iteration and walks it: forward, layer by layer; backward, layer by layer; "
  + "update. Use next / back or the → / ← keys.";

const walk = { result: null, stages: [], at: -1, before: null, timer: null };

function stagesOf(result) {
  const last = page.state.structure.levels.length - 1;
  const stages = [];
  for (let l = 0; l <= last; l++) stages.push({ phase: "forward", level: l });
  for (let l = last; l >= 1; l--) stages.push({ phase: "backward", level: l });
  stages.push({ phase: "update", level: null });
  return stages;
}

// The walk forgotten: no values on the diagram, nothing lit.
export function clearValues() {
  stopWalk();
  walk.result = null;
  walk.stages = [];
  walk.at = -1;
  document.querySelectorAll(".neuron .label").forEach((el) => { el.textContent = ""; el.hidden = true; });
  document.querySelectorAll(".neuron.lit").forEach((el) => el.classList.remove("lit"));
  document.querySelectorAll(".edge.lit").forEach((el) => el.classList.remove("lit"));
  markWalk();
}

export function setPhase(name, text) {
  const phase = $("#phase");
  phase.dataset.phase = name;
  phase.textContent = text;
}

function stageText(stage, r) {
  const levels = page.state.structure.levels;
  const last = levels.length - 1;
  const l = stage.level;
  if (stage.phase === "forward" && l === 0) {
    const a0 = r.passes[0].a, point = `(${r.x.map(short).join(", ")})`;  // a⁽⁰⁾: the features of x
    const features = page.state.structure.feature_names;
    const same = features.length === 2 && a0.every((v, i) => v === r.x[i]);
    return `forward pass, example ${r.sample}: the input a⁽⁰⁾ = ${same ? `x = ${point}`
      : `(${a0.map(short).join(", ")}), the features ${features.join(", ")} of the point x = ${point}`}`;
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
  const state = page.state;
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
  if (frame && state.frame !== frame) page.drawFrame(frame);
  setPhase(stage.phase, stageText(stage, r));
  $("#phase").dataset.stage = String(walk.at);
  $("#phase").dataset.step = String(stage.phase === "update" ? r.step : r.step - 1);
  if (stage.phase === "update") {
    state.lastUpdate = r;
    page.inspect();
  }
  markWalk();
}

// A new diagram (the window resized): the stage it showed, drawn again.
export function redrawWalk() {
  if (walk.result) showStage(walk.at);
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
  const state = page.state;
  if (state.busy) return;
  state.busy = true;
  $("#step").disabled = true;
  if (state.running) await page.run(false);
  clearValues();
  setPhase("busy", "one iteration…");
  try {
    const before = state.frame;
    const result = await api("POST", `/api/sessions/${state.id}/step`, { sample: state.sample });
    page.hideMessage();
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
    page.showMessage(e.message);
    setPhase("idle", "");
  } finally {
    state.busy = false;
    $("#step").disabled = false;
  }
}

export function wireWalk(lent) {
  page = lent;
  $("#step").addEventListener("click", step);
  $("#next").addEventListener("click", () => move(1));
  $("#back").addEventListener("click", () => move(-1));
  $("#autoplay").addEventListener("change", (event) => { if (event.target.checked) play(); else stopWalk(); });
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
}
