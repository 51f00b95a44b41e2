// chainrule's network diagram, shared by the playground page (playground.js) and the notebook widget
// (chainrule.widget): an ES module, plain JavaScript, no build step. It only draws what it is given
// (no page state, no requests):
//   the layout, neurons as heat maps of a over the input plane, edges coloured by the sign of w and
//   thickened by |w|, the labels a, δ and ×σ'(z) beside each neuron, the selection marks, and the
//   inspector's panels for a neuron (z, a, σ'(z), δ) and a weight (∂C/∂w = a · δ).

export const SVG = "http://www.w3.org/2000/svg";
export const NEG = [245, 147, 34], MID = [232, 234, 235], POS = [8, 119, 189];
export const NEURON = 44, ROW = 60, COLUMN = 150, TOP = 26;  // diagram layout, px
// The diagram fits its panel: columns narrow down to MIN_COLUMN, then the whole drawing scales
// down (never a horizontal scroll bar), on a phone too.
export const MIN_COLUMN = 112, LABELS = 64;

export const fmt = (v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(6));
export const short = (v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(3));

export function element(tag, attributes = {}, text = null, ns = null) {
  const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
  if (text !== null) el.textContent = text;
  return el;
}

export function mix(a, b, t) { return [0, 1, 2].map((i) => a[i] + (b[i] - a[i]) * t); }

// 256 colours from orange (0) through grey-white (128) to blue (255)
export const PALETTE = Array.from({ length: 256 }, (_, v) => {
  const t = v / 255;
  return t < 0.5 ? mix(NEG, MID, t * 2) : mix(MID, POS, (t - 0.5) * 2);
});

// ---------------------------------------------------------------------------------------- the diagram
// levels: [{n, activation}] from the input (level 0) to the output; panel: the element the drawing
// fits (by default its width; `room` overrides it, for a panel not yet on the page).
export function layout(levels, panel, room = Math.max(200, panel.clientWidth - 4)) {
  const spans = levels.length - 1;
  const column = Math.max(MIN_COLUMN, Math.min(COLUMN, (room - 40 - NEURON - LABELS) / spans));
  const width = 40 + spans * column + NEURON + LABELS;
  const row = levels.some((lv) => lv.n > 6) ? 52 : ROW;  // tall layers: a little tighter
  const height = TOP + Math.max(...levels.map((lv) => lv.n)) * row;
  const tall = panel.clientHeight > 60 && getComputedStyle(panel).overflowY !== "visible";
  const scale = Math.min(1, room / width, tall ? (panel.clientHeight - 4) / height : 1);
  return { column, row, width, height, scale };
}

export function position(d, level, j) {
  const levels = d.levels;
  const tallest = Math.max(...levels.map((lv) => lv.n));
  const row = d.layout.row;
  const offset = ((tallest - levels[level].n) * row) / 2;
  return { x: 40 + level * d.layout.column, y: TOP + offset + j * row };
}

