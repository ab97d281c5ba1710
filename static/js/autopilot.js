// The autopilot, opt in per run: a switch, its settings in a small dropdown form, and an undo of
// its last action. Settings live in run.config.autopilot; PATCH sends only what changed here.
import * as api from "./api.js";
import { isLive } from "./format.js";
import { t } from "./i18n.js";
import { isTrial } from "./trials.js";

const DEFAULTS = {
  enabled: false,
  plateau: { enabled: true, metric: "train_loss", patience: 200, factor: 0.5, max_times: 3, min_delta: 0 },
  divergence: { enabled: true, factor: 0.5, max_times: 3, ratio: 3, window: 20 },
};

export class AutopilotControls {
  /** say(text, className): a line beside the controls. */
  constructor({ say }) {
    this.say = say;
    this.switch = document.getElementById("ap-enabled");
    this.settingsButton = document.getElementById("ap-settings-btn");
    this.form = document.getElementById("ap-form");
    this.formMessage = document.getElementById("ap-form-message");
    this.undoButton = document.getElementById("ap-undo");
    this.run = null;
    this.hasActions = false;
    this.busy = false;
    this.switch.addEventListener("change", () => this.send({ enabled: this.switch.checked }));
    this.undoButton.addEventListener("click", () => this.undo());
    this.settingsButton.addEventListener("show.bs.dropdown", () => this.fill());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.save();
    });
  }

  settings() {
    const saved = this.run?.config?.autopilot || {};
    return {
      enabled: saved.enabled ?? DEFAULTS.enabled,
      plateau: { ...DEFAULTS.plateau, ...(saved.plateau || {}) },
      divergence: { ...DEFAULTS.divergence, ...(saved.divergence || {}) },
    };
  }

  show(run) {
    const other = !this.run || this.run.id !== run.id;
    this.run = run;
    if (other) this.formMessage.textContent = "";
    if (!this.busy) this.switch.checked = this.settings().enabled;
    this.render();
  }

  /** Whether the run has autopilot actions (undo needs one). */
  setHasActions(has) {
    this.hasActions = has;
    this.render();
  }

  clear() {
    this.run = null;
    this.hasActions = false;
    this.switch.checked = false;
    this.render();
  }

  render() {
    const live = Boolean(this.run) && isLive(this.run) && !isTrial(this.run);
    this.switch.disabled = !live || this.busy;
    this.settingsButton.disabled = !live;
    this.undoButton.disabled = !live || !this.hasActions || this.busy;
  }

  /** Set every field of the settings form from the run's settings. */
  fill() {
    const settings = this.settings();
    for (const input of this.form.querySelectorAll("input[name]")) {
      const [group, key] = input.name.split(".");
      const current = settings[group][key];
      if (input.type === "checkbox") input.checked = Boolean(current);
      else input.value = current === undefined || current === null ? "" : String(current);
    }
    this.formMessage.textContent = "";
  }

  /** The form's values as {plateau: {...}, divergence: {...}}: numbers as numbers. */
  read() {
    const body = { plateau: {}, divergence: {} };
    for (const input of this.form.querySelectorAll("input[name]")) {
      const [group, key] = input.name.split(".");
      if (input.type === "checkbox") body[group][key] = input.checked;
      else if (input.type === "number") body[group][key] = input.value === "" ? null : Number(input.value);
      else body[group][key] = input.value.trim();
    }
    for (const group of Object.values(body)) {
      for (const [key, v] of Object.entries(group)) if (v === null || v === "") delete group[key];
    }
    return body;
  }

  async save() {
    const ok = await this.send(this.read());
    this.formMessage.className = `small ${ok ? "text-success" : "text-danger"}`;
    this.formMessage.textContent = ok ? t("ap.saved") : this.lastError;
  }

  undo() {
    return this.send({ undo: true }, t("ap.undone"));
  }

  /** PATCH the autopilot; keeps the answered settings on the run. */
  async send(body, done = "") {
    if (!this.run) return false;
    const run = this.run;
    this.busy = true;
    this.render();
    try {
      const { autopilot } = await api.autopilot(run.id, body);
      if (this.run && this.run.id === run.id) this.run = { ...this.run, config: { ...this.run.config, autopilot } };
      this.say(done, "text-success");
      return true;
    } catch (error) {
      this.lastError = error.message;
      this.say(error.message, "text-danger");
      return false;
    } finally {
      this.busy = false;
      if (this.run) this.switch.checked = this.settings().enabled;
      this.render();
    }
  }
}
