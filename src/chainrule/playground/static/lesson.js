// chainrule playground: the lesson, a guided tour of the lecture notes on the live network. An ES
// module that playground.js imports and wires (`wireLesson(page)`, page = its state, select and
// showMessage). One screen per idea: each marks the neuron or weight it speaks of and quotes its
// numbers (chainrule.explain's, for the chosen example). A screen is content only: `mark(w)` says
// what it marks given the lesson's weight w, `text(numbers)` says it given the numbers showLesson
// fetched and the page's (sample, lr).
import { short } from "./diagram.js";
import { api } from "./api.js";

const $ = (selector, root = document) => root.querySelector(selector);
let page = null;  // what playground.js lends: { state, select, showMessage }

// numbers: weight (the explanation of the lesson's weight), first (neuron 0 of layer 1), hidden
// (neuron 0 of the last hidden layer but one, or null), sample (the chosen example), lr (η).
const LESSON = [
  { title: "1. The forward pass", mark: (w) => ({ kind: "neuron", level: 1, j: 0 }),
    text: ({ first: n, sample }) => `The forward pass: a network is a function of its input x. Layer by layer, `
      + `each neuron adds up the values coming in, z = Σᵢ wᵢⱼ aᵢ + bⱼ, and passes on a = σ(z). The marked `
      + `neuron, for example ${sample}: z = ${short(n.z)}, a = σ(z) = ${short(n.a)}. Its small picture is its a `
      + "over the whole input plane; the output layer's a is the network's answer." },
  { title: "2. The loss C", mark: (w) => ({ kind: "neuron", level: w.level, j: w.j }),
    text: ({ weight: e, outputs }) => {  // every output neuron: C is a function of all of them
      const a = outputs.map((c) => short(c.a)).join(", "), y = outputs.map((c) => short(c.y)).join(", ");
      return `The output a = (${a}) is compared with the target y = (${y}). The loss of this one example `
        + `is C = ${short(e.cost)} (${e.loss.replace(/_/g, " ")}); training lowers L = Σₙ Cⁿ over all examples.`;
    } },
  { title: "3. ∂C/∂w = ∂z/∂w · ∂C/∂z", mark: (w) => w,
    text: ({ weight: e }) => `How does C change with one weight w (marked)? w acts only through the z of the `
      + `neuron it feeds, so by the chain rule ∂C/∂w = ∂z/∂w · ∂C/∂z = a · δ. Here ${short(e.a)} · `
      + `${short(e.delta)} = ${short(e.gradient)}; changing w a tiny bit agrees: ${short(e.finite_difference)}.` },
  { title: "4. The forward part: a", mark: (w) => (w.level > 1 ? { kind: "neuron", level: w.level - 1, j: w.i } : w),
    text: ({ weight: e }) => `∂z/∂w = a, the value of the neuron the weight comes from (marked): the forward `
      + `pass already computed it, a = ${short(e.a)}. Every weight gets its a in one pass from input to output.` },
  { title: "5. The backward part: δ", mark: (w) => ({ kind: "neuron", level: w.level, j: w.j }),
    text: ({ weight: e, hidden }) => {
      const out = e.chain[0][0];
      return `δ = ∂C/∂z starts at the output: the marked neuron's δ = a − y = ${short(out.delta)}. It runs `
        + `back through the same network with its connections reversed: δⱼ = σ'(zⱼ) · Σₖ wⱼₖ δₖ. σ'(z) is `
        + `known from the forward pass, so it acts as a constant amplifier`
        + (hidden ? `: neuron 0 of layer ${hidden.level} gets Σₖ wⱼₖ δₖ = ${short(hidden.dC_da)}, `
          + `amplified by σ'(z) = ${short(hidden.sigma_prime)} into δ = ${short(hidden.delta)}.` : ".")
        + ` Press Step to watch δ travel back, layer by layer.`;
    } },
  { title: "6. The update", mark: (w) => w,
    text: ({ weight: e, lr }) => `Gradient descent moves every weight against its gradient: w ← w − η ∂L/∂w, `
      + `with ∂L/∂w the mean of a · δ over a batch. With η = ${lr}, this example alone would move the marked `
      + `weight by −η · ${short(e.gradient)} = ${short(-lr * e.gradient)}. Step does it for a batch; Train `
      + "repeats it." },
];

export const lesson = { at: -1 };  // the screen shown, -1 when the lesson is closed

// The weight the lesson follows: the first into the output layer.
function lessonWeight() {
  const levels = page.state.structure.levels;
  const level = levels.length - 1;
  return { kind: "weight", level, i: 0, j: 0 };
}

export async function showLesson(k) {
  const state = page.state;
  lesson.at = Math.max(0, Math.min(LESSON.length - 1, k));
  const screen = LESSON[lesson.at];
  const w = lessonWeight();
  $("#lesson").hidden = false;
  $("#lesson").scrollIntoView({ block: "nearest" });  // on a phone it opens below the fold
  $("#lesson").dataset.screen = String(lesson.at + 1);
  $("#lesson-title").textContent = screen.title;
  $("#lesson-count").textContent = `${lesson.at + 1} / ${LESSON.length}`;
  $("#lesson-back").disabled = lesson.at === 0;
  $("#lesson-next").textContent = lesson.at === LESSON.length - 1 ? "finish" : "next ▶";
  const mark = screen.mark(w);
  document.querySelectorAll(".lesson-mark").forEach((el) => el.classList.remove("lesson-mark"));
  const target = mark.kind === "neuron" ? state.neurons[mark.level][mark.j] : state.edges[mark.level][mark.i][mark.j];
  target.classList.add("lesson-mark");
  if (mark.level >= 1) page.select(mark);
  try {
    const sid = state.id, n = state.sample, last = state.structure.levels.length - 1;
    const outputs = Array.from({ length: state.structure.levels[last].n },
      (_, j) => api("GET", `/api/sessions/${sid}/neuron?level=${last}&j=${j}&sample=${n}`));
    const [weight, first, hidden, ...output] = await Promise.all([
      api("GET", `/api/sessions/${sid}/weight?level=${w.level}&i=${w.i}&j=${w.j}&sample=${n}`),
      api("GET", `/api/sessions/${sid}/neuron?level=1&j=0&sample=${n}`),
      last > 1 ? api("GET", `/api/sessions/${sid}/neuron?level=${last - 1}&j=0&sample=${n}`) : null,
      ...outputs,
    ]);
    if (LESSON[lesson.at] !== screen) return;
    const lr = Number(state.structure.settings.lr);
    $("#lesson-text").textContent = screen.text({ weight, first, hidden, outputs: output, sample: state.sample, lr });
    $("#lesson").dataset.ready = String(lesson.at + 1);
  } catch (err) {
    page.showMessage(err.message);
  }
}

export function closeLesson() {
  lesson.at = -1;
  $("#lesson").hidden = true;
  delete $("#lesson").dataset.ready;
  document.querySelectorAll(".lesson-mark").forEach((el) => el.classList.remove("lesson-mark"));
}

export function wireLesson(lent) {
  page = lent;
  $("#lesson-open").addEventListener("click", () => showLesson(0));
  $("#lesson-next").addEventListener("click", () => (lesson.at === LESSON.length - 1 ? closeLesson() : showLesson(lesson.at + 1)));
  $("#lesson-back").addEventListener("click", () => showLesson(lesson.at - 1));
  $("#lesson-close").addEventListener("click", closeLesson);
}
