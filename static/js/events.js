// How run events read and look, shared by the chart markers and the events list.
import { integer, number, value } from "./format.js";
import { t } from "./i18n.js";

const STYLE = {
  hparams: { color: "#8b5cf6", dash: [] },
  pause: { color: "#f59f00", dash: [4, 3] },
  resume: { color: "#20c997", dash: [4, 3] },
  step: { color: "#868e96", dash: [2, 3] },
  stop: { color: "#495057", dash: [] },
  checkpoint: { color: "#2f9e44", dash: [6, 3] },
  fork: { color: "#1c7ed6", dash: [6, 3] },
  diverged: { color: "#e03131", dash: [], width: 2 },
  error: { color: "#e03131", dash: [], width: 2 },
  note: { color: "#868e96", dash: [1, 2] },
  restore: { color: "#e8590c", dash: [], width: 2 },
  lr_test: { color: "#15aabf", dash: [2, 2] },
  race: { color: "#d6336c", dash: [2, 2] },
  autopilot: { color: "#0b7285", dash: [1, 3] },
};
// Who made a change when it was not the person at the page: its marker and row say so.
const BY = {
  autopilot: { icon: "bi-robot", color: "#0b7285", dash: [3, 2] },
  recipe: { icon: "bi-journal-text", color: "#5f3dc4", dash: [] },
  race: { icon: "bi-flag", color: "#d6336c", dash: [] },
  agent: { icon: "bi-cpu", color: "#c2255c", dash: [5, 2] },
  cli: { icon: "bi-terminal", color: "#495057", dash: [4, 2] },
};
/** A recipe's change still to come: drawn dashed before it happens. */
export const PLANNED_STYLE = { color: "#7950f2", dash: [6, 4], width: 1.5 };

export function eventStyle(kind, ev = null) {
  const by = ev && byWhom(ev);
  const style = STYLE[kind] || STYLE.note;
  return by ? { ...style, color: BY[by].color, dash: BY[by].dash } : style;
}

/** "autopilot", "recipe", "race", "agent" or "cli" when one of them made this change, else
 * null (the person at the page). */
export function byWhom(ev) {
  const by = ev.payload?.by;
  return by in BY ? by : null;
}

/** "lr=0.001, momentum=0.9": a variant's values. */
export function hparamsText(hparams) {
  return Object.entries(hparams || {})
    .map(([key, v]) => `${key}=${value(v)}`)
    .join(", ");
}

// Whether the open run's lr follows a schedule: only then does a scale change's factor say
// more than old → new already does.
let lrScheduled = false;

/** Set whether lr events are read against a schedule; true when that changed. */
export function setLrScheduled(scheduled) {
  const changed = scheduled !== lrScheduled;
  lrScheduled = scheduled;
  return changed;
}

/** How an lr change applied to the schedule: "×0.5", "pinned", "released", or "". */
function lrModeText(payload) {
  switch (payload.mode) {
    case "scale":
      return lrScheduled && typeof payload.factor === "number" ? `×${number(payload.factor, 3)}` : "";
    case "override":
      return t("ev.lrPinned");
    case "release":
      return t("ev.lrReleased");
    default:
      return "";
  }
}

function describeChange(key, [from, to], payload) {
  const text = `${key}: ${value(from)} → ${value(to)}`;
  const mode = key === "lr" ? lrModeText(payload) : "";
  return mode ? `${text} (${mode})` : text;
}

/** One line per change for an hparams event ("lr: 0.1 → 0.01 (×0.1)"), else one line. */
export function describeEvent(ev) {
  const payload = ev.payload || {};
  switch (ev.kind) {
    case "hparams":
      return Object.entries(payload.changes || {}).map(([key, change]) => describeChange(key, change, payload));
    case "error":
      return [t("ev.error", { message: payload.message || "" })];
    case "diverged":
      return [
        t("ev.diverged", {
          key: payload.key ?? "?",
          value: payload.value === null || payload.value === undefined ? "NaN" : number(payload.value),
        }),
      ];
    case "note":
      return [t("ev.note", { text: payload.text ?? payload.message ?? JSON.stringify(payload) })];
    case "restore":
      return [t("ev.restore", { step: integer(payload.from_step ?? payload.step ?? ev.step) })];
    case "autopilot":
      return [t(payload.enabled ? "ev.autopilotOn" : "ev.autopilotOff")];
    case "lr_test":
      if (!Number.isFinite(payload.suggested_lr)) return [t("ev.lrTestNone")];
      return [t("ev.lrTest", { lr: number(payload.suggested_lr) })];
    case "race":
      return [describeRace(payload)];
    case "pause":
    case "resume":
    case "step":
    case "stop":
    case "checkpoint":
    case "fork":
      return [t(`ev.${ev.kind}`)];
    default:
      return [t("ev.other", { kind: ev.kind })];
  }
}

