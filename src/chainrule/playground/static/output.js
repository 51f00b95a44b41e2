// chainrule playground: the output and the loss curves. An ES module that playground.js imports:
// `drawOutput(state, outputs)` paints the network's answer over the input plane (the decision
// boundary, coloured by class and confidence, or the regression surface) with the training and test
// points and the chosen example ringed; `drawCurves(history)` draws the training and test loss.
import { MID, NEG, PALETTE, POS, SVG, drawMap, element, mix } from "./diagram.js";

const $ = (selector, root = document) => root.querySelector(selector);
const CLASS_COLOURS = [NEG, POS, [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
  [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];

function outputColour(s, outputs) {
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

// outputs: the output layer's maps (diagram.js's drawMaps), one byte per grid point and output.
export function drawOutput(state, outputs) {
  const s = state.structure;
  const g = s.grid;
  const canvas = $("#output");
  const off = document.createElement("canvas");
  off.width = g;
  off.height = g;
  const colour = outputColour(s, outputs);
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
export function drawCurves(history) {
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
