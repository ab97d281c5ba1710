// A run's text samples (snapshots of kind "text", {key, text}), newest first, and a word- or
// line-level diff between two chosen steps.
import { diff } from "./diff.js";
import { integer } from "./format.js";
import { t } from "./i18n.js";
import { loadSnapshots } from "./snapshots.js";

const MAX_SHOWN = 100; // newest samples listed; the diff may pick any of them

export class SamplesView {
  constructor({ onError }) {
    this.onError = onError;
    this.card = document.getElementById("samples-card");
    this.keySelect = document.getElementById("samples-key");
    this.fromSelect = document.getElementById("samples-from");
    this.toSelect = document.getElementById("samples-to");
    this.list = document.getElementById("samples-list");
    this.diffView = document.getElementById("samples-diff-view");
    this.diffButton = document.getElementById("samples-diff");
    this.samples = new Map(); // key -> [{id, step, text}] by step
    this.key = null;
    this.runId = null;
    this.by = "word";
    this.keySelect.addEventListener("change", () => {
      this.key = this.keySelect.value;
      this.render(true);
    });
    for (const select of [this.fromSelect, this.toSelect]) select.addEventListener("change", () => this.renderDiff());
    for (const radio of document.querySelectorAll('input[name="samples-by"]')) {
      radio.addEventListener("change", () => {
        this.by = radio.value;
        this.renderDiff();
      });
    }
    this.diffButton.addEventListener("click", () => {
      const on = this.diffButton.getAttribute("aria-pressed") !== "true";
      this.diffButton.setAttribute("aria-pressed", String(on));
      this.diffButton.classList.toggle("active", on);
      this.renderDiff();
    });
  }

  async open(runId) {
    this.clear();
    this.runId = runId;
    const rows = await loadSnapshots(this, runId, "text");
    if (!rows) return;
    for (const snap of rows) this.add(snap, false);
    this.render(true);
  }

  /** Add the run's text snapshots not here yet (after a subscribe, say). */
  async merge(runId) {
    const wasEmpty = this.samples.size === 0;
    const rows = await loadSnapshots(this, runId, "text");
    if (!rows) return;
    for (const snap of rows) this.add(snap, false);
    this.render(wasEmpty);
  }

  clear() {
    this.runId = null;
    this.samples.clear();
    this.key = null;
    this.diffButton.setAttribute("aria-pressed", "false");
    this.diffButton.classList.remove("active");
    this.card.hidden = true;
  }

  /** A text snapshot, fetched or live. */
  take(snap) {
    if (snap.kind !== "text" || snap.run_id !== this.runId) return;
    this.add(snap, true);
  }

  add(snap, render) {
    const key = String(snap.payload?.key ?? "text");
    if (!this.samples.has(key)) this.samples.set(key, []);
    const list = this.samples.get(key);
    if (list.some((s) => s.id === snap.id)) return;
    list.push({ id: snap.id, step: snap.step, text: String(snap.payload?.text ?? "") });
    list.sort((a, b) => a.step - b.step || a.id - b.id);
    if (render) this.render(false);
  }

  /** fresh: pick the default steps for the diff again (the two newest). */
  render(fresh) {
    this.card.hidden = this.samples.size === 0;
    if (!this.samples.size) return;
    const keys = [...this.samples.keys()].sort();
    if (!this.key || !this.samples.has(this.key)) this.key = keys.includes("sample") ? "sample" : keys[0];
    this.keySelect.replaceChildren(...keys.map((k) => new Option(k, k, false, k === this.key)));
    this.keySelect.hidden = keys.length < 2;
    const samples = this.samples.get(this.key);
    const newest = [...samples].reverse().slice(0, MAX_SHOWN);
    this.list.replaceChildren(...newest.map((s) => this.item(s)));
    this.fillSteps(samples, fresh);
    this.renderDiff();
  }

  item(sample) {
    const li = document.createElement("li");
    li.className = "sample-item";
    li.dataset.step = String(sample.step);
    const head = document.createElement("div");
    head.className = "text-body-secondary mb-1";
    head.textContent = t("samples.atStep", { step: integer(sample.step) });
    const pre = document.createElement("pre");
    pre.className = "sample-text mb-0";
    pre.textContent = sample.text;
    li.append(head, pre);
    return li;
  }

  fillSteps(samples, fresh) {
    const options = (selected) =>
      [...samples].reverse().map((s) => new Option(t("samples.step", { step: integer(s.step) }), String(s.id), false, s.id === selected));
    const ids = samples.map((s) => s.id);
    const keep = (select, fallback) => {
      const current = Number(select.value);
      return !fresh && ids.includes(current) ? current : fallback;
    };
    const newestId = ids[ids.length - 1];
    const previousId = ids.length > 1 ? ids[ids.length - 2] : newestId;
    const to = keep(this.toSelect, newestId);
    const from = keep(this.fromSelect, previousId);
    this.fromSelect.replaceChildren(...options(from));
    this.toSelect.replaceChildren(...options(to));
  }

  renderDiff() {
    const on = this.diffButton.getAttribute("aria-pressed") === "true";
    this.diffView.hidden = !on;
    if (!on || !this.key) return;
    const samples = this.samples.get(this.key) || [];
    const find = (select) => samples.find((s) => s.id === Number(select.value));
    const before = find(this.fromSelect);
    const after = find(this.toSelect);
    if (!before || !after) {
      this.diffView.replaceChildren();
      return;
    }
    this.diffView.replaceChildren(
      ...diff(before.text, after.text, this.by).map((part) => {
        if (part.op === "same") return document.createTextNode(part.text);
        const el = document.createElement(part.op === "add" ? "ins" : "del");
        el.textContent = part.text;
        return el;
      }),
    );
  }

  refreshLanguage() {
    if (this.samples.size) this.render(false);
  }
}
