// "Race": 2-8 variants of the live hparams, prefilled around the live values (lr ×0.3, ×1, ×3),
// each trained K steps from one snapshot; the server scores them and the run goes on with the
// winner. Only the hparams that differ between variants are sent, so each one reads as its change.
// Each row says what it changes (old → new, the factor); a variant beyond ×0.1 … ×10 is asked
// about once more. The ×1 row carries the live values exactly: if it wins, nothing changes.
/* global bootstrap */
import * as api from "./api.js";
import { ChangeBox, describeChanges, lossFirst, lossKey } from "./decisions.js";
import { dialogCloser } from "./dom.js";
import { t } from "./i18n.js";
import { modeFor } from "./runs.js";

const MIN_VARIANTS = 2;
const MAX_VARIANTS = 8;
const LR_FACTORS = [0.3, 1, 3];
const NUMERIC = ["float", "int"];

export class RaceDialog {
  /** onStarted(run, runIds, variants) once the server took the race. */
  constructor({ onStarted }) {
    this.modalEl = document.getElementById("race-modal");
    this.modal = bootstrap.Modal.getOrCreateInstance(this.modalEl);
    this.close = dialogCloser(this.modalEl, this.modal);
    this.form = document.getElementById("race-form");
    this.rowsBox = document.getElementById("race-rows");
    this.addButton = document.getElementById("race-add");
    this.startButton = document.getElementById("race-start");
    this.metricInput = document.getElementById("race-metric");
    this.modeSelect = document.getElementById("race-mode");
    this.message = document.getElementById("race-message");
    this.change = new ChangeBox(document.getElementById("race-change"));
    this.onStarted = onStarted;
    this.run = null;
    this.keys = [];
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.start();
    });
    this.addButton.addEventListener("click", () => this.addRow(this.run.hparams));
    this.metricInput.addEventListener("change", () => {
      this.modeSelect.value = modeFor(this.metricInput.value.trim());
    });
  }

  /** Open for a run; metricKeys: the keys it logs (offered as the score). */
  open(run, metricKeys) {
    this.run = run;
    const schema = run.config?.schema || {};
    this.keys = Object.keys(schema).filter((k) => schema[k].live && NUMERIC.includes(schema[k].type));
    if (!this.keys.length) this.keys = Object.keys(run.hparams).filter((k) => typeof run.hparams[k] === "number");
    this.renderHead();
    this.rowsBox.replaceChildren();
    for (const factor of LR_FACTORS) this.addRow(scaled(run.hparams, factor, schema.lr));
    const keys = lossFirst(metricKeys);
    this.offerMetrics(keys);
    const metric = lossKey(keys) ?? keys[0] ?? "";
    this.metricInput.value = metric;
    this.modeSelect.value = modeFor(metric);
    this.change.clear();
    this.say("", "");
    this.modal.show();
  }

  offerMetrics(keys) {
    document.getElementById("race-metric-keys").replaceChildren(...keys.map((k) => new Option(k, k)));
  }

  renderHead() {
    const head = document.getElementById("race-head");
    const cells = ["#", ...this.keys, t("race.change"), ""].map((text, i) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.className = i > 0 && i <= this.keys.length ? "font-monospace fw-medium" : "fw-medium";
      th.textContent = text;
      return th;
    });
    head.replaceChildren(...cells);
  }

  addRow(values) {
    if (this.rowsBox.children.length >= MAX_VARIANTS) return;
    const tr = document.createElement("tr");
    tr.className = "race-row";
    const index = document.createElement("th");
    index.scope = "row";
    tr.append(index);
    for (const key of this.keys) {
      const td = document.createElement("td");
      const input = document.createElement("input");
      input.className = "form-control form-control-sm font-monospace";
      input.inputMode = "decimal";
      input.dataset.key = key;
      input.value = values[key] === undefined ? "" : String(values[key]);
      input.addEventListener("input", () => this.describeRow(tr));
      td.append(input);
      tr.append(td);
    }
    const changeCell = document.createElement("td");
    changeCell.className = "race-row-change small text-body-secondary";
    tr.append(changeCell);
    const td = document.createElement("td");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-outline-secondary btn-sm race-remove";
    const icon = document.createElement("i");
    icon.className = "bi bi-x";
    icon.setAttribute("aria-hidden", "true");
    remove.append(icon);
    remove.addEventListener("click", () => {
      tr.remove();
      this.renumber();
    });
    td.append(remove);
    tr.append(td);
    this.rowsBox.append(tr);
    this.describeRow(tr);
    this.renumber();
  }

  rowValues(tr) {
    const values = {};
    for (const input of tr.querySelectorAll("input")) values[input.dataset.key] = parseValue(input.value);
    return values;
  }

  /** What a row changes of the live values: "lr 0.002 → 0.006 (×3)", or "unchanged". */
  describeRow(tr) {
    const { texts } = describeChanges(this.run.hparams, this.rowValues(tr));
    tr.querySelector(".race-row-change").textContent = texts.join(", ") || t("race.unchanged");
  }

  renumber() {
    const rows = [...this.rowsBox.children];
    rows.forEach((tr, i) => {
      tr.firstElementChild.textContent = String(i + 1);
      tr.querySelector(".race-remove").setAttribute("aria-label", t("race.remove", { n: i + 1 }));
      tr.querySelector(".race-remove").disabled = rows.length <= MIN_VARIANTS;
      for (const input of tr.querySelectorAll("input")) {
        input.setAttribute("aria-label", t("race.valueLabel", { key: input.dataset.key, n: i + 1 }));
      }
    });
    this.addButton.disabled = rows.length >= MAX_VARIANTS;
  }

  /** Each row's values; only the keys that differ between rows (lr when none do). */
  variants() {
    const rows = [...this.rowsBox.children].map((tr) => this.rowValues(tr));
    let varying = this.keys.filter((k) => new Set(rows.map((r) => JSON.stringify(r[k]))).size > 1);
    if (!varying.length) varying = this.keys.includes("lr") ? ["lr"] : this.keys.slice(0, 1);
    return rows.map((r) => Object.fromEntries(varying.map((k) => [k, r[k]])));
  }

  /** The variants' changes beyond ×0.1 … ×10 of the live values, as text (none: ""). */
  drasticText(variants) {
    return variants
      .map((variant, i) => [i, describeChanges(this.run.hparams, variant)])
      .filter(([, change]) => change.drastic !== null)
      .map(([i, change]) => t("race.variantChange", { n: i + 1, change: change.texts.join(", ") }))
      .join("; ");
  }

  async start() {
    const variants = this.variants();
    const drastic = this.drasticText(variants);
    if (drastic) {
      this.startButton.disabled = true;
      const sure = await this.change.confirm(t("change.drastic", { change: drastic }), t("race.startAnyway"));
      this.startButton.disabled = false;
      if (!sure) return;
    }
    const body = {
      variants,
      steps: Math.round(Number(document.getElementById("race-steps").value)),
      metric: this.metricInput.value.trim(),
      mode: this.modeSelect.value,
    };
    this.startButton.disabled = true;
    try {
      const { run_ids: runIds } = await api.race(this.run.id, body);
      this.close();
      this.onStarted(this.run, runIds, variants);
    } catch (error) {
      if (error.details?.keys?.length) this.offerMetrics(error.details.keys);
      this.say(error.message, "text-danger");
    } finally {
      this.startButton.disabled = false;
    }
  }

  say(text, className) {
    this.message.textContent = text;
    this.message.className = `small mt-2 ${className}`;
  }
}

/** The live values with lr times factor (3 significant digits, within the schema's bounds);
 * ×1 exactly the live values, so that a winning ×1 changes nothing. */
function scaled(hparams, factor, lrSpec) {
  if (typeof hparams.lr !== "number" || factor === 1) return { ...hparams };
  let lr = Number((hparams.lr * factor).toPrecision(3));
  if (lrSpec && Number.isFinite(lrSpec.max)) lr = Math.min(lr, lrSpec.max);
  if (lrSpec && Number.isFinite(lrSpec.min)) lr = Math.max(lr, lrSpec.min);
  return { ...hparams, lr };
}

/** A number when the text is one, else the text (the server answers with its own message). */
function parseValue(text) {
  const trimmed = text.trim();
  const n = Number(trimmed);
  return trimmed !== "" && Number.isFinite(n) ? n : trimmed;
}
