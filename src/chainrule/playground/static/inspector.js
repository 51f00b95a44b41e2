// chainrule playground: the inspector. An ES module that playground.js imports and wires
// (`wireInspector(page)`, page = its state and showMessage). A click on a neuron or a weight selects
// it; the inspector shows its numbers for the chosen example (chainrule.explain's, asked of the
// server), drawn by diagram.js's neuronPanel and weightPanel.
import { markSelection as markDiagram, neuronPanel, weightPanel } from "./diagram.js";
import { api } from "./api.js";

const $ = (selector, root = document) => root.querySelector(selector);
let page = null;  // what playground.js lends: { state, showMessage }

export function wireInspector(lent) { page = lent; }

export function markSelection() { markDiagram(page.state.diagram, page.state.selected); }

// selection: {kind: "neuron", level, j} or {kind: "weight", level, i, j}
export function select(selection) {
  page.state.selected = selection;
  markSelection();
  inspect();
}

// Every call asks the server; only the newest answer is drawn (a click while an older request is
// in flight must win: the inspector always shows what is selected).
export async function inspect() {
  const state = page.state;
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
    if (ticket === state.inspectTicket) page.showMessage(e.message);
  } finally {
    state.inspecting -= 1;
  }
}

function selectionKey(s) {
  return s.kind === "neuron" ? `neuron ${s.level} ${s.j}` : `weight ${s.level} ${s.i} ${s.j}`;
}