// Draw the empty diagram into `diagram` (a .cr-diagram element inside its panel) and return what
// the other functions draw on: {root, levels, grid, layout, edges[l][i][j], neurons[l][j]}.
// onSelect({kind: "neuron", level, j} or {kind: "weight", level, i, j}) is called on a click.
export function buildDiagram(diagram, { levels, grid, featureNames, onSelect, room }) {
  diagram.replaceChildren();
  const d = { root: diagram, levels, grid, edges: [], neurons: [] };
  d.layout = layout(levels, diagram.parentElement, room);
  const { width, height, scale } = d.layout;
  diagram.style.width = `${width}px`;
  diagram.style.height = `${height}px`;
  diagram.style.transform = scale < 1 ? `scale(${scale})` : "";
  diagram.parentElement.style.height = `${Math.ceil(height * scale) + 4}px`;
  diagram.dataset.scale = scale.toFixed(3);
  const svg = element("svg", { width: String(width), height: String(height) }, null, SVG);
  diagram.append(svg);
  for (let l = 1; l < levels.length; l++) {
    d.edges[l] = [];
    for (let i = 0; i < levels[l - 1].n; i++) {
      d.edges[l][i] = [];
      for (let j = 0; j < levels[l].n; j++) {
        const a = position(d, l - 1, i), b = position(d, l, j);
        const x1 = a.x + NEURON, y1 = a.y + NEURON / 2, x2 = b.x, y2 = b.y + NEURON / 2;
        const path = `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`;
        const edge = element("path", { d: path, class: "edge" }, null, SVG);
        const hit = element("path", { d: path, class: "edge-hit", "data-level": l, "data-i": i, "data-j": j }, null, SVG);
        hit.append(element("title", {}, `w = W^(${l})[${i}, ${j}]`, SVG));
        hit.addEventListener("click", () => onSelect({ kind: "weight", level: l, i, j }));
        svg.append(edge, hit);
        d.edges[l][i][j] = edge;
      }
    }
  }
  d.neurons = levels.map((lv, l) => {
    const title = l === 0 ? "input" : l === levels.length - 1 ? `output · ${lv.activation}` : `layer ${l} · ${lv.activation}`;
    const header = element("div", { class: "column-title" }, title);
    header.style.left = `${position(d, l, 0).x - 30}px`;
    header.style.width = `${NEURON + 60}px`;
    diagram.append(header);
    return Array.from({ length: lv.n }, (_, j) => {
      const p = position(d, l, j);
      const box = element("div", { class: l === 0 ? "neuron input" : "neuron", "data-level": l, "data-neuron": j });
      box.style.left = `${p.x}px`;
      box.style.top = `${p.y}px`;
      const canvas = element("canvas", { width: String(grid), height: String(grid) });
      box.append(canvas);
      for (const kind of ["a", "delta", "amp"]) {
        const span = element("span", { class: `label ${kind}` });
        span.hidden = true;
        box.append(span);
      }
      if (l === 0) box.append(element("span", { class: "name" }, featureNames[j]));
      else box.addEventListener("click", () => onSelect({ kind: "neuron", level: l, j }));
      box.title = l === 0 ? `input ${featureNames[j]}` : `neuron ${j} of layer ${l}`;
      diagram.append(box);
      return box;
    });
  });
  return d;
}

export function markSelection(d, s) {
  d.root.querySelectorAll(".neuron.selected, .edge.selected").forEach((el) => el.classList.remove("selected"));
  if (!s) return;
  if (s.kind === "neuron") d.neurons[s.level][s.j].classList.add("selected");
  else d.edges[s.level][s.i][s.j].classList.add("selected");
}

export function drawMap(canvas, g, bytes, colour) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(g, g);
  for (let p = 0; p < g * g; p++) {
    const c = colour(p, bytes);
    image.data.set([c[0], c[1], c[2], 255], p * 4);
  }
  context.putImageData(image, 0, 0);
  return image;
}

// edges: colour by sign, width by |w|; weights: [{W, b}] of each layer of weights
export function drawWeights(d, weights) {
  weights.forEach((layer, k) => {
    layer.W.forEach((row, i) => row.forEach((w, j) => {
      const edge = d.edges[k + 1][i][j];
      const value = w === null ? 0 : w;
      edge.style.stroke = value >= 0 ? "rgb(8,119,189)" : "rgb(245,147,34)";
      edge.style.strokeWidth = String(Math.min(8, 0.4 + 2.5 * Math.abs(value)));
      edge.style.opacity = String(Math.min(1, 0.3 + 0.7 * Math.abs(value)));
    }));
  });
}

// heat maps: every neuron's a over the input plane (base64 bytes, grid × grid a neuron, level by
// level); returns each neuron's bytes, maps[l][j]
export function drawMaps(d, encoded) {
  const g = d.grid;
  const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
  const maps = [];
  let offset = 0;
  d.levels.forEach((lv, l) => {
    maps[l] = [];
    for (let j = 0; j < lv.n; j++) {
      const map = bytes.subarray(offset, offset + g * g);
      offset += g * g;
      maps[l][j] = map;
      drawMap(d.neurons[l][j].querySelector("canvas"), g, map, (p, m) => PALETTE[m[p]]);
    }
  });
  return maps;
}

