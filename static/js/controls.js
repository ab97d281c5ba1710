// Pause, resume, step, stop and checkpoint: each enabled only when it applies; Space toggles pause.
import * as api from "./api.js";
import { t } from "./i18n.js";

const APPLIES = {
  pause: ["queued", "running"],
  resume: ["paused"],
  step: ["paused"],
  stop: ["queued", "running", "paused"],
  checkpoint: ["running", "paused"],
};

// Space belongs to whatever control has focus when that control uses it itself.
function spaceIsTaken(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  return Boolean(target.closest("input, textarea, select, button, a[href], summary, [role=button], .modal"));
}

export class Controls {
  constructor() {
    this.buttons = new Map(
      [...document.querySelectorAll("[data-action]")].map((b) => [b.dataset.action, b]),
    );
    this.errorEl = document.getElementById("control-error");
    this.run = null;
    this.pending = null;
    for (const [action, button] of this.buttons) {
      button.addEventListener("click", () => this.act(action));
    }
    document.addEventListener("keydown", (e) => {
      if (e.code !== "Space" && e.key !== " ") return;
      if (e.repeat || e.ctrlKey || e.metaKey || e.altKey || spaceIsTaken(e.target)) return;
      if (!this.run || document.getElementById("view-run").hidden) return;
      const action = this.run.status === "paused" ? "resume" : "pause";
      if (!APPLIES[action].includes(this.run.status)) return;
      e.preventDefault();
      this.act(action);
    });
  }

  show(run) {
    if (!this.run || this.run.id !== run.id) {
      this.pending = null;
      this.errorEl.textContent = "";
    }
    if (this.run && this.run.status !== run.status) this.pending = null;
    this.run = run;
    this.render();
  }

  /** No run: every control off (while the next run loads, Space must not steer the last). */
  clear() {
    this.run = null;
    this.pending = null;
    this.errorEl.textContent = "";
    this.render();
  }

  render() {
    const status = this.run ? this.run.status : null;
    for (const [action, button] of this.buttons) {
      const applies = Boolean(status) && APPLIES[action].includes(status);
      // A sent pause or stop waits for the run's answer; steps may be clicked in a row.
      button.disabled = !applies || (this.pending !== null && this.pending === action && action !== "step");
    }
  }

  async act(action) {
    if (!this.run) return;
    const runId = this.run.id;
    this.errorEl.textContent = "";
    this.pending = action;
    this.render();
    try {
      const answer = await api.control(runId, action);
      // A checkpoint waits while a trial runs; the page says so rather than look done.
      if (answer?.deferred) this.errorEl.textContent = t("hp.deferred");
    } catch (error) {
      this.errorEl.textContent = error.message;
      this.pending = null;
      this.render();
      return;
    }
    // If the run never answers (e.g. the action changed nothing), give the button back.
    setTimeout(() => {
      if (this.pending === action && this.run && this.run.id === runId) {
        this.pending = null;
        this.render();
      }
    }, 3000);
  }
}
