// The autopilot, opt in per run: a switch, its settings in a small dropdown form, and an undo of
// its last action. Settings live in run.config.autopilot. Its metric is the run's own loss key
// unless another key it logs is named (the server refuses one it never logged, naming those it
// does). Saving says what changes (old → new), asks once more for an lr factor beyond ×0.1, and
// offers Undo (the settings from before).
import * as api from "./api.js";
import { ChangeBox, isDrastic, lossFirst, lossKey } from "./decisions.js";
import { isLive, value } from "./format.js";
import { t } from "./i18n.js";
import { isTrial } from "./trials.js";

const DEFAULTS = {
  enabled: false,
  plateau: { enabled: true, metric: null, patience: 200, factor: 0.5, max_times: 3, min_delta: 0 },
  divergence: { enabled: true, factor: 0.5, max_times: 3, ratio: 3, window: 20 },
};

export class AutopilotControls {
  /** say(text, className): a line beside the controls; metricKeys() -> the keys the run logs. */
  constructor({ say, metricKeys }) {
    this.say = say;
    this.metricKeys = metricKeys;
    this.change = new ChangeBox(document.getElementById("ap-change"));
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
    if (other) {
      this.formMessage.textContent = "";
      this.shown = null;
      this.change.clear();
    }
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

  /** Set every field of the settings form from the run's settings; the metric offered: the
   * keys the run logs, its loss key unless another was saved. */
  fill() {
    const settings = this.settings();
    const keys = this.metricKeys();
    this.offerMetrics(keys);
    settings.plateau.metric ??= lossKey(keys);
    for (const input of this.form.querySelectorAll("input[name]")) {
      const [group, key] = input.name.split(".");
      const current = settings[group][key];
      if (input.type === "checkbox") input.checked = Boolean(current);
      else input.value = current === undefined || current === null ? "" : String(current);
    }
    this.formMessage.textContent = "";
    this.change.clear();
    this.shown = settings;
  }

  offerMetrics(keys) {
    const list = document.getElementById("ap-metric-keys");
    list.replaceChildren(...lossFirst(keys).map((k) => new Option(k, k)));
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

  /** What saving would change of the settings the form showed: [{group, key, from, to}]. */
  changesIn(body) {
    const current = this.shown ?? this.settings();
    const changes = [];
    for (const [group, values] of Object.entries(body)) {
      for (const [key, to] of Object.entries(values)) {
        const from = current[group][key] ?? null;
        if (JSON.stringify(from) !== JSON.stringify(to)) changes.push({ group, key, from, to });
      }
    }
    return changes;
  }

  async save() {
    const body = this.read();
    const changes = this.changesIn(body);
    const text = changes.map((c) => `${c.group}.${c.key} ${value(c.from)} → ${value(c.to)}`).join(", ");
    const drastic = changes.find((c) => c.key === "factor" && isDrastic(c.to));
    if (drastic) {
      const ask = t("ap.drastic", { change: text, factor: value(drastic.to) });
      if (!(await this.change.confirm(ask, t("ap.saveAnyway")))) return;
    }
    const ok = await this.send(body);
    if (ok) this.shown = this.settings();
    this.formMessage.className = `small ${ok ? "text-success" : "text-danger"}`;
    this.formMessage.textContent = ok ? t("ap.saved") : this.lastError;
    if (ok && changes.length) this.change.offerUndo(t("ap.changed", { change: text }), () => this.restore(changes));
    else this.change.clear();
  }

  /** Undo a save: the settings it changed, as they were. */
  async restore(changes) {
    const body = {};
    for (const { group, key, from } of changes) body[group] = { ...body[group], [key]: from };
    if (!(await this.send(body))) throw new Error(this.lastError);
    this.shown = this.settings();
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
      if (error.details?.keys?.length) this.offerMetrics(error.details.keys);
      this.say(error.message, "text-danger");
      return false;
    } finally {
      this.busy = false;
      if (this.run) this.switch.checked = this.settings().enabled;
      this.render();
    }
  }
}
