// The REST API: one small function per call. Errors become ApiError with the server's message.
// The page authenticates with `Authorization: Bearer <token>`. The token arrives once in the
// address (?token=), moves to sessionStorage (kept apart per origin, so per port, unlike
// cookies, which every port on 127.0.0.1 would receive) and leaves the address bar.

const TOKEN_KEY = "lernkurve.token";

function takeToken() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/** The access token, or null when the page was opened without one. */
export const token = takeToken();
let downloadKey = "";

/** Derive the key a download link carries (a link cannot send a header): HMAC(token, label). */
export async function ready() {
  if (!token || !globalThis.crypto?.subtle) return; // no secure context: CSV links answer 401
  const encode = (text) => new TextEncoder().encode(text);
  const hmac = { name: "HMAC", hash: "SHA-256" };
  const key = await crypto.subtle.importKey("raw", encode(token), hmac, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encode("lernkurve-download"));
  downloadKey = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** {status, version, database}: the database a script passes as db= to join this app. */
export const health = () => request("GET", "/api/health");

export class ApiError extends Error {
  /** details: the error's other fields (an unknown metric's `keys`, the run's logged keys). */
  constructor(status, code, message, key = null, details = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.key = key;
    this.details = details;
  }
}

async function request(method, path, body) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
  const options = { method, headers, credentials: "omit" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new ApiError(0, "network", error.message);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || response.statusText,
      error.key || null,
      error,
    );
  }
  return data;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const tasks = () => request("GET", "/api/tasks").then((d) => d.tasks);
/** All runs; with metric (and mode "min"/"max") each carries `summary` {best, best_step, last, ...}. */
export const runs = ({ tag, metric, mode } = {}) =>
  request("GET", `/api/runs${query({ tag, metric, mode })}`).then((d) => d.runs);
export const run = (id) => request("GET", `/api/runs/${id}`);
/** Change a run's tags, notes or name: {tags?, notes?, name?}; answers the run. */
export const patchRun = (id, body) => request("PATCH", `/api/runs/${id}`, body);
export const importTensorboard = (logdir) => request("POST", "/api/import/tensorboard", { logdir });
export const createRun = (body) => request("POST", "/api/runs", body);
/**
 * Delete a run. When the server answers that its process may still live, askForce(reason)
 * decides (a second confirmation) whether to delete it anyway.
 */
export async function deleteRun(id, { askForce } = {}) {
  try {
    return await request("DELETE", `/api/runs/${id}`);
  } catch (error) {
    if (error.code !== "run_may_live" || !askForce || !askForce(error.message)) throw error;
    return request("DELETE", `/api/runs/${id}?force=1`);
  }
}
export const patchHparams = (id, values) => request("PATCH", `/api/runs/${id}/hparams`, values);
export const control = (id, action) => request("POST", `/api/runs/${id}/control`, { action });
export const events = (id) => request("GET", `/api/runs/${id}/events`).then((d) => d.events);
/** {checkpoints: [{id, step, path, size_bytes, in_use, ...}], total_bytes}. */
export const checkpoints = (id) => request("GET", `/api/runs/${id}/checkpoints`);
/** Delete a checkpoint and its file; refused (409) while a fork still starts from it. */
export const deleteCheckpoint = (id, checkpointId) =>
  request("DELETE", `/api/runs/${id}/checkpoints/${checkpointId}`);
export const fork = (id, body) => request("POST", `/api/runs/${id}/fork`, body);
export const exportUrl = (id) => `/api/runs/${id}/export.csv?key=${downloadKey}`;
/** A PNG the run logged, for an <img> (which sends no header: the download key opens it). */
export const mediaUrl = (id, file) => `/api/runs/${id}/media/${encodeURIComponent(file)}?key=${downloadKey}`;

/** {series: {key: [[step, value, wall_time], ...]}, last_id}; downsampled when maxPoints is set. */
/** The comparison's histories: {run id: {key, keys, points, last_id}}, each run's first of
 * ``keys`` it logged. */
export const compareMetrics = (ids, keys, maxPoints) =>
  request("GET", `/api/metrics${query({ runs: ids.join(","), keys: keys.join(","), max_points: maxPoints })}`).then(
    (d) => d.runs,
  );
export const metrics = (id, { keys, sinceId, maxPoints } = {}) =>
  request(
    "GET",
    `/api/runs/${id}/metrics${query({
      keys: keys && keys.join(","),
      since_id: sinceId,
      max_points: maxPoints,
    })}`,
  );

export const latestSnapshot = (id, kind) =>
  request("GET", `/api/runs/${id}/snapshots${query({ kind, latest: 1 })}`).then(
    (d) => d.snapshots[d.snapshots.length - 1] || null,
  );

/** Every snapshot of a kind, oldest first: [{id, run_id, step, kind, payload, wall_time}]. */
export const snapshots = (id, kind) =>
  request("GET", `/api/runs/${id}/snapshots${query({ kind })}`).then((d) => d.snapshots);

// Deciding while it trains (issue 14): trials from the run's current state, the autopilot, recipes.
/** An LR range test {min_lr, max_lr, steps, metric?}; answers {run_id, metric} (its child run). */
export const lrTest = (id, body) => request("POST", `/api/runs/${id}/lr_test`, body);
/** A race {variants: [{hparam: value}], steps, metric, mode}; answers {run_ids, metric}. */
export const race = (id, body) => request("POST", `/api/runs/${id}/race`, body);
/** Change autopilot settings (or {undo: true}); answers {autopilot: settings}. */
export const autopilot = (id, body) => request("PATCH", `/api/runs/${id}/autopilot`, body);
/** The run's applied changes as {steps: [{step, command: {kind, payload}}]}. */
export const recipe = (id) => request("GET", `/api/runs/${id}/recipe`);
/** The chart panels' layout kept in the database: {order, pinned, collapsed} (panel names). */
export const layout = () => request("GET", "/api/layout");
export const saveLayout = (body) => request("PUT", "/api/layout", body);
/** Changed hparams as trajectories: {run_id: {key: [{step, value}, ...]}} (start value first). */
export const hparamChanges = () => request("GET", "/api/runs/changes").then((d) => d.changes);
