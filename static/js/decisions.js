// What the lr test, the race and the autopilot's settings share: the metric they read unless
// told otherwise (the run's own loss key, as the server picks it), and a change that says
// old → new and its factor, asks once more beyond ×0.1 … ×10, and offers Undo once sent.
import { number, value } from "./format.js";
import { t } from "./i18n.js";

const LOSS_KEYS = ["loss", "train_loss"];
const SAFE_FACTOR = 10; // a change by more than this (or less than its inverse) is asked again

/** The run's own loss key among its logged keys: loss, train_loss, else any *loss* key. */
export function lossKey(keys) {
  const list = [...keys];
  return LOSS_KEYS.find((k) => list.includes(k)) ?? list.find((k) => k.includes("loss")) ?? null;
}

/** Logged keys with the loss keys first (the order the server names them in). */
export function lossFirst(keys) {
  return [...keys].sort((a, b) => Number(!a.includes("loss")) - Number(!b.includes("loss")) || a.localeCompare(b));
}

/** to ÷ from when both are positive numbers, else null (no factor to speak of). */
export function factorOf(from, to) {
  return typeof from === "number" && typeof to === "number" && from > 0 && to > 0 ? to / from : null;
}

/** Whether a factor lies beyond ×0.1 … ×10. */
export const isDrastic = (factor) => factor !== null && (factor > SAFE_FACTOR || factor < 1 / SAFE_FACTOR);

export const factorText = (factor) => `×${number(factor, 2)}`;

/** "lr 0.00209 → 8.6e-4 (×0.41)": one key's change with its factor. */
export function changeText(key, from, to) {
  const factor = factorOf(from, to);
  const text = `${key} ${value(from)} → ${value(to)}`;
  return factor === null ? text : `${text} (${factorText(factor)})`;
}

/** The changes between two sets of values, one text each; the most drastic factor of them. */
export function describeChanges(before, after) {
  const keys = Object.keys(after).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  const factors = keys.map((k) => factorOf(before[k], after[k])).filter((f) => f !== null);
  const drastic = factors.find(isDrastic) ?? null;
  return { texts: keys.map((k) => changeText(k, before[k], after[k])), drastic };
}

/** A line under a decision: what it will change, "are you sure?" and "Undo". */
export class ChangeBox {
  constructor(box) {
    this.box = box;
    this.answer = null; // resolves a pending confirm()
  }

  clear() {
    this.settle(false);
    this.box.replaceChildren();
  }

  /** What a change will do, before it is sent. */
  show(text) {
    this.settle(false);
    this.box.replaceChildren(line(text, "text-body-secondary"));
  }

  /** Ask once more; true once confirmed, false when cancelled or replaced by something else. */
  confirm(text, confirmLabel) {
    this.settle(false);
    const yes = button(confirmLabel, "btn-warning change-confirm");
    const no = button(t("change.cancel"), "btn-outline-secondary change-cancel");
    const box = document.createElement("div");
    box.className = "alert alert-warning d-flex flex-wrap align-items-center gap-2 py-1 px-2 mb-0 small change-ask";
    box.setAttribute("role", "alert");
    box.append(line(text, ""), yes, no);
    this.box.replaceChildren(box);
    return new Promise((resolve) => {
      this.answer = resolve;
      yes.addEventListener("click", () => this.settle(true));
      no.addEventListener("click", () => this.clear());
    });
  }

  settle(yes) {
    const answer = this.answer;
    this.answer = null;
    answer?.(yes);
  }

  /** What was sent, with an Undo that runs undo() and says how it went. */
  offerUndo(text, undo) {
    this.settle(false);
    const undoButton = button(t("change.undo"), "btn-outline-secondary change-undo");
    undoButton.addEventListener("click", async () => {
      undoButton.disabled = true;
      try {
        await undo();
        this.box.replaceChildren(line(t("change.undone"), "text-success"));
      } catch (error) {
        this.box.replaceChildren(line(error.message, "text-danger"));
      }
    });
    const box = document.createElement("div");
    box.className = "d-flex flex-wrap align-items-center gap-2 small";
    box.append(line(text, "text-success"), undoButton);
    this.box.replaceChildren(box);
  }
}

function line(text, className) {
  const span = document.createElement("span");
  span.className = `change-text ${className}`;
  span.textContent = text;
  return span;
}

function button(text, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `btn btn-sm ${className}`;
  b.textContent = text;
  return b;
}