export function label(box, kind, text, value) {
  const el = box.querySelector(`.label.${kind}`);
  el.textContent = text;
  el.hidden = text === "";
  if (value !== undefined) el.dataset.value = String(value);
}

// The labels of one example's passes ([{a}, {z, a, sigma_prime, delta}, ...], level 0 first):
// a where showA(l), δ and ×σ'(z) where showDelta(l); a neuron's title gives its z and a.
export function showValues(d, passes, showA, showDelta) {
  const last = d.levels.length - 1;
  for (let l = 0; l <= last; l++) {
    const pass = passes[l];
    const withA = showA(l);
    const withDelta = l >= 1 && showDelta(l);
    d.neurons[l].forEach((box, j) => {
      label(box, "a", withA ? `a ${short(pass.a[j])}` : "", pass.a[j]);
      label(box, "delta", withDelta ? `δ ${short(pass.delta[j])}` : "", withDelta ? pass.delta[j] : "");
      const amp = withDelta && l < last;  // the output's δ = a − y has no amplifier
      label(box, "amp", amp ? `×σ' ${short(pass.sigma_prime[j])}` : "", amp ? pass.sigma_prime[j] : "");
      if (l > 0) box.title = `z = ${fmt(pass.z[j])}, a = σ(z) = ${fmt(pass.a[j])}`;
    });
  }
}

// ---------------------------------------------------------------------------------------- the inspector
export function row(table, label, key, value, equation = "") {
  const tr = element("tr");
  tr.append(element("td", {}, label), element("td", { class: "num", "data-key": key }, fmt(value)),
    element("td", { class: "eq" }, equation));
  table.append(tr);
}

export function neuronTable(neurons) {
  const table = element("table");
  const head = element("tr");
  const hasY = neurons[0].y !== null && neurons[0].y !== undefined;
  for (const h of ["neuron", "z", "a", ...(hasY ? ["y"] : []), "σ'(z)", "∂C/∂a", "δ"]) head.append(element("th", {}, h));
  table.append(head);
  for (const n of neurons) {
    const tr = element("tr");
    tr.append(element("td", {}, String(n.neuron)));
    for (const v of [n.z, n.a, ...(hasY ? [n.y] : []), n.sigma_prime, n.dC_da, n.delta]) tr.append(element("td", { class: "num" }, fmt(v)));
    table.append(tr);
  }
  return table;
}

export function termsTable(terms) {
  const table = element("table");
  const head = element("tr");
  for (const h of ["k", "w_jk", "δ_k", "w_jk · δ_k"]) head.append(element("th", {}, h));
  table.append(head);
  for (const t of terms) {
    const tr = element("tr");
    tr.append(element("td", {}, String(t.k)));
    for (const v of [t.w, t.delta, t.product]) tr.append(element("td", { class: "num" }, fmt(v)));
    table.append(tr);
  }
  return table;
}

// n: one neuron of chainrule.explain's chain (z, a, σ'(z), y, ∂C/∂a, δ, rule, terms) with b and x
// (the example's input); levels as for buildDiagram; step shown where given.
export function neuronPanel(n, { levels, sample }) {
  const where = n.level === levels.length - 1 ? "the output layer" : `layer ${n.level}`;
  const at = n.step === undefined ? "" : `, step ${n.step}`;
  const title = element("p", {}, `Neuron ${n.neuron} of ${where} (${levels[n.level].activation}), `
    + `example ${sample} at x = (${n.x.map(short).join(", ")})${at}`);
  const table = element("table", { class: "big" });
  row(table, "z", "z", n.z, "= Σ_i w_ij a_i + b_j (forward)");
  row(table, "b", "b", n.b, "the neuron's bias");
  row(table, "a", "a", n.a, "= σ(z)");
  row(table, "σ'(z)", "sigma_prime", n.sigma_prime, "the amplifier of the backward pass");
  if (n.y !== null) row(table, "y", "y", n.y, "the target");
  if (n.dC_da !== null) row(table, "∂C/∂a", "dC_da", n.dC_da, n.terms.length ? "= Σ_k w_jk δ_k" : "= a − y");
  row(table, "δ", "delta", n.delta, "= ∂C/∂z (backward)");
  const parts = [title, table, element("p", { class: "rule" }, n.rule)];
  if (n.terms.length) parts.push(element("p", {}, "the terms of Σ_k w_jk δ_k, from the layer above:"), termsTable(n.terms));
  return parts;
}

