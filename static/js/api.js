// The REST API: one small function per call. Errors become ApiError with the server's message.
// Same-origin fetch sends the lernkurve_token cookie, which is how the page authenticates.

export class ApiError extends Error {
  constructor(status, code, message, key = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.key = key;
  }
}

async function request(method, path, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
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
export const runs = () => request("GET", "/api/runs").then((d) => d.runs);
export const run = (id) => request("GET", `/api/runs/${id}`);
export const createRun = (body) => request("POST", "/api/runs", body);
export const deleteRun = (id) => request("DELETE", `/api/runs/${id}`);
export const patchHparams = (id, values) => request("PATCH", `/api/runs/${id}/hparams`, values);
export const control = (id, action) => request("POST", `/api/runs/${id}/control`, { action });
export const events = (id) => request("GET", `/api/runs/${id}/events`).then((d) => d.events);
export const checkpoints = (id) =>
  request("GET", `/api/runs/${id}/checkpoints`).then((d) => d.checkpoints);
export const fork = (id, body) => request("POST", `/api/runs/${id}/fork`, body);
export const exportUrl = (id) => `/api/runs/${id}/export.csv`;

/** {series: {key: [[step, value, wall_time], ...]}, last_id}; downsampled when maxPoints is set. */
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
