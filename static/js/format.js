// Numbers, durations and statuses as people read them, in the current language.
import { language, t } from "./i18n.js";

const cache = new Map();

function formatter(options) {
  const key = `${language()}|${JSON.stringify(options)}`;
  if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(language(), options));
  return cache.get(key);
}

/** A metric or hparam value: 4 significant digits, scientific when very small or large. */
export function number(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : "−∞";
  const abs = Math.abs(value);
  const scientific = abs !== 0 && (abs < 1e-3 || abs >= 1e6);
  const text = formatter({
    maximumSignificantDigits: digits,
    notation: scientific ? "scientific" : "standard",
  }).format(value);
  return scientific ? text.replace("E", "e") : text;
}

export function integer(value) {
  return value === null || value === undefined ? "–" : formatter({}).format(value);
}

const BYTE_UNITS = ["byte", "kilobyte", "megabyte", "gigabyte", "terabyte"];

/** A size on disk in this language: 512 bytes, 42.1 MB, 1.2 GB (1 kB = 1000 bytes); null: "–". */
export function bytes(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  let unit = 0;
  let amount = value;
  while (amount >= 1000 && unit < BYTE_UNITS.length - 1) {
    amount /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || amount >= 100 ? 0 : 1;
  const display = unit === 0 ? "long" : "short"; // "512 bytes", not "512 byte"
  return formatter({
    style: "unit",
    unit: BYTE_UNITS[unit],
    unitDisplay: display,
    maximumFractionDigits: digits,
  }).format(amount);
}

/** Any hparam value (number, list, choice, text). */
export function value(v) {
  if (Array.isArray(v)) return `[${v.map((x) => value(x)).join(", ")}]`;
  if (typeof v === "number") return number(v);
  if (typeof v === "boolean") return String(v);
  return v === null || v === undefined ? "–" : String(v);
}

/** Seconds as 42s, 3:07, 1:02:03. */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

export function status(name) {
  return t(`status.${name}`);
}

const STATUS_CLASS = {
  queued: "text-bg-secondary",
  running: "text-bg-primary status-running",
  paused: "text-bg-warning",
  completed: "text-bg-success",
  stopped: "text-bg-dark border",
  failed: "text-bg-danger",
  interrupted: "text-bg-warning",
};

/** Set a badge element to show a run status. */
export function statusBadge(el, name) {
  el.className = `badge status-badge ${STATUS_CLASS[name] || "text-bg-secondary"}`;
  el.textContent = status(name);
  el.dataset.status = name;
}

export const LIVE_STATUSES = ["queued", "running", "paused"];
export const isLive = (run) => LIVE_STATUSES.includes(run.status);

/** A friendly label for a metric key (translated for the built-in ones; lr, lr (group 1)). */
export function metricLabel(key) {
  const group = /^lr\/group(\d+)$/.exec(key);
  if (group) return t("metric.lrGroup", { n: group[1] });
  const text = t(`metric.${key}`);
  return text === `metric.${key}` ? key : text;
}

/**
 * True when `incoming` is an older picture of the same run than `known`: a REST answer or a
 * broadcast can overtake another. The trainer rewrites heartbeat_at with every change it makes,
 * and within one heartbeat the step only grows.
 */
export function isStale(incoming, known) {
  if (!known || known.id !== incoming.id) return false;
  const beat = (run) => run.heartbeat_at ?? -Infinity;
  if (beat(incoming) !== beat(known)) return beat(incoming) < beat(known);
  return incoming.status === known.status && (incoming.step ?? 0) < (known.step ?? 0);
}