// e: chainrule.explain's numbers for one weight (Explanation.to_dict, with step and text where the
// page has them; finite_difference where computed); update: the last Step's result, or null.
export function weightPanel(e, { featureNames, update = null }) {
  const from = e.level === 1 ? `input ${featureNames[e.i]}` : `neuron ${e.i} of layer ${e.level - 1}`;
  const at = e.step === undefined ? "" : `, step ${e.step}`;
  const title = element("p", {}, `Weight w = W^(${e.level})[${e.i}, ${e.j}] from ${from} to neuron ${e.j} of `
    + `layer ${e.level}, example ${e.sample}${at}; C = ${fmt(e.cost)} (${e.loss})`);
  const table = element("table", { class: "big" });
  row(table, "w", "w", e.w, "");
  row(table, "a", "a", e.a, "= ∂z/∂w, forward pass");
  row(table, "δ", "delta", e.delta, "= ∂C/∂z, backward pass");
  row(table, "∂C/∂w", "gradient", e.gradient, "= a · δ");
  if (e.finite_difference !== undefined) {
    row(table, "finite difference", "finite_difference", e.finite_difference, "(C(w + ε) − C(w − ε)) / 2ε");
    row(table, "relative difference", "relative_difference", e.relative_difference, "");
  }
  const parts = [title, table];
  if (update && update.step === e.step) {
    const u = update.update[e.level - 1];
    const box = element("div", { class: "update" });
    const t = element("table");
    row(t, "Δw in step " + update.step, "dw", u.dW[e.i][e.j], "= w after − w before (float32 weights)");
    row(t, "∂L/∂w of the batch", "grad_w", u.grad_W[e.i][e.j], `mean of a · δ over ${update.batch_size} examples`);
    const regularised = update.l1 || update.l2;  // R = λ₁ Σ|w| + (λ₂/2) Σ w² on the weights
    const penalty = regularised ? u.penalty_W[e.i][e.j] : 0;
    if (regularised) row(t, "+ ∂R/∂w", "penalty_w", penalty, `= λ₁ sign(w) + λ₂ w (λ₁ = ${update.l1}, λ₂ = ${update.l2})`);
    row(t, regularised ? "−η · (∂L/∂w + ∂R/∂w)" : "−η · ∂L/∂w", "minus_lr_grad", -update.lr * (u.grad_W[e.i][e.j] + penalty), update.optimizer === "sgd" ? "= Δw for plain SGD" : `${update.optimizer} steps differently`);
    box.append(t);
    parts.push(box);
  }
  parts.push(element("p", {}, "δ, built from the output layer back:"));
  const levels = element("div", { class: "levels" });
  for (const neurons of e.chain) {
    const box = element("div");
    box.append(element("p", { class: "rule" }, `layer ${neurons[0].level}: ${neurons[0].rule}`), neuronTable(neurons));
    if (neurons.length === 1 && neurons[0].terms.length) box.append(termsTable(neurons[0].terms));
    levels.append(box);
  }
  parts.push(levels);
  if (e.text !== undefined) {
    const details = element("details");
    details.append(element("summary", {}, "as chainrule explain prints it"), element("pre", {}, e.text));
    parts.push(details);
  }
  return parts;
}