function describeRace(payload) {
  const winner = (payload.results || [])[payload.winner];
  if (!winner) return t("ev.raceNone");
  const said = { n: payload.results.length, winner: hparamsText(winner.hparams), score: number(winner.score) };
  return t(payload.too_close ? "ev.raceTooClose" : payload.kept ? "ev.raceKept" : "ev.race", said);
}

/** Every line a marker's label and tooltip show: who made it, what changed, what it did. */
export function eventLines(ev) {
  const lines = describeEvent(ev);
  const by = byWhom(ev);
  if (by && lines.length) lines[0] = `${byLabel(ev)} · ${lines[0]}`;
  if (ev.impact) lines.push(t("ev.impact", { text: impactText(ev.impact) }));
  return lines;
}

/** A row of the events list: dot, what happened (with who and its impact), step. */
export function eventItem(ev, extra = null) {
  const li = document.createElement("li");
  li.className = "list-group-item d-flex gap-2";
  li.dataset.kind = ev.kind;
  const by = byWhom(ev);
  if (by) li.dataset.by = by;
  const dot = document.createElement("span");
  dot.className = "event-dot";
  dot.style.background = eventStyle(ev.kind, ev).color;
  const text = document.createElement("div");
  text.className = "flex-grow-1 text-break";
  if (by) text.append(byBadge(ev, by), " ");
  text.append(describeEvent(ev).join(", "));
  if (ev.payload?.reason) {
    const reason = document.createElement("div");
    reason.className = "event-reason text-body-secondary fst-italic";
    reason.textContent = t("ev.reason", { reason: String(ev.payload.reason) });
    text.append(reason);
  }
  if (ev.impact) {
    const impact = document.createElement("div");
    impact.className = "event-impact text-body-secondary";
    impact.textContent = t("ev.impact", { text: impactText(ev.impact) });
    text.append(impact);
  }
  const action = extra?.(ev);
  if (action) text.append(" ", action);
  const step = document.createElement("span");
  step.className = "text-body-secondary text-nowrap";
  step.textContent = t("events.atStep", { step: integer(ev.step) });
  li.append(dot, text, step);
  return li;
}

const signed = (v) => `${v < 0 ? "−" : ""}${Math.abs(v).toExponential(1)}`;

/** What a change did, in the page's language: "slope −2.1e-4 → −6.3e-4 per step, 3.0× faster". */
export function impactText(impact) {
  const { before, after } = impact;
  if (!Number.isFinite(before) || !Number.isFinite(after)) return impact.text ?? "";
  const slope = t("impact.slope", { before: signed(before), after: signed(after) });
  if (before < 0 && after < 0) {
    const ratio = after / before;
    const word = ratio >= 1 ? t("impact.faster", { x: ratio.toFixed(1) }) : t("impact.slower", { x: (1 / ratio).toFixed(1) });
    return `${slope}, ${word}`;
  }
  if (before < 0) return `${slope}, ${t("impact.stopped")}`;
  if (after < 0) return `${slope}, ${t("impact.started")}`;
  return slope;
}

/** "Autopilot (plateau)", "Autopilot (undo)", "Recipe". */
function byLabel(ev) {
  const payload = ev.payload || {};
  const rule = payload.undo ? "undo" : payload.rule;
  const label = t(`ev.by.${byWhom(ev)}`);
  return rule ? `${label} (${t(`ev.rule.${rule}`)})` : label;
}

function byBadge(ev, by) {
  const badge = document.createElement("span");
  badge.className = `badge event-by event-by-${by}`;
  const icon = document.createElement("i");
  icon.className = `bi ${BY[by].icon}`;
  icon.setAttribute("aria-hidden", "true");
  badge.append(icon, " ", byLabel(ev));
  return badge;
}
