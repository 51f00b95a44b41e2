// chainrule playground: the settings form and the page's link. An ES module that playground.js
// imports and wires (`wireSettings(page)`, page = its changeSettings): the form read into the
// settings the server takes (numbers as numbers; the server names what is wrong with the rest),
// filled from the settings it answers, one activation select per hidden layer, and the settings
// (with the chosen example) kept in the URL, so that a link opens the same network.
import { element } from "./diagram.js";
import { controlsURL, fillFeatures, readFeatures } from "./controls.js";

const $ = (selector, root = document) => root.querySelector(selector);
const FIELDS = ["data", "classes", "samples", "noise", "test_fraction", "seed", "hidden", "activation",
  "loss", "dropout", "optimizer", "lr", "batch_size", "l2", "l1", "features"];
const TEXT_FIELDS = new Set(["data", "loss", "optimizer"]);
const ACTIVATIONS = ["tanh", "relu", "leaky_relu", "sigmoid", "identity"];
const MULTICLASS = new Set(["spiral", "gaussians"]);

function toNumber(text) {
  const t = String(text).trim();
  const v = Number(t);
  return t !== "" && Number.isFinite(v) ? v : t;  // the server names what is wrong with the rest
}

function splitList(text) {
  const t = String(text).trim();
  return t === "" ? [] : t.split(",").map((s) => s.trim());
}

export function readForm() {
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

export function activationSelects(values) {
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

export function fillForm(settings) {
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

export function settingsFromURL() {
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
  if (settings.data === "plane" && !settings.loss) settings.loss = "squared_error";  // as the menu does
  return settings;
}

// The settings drawn and the chosen example, in the page's URL (without a new history entry).
export function writeURL(settings, sample) {
  const query = new URLSearchParams();
  for (const name of FIELDS) {
    const value = settings[name];
    query.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  query.set("example", String(sample));
  controlsURL(query);  // controls.js: show_test
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

// A changed field asks the server at once; a new data set brings its loss, new layers their selects.
export function wireSettings(page) {
  const form = $("#settings");
  form.addEventListener("submit", (event) => { event.preventDefault(); page.changeSettings(); });
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
    page.changeSettings();
  });
}
