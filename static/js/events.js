// How run events read and look, shared by the chart markers and the events list.
import { number, value } from "./format.js";
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
};

export function eventStyle(kind) {
  return STYLE[kind] || STYLE.note;
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
