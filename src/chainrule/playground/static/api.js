// chainrule playground: the server's API. An ES module that the page's modules import; playground.js
// wires it (`initApi(page)`, page = its state and reopen). `api(method, path, body)` fetches one
// answer as JSON and turns every failure into an ApiError whose message the page can show as it is:
// the server's own `detail`, or what went wrong on the way. A session the server let go (a 404 under
// /api/sessions/) is reopened with the same settings, through the page's reopen.
let page = null;  // what playground.js lends: { state, reopen }

export class ApiError extends Error {}

export const REOPENED = "This tab was idle, and its place went to another tab: a fresh network started with "
  + "the same settings.";

export function initApi(lent) { page = lent; }

export async function api(method, path, body, raw = false) {
  const state = page.state;
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
    try { await page.reopen(); } finally { state.reopening = false; }
    throw new ApiError(REOPENED);
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : response.statusText;
    throw new ApiError(detail || `error ${response.status}`);
  }
  return data;
}
