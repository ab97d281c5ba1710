// A race's result (its `race` event): every variant's score in a table whose swatches are the
// variants' lines on the charts (the charts' own legend lists the run's series), the rule that
// decided, and a zoom of every chart to the race's steps.
/* global bootstrap */
import { dialogCloser } from "./dom.js";
import { hparamsText } from "./events.js";
import { integer, number } from "./format.js";
import { t } from "./i18n.js";
import { raceColor } from "./race.js";

export class RaceResult {
  /** zoom(min, max): the run view's charts to these steps. */
  constructor({ zoom }) {
    this.zoom = zoom;
    this.modalEl = document.getElementById("race-result-modal");
    this.modal = bootstrap.Modal.getOrCreateInstance(this.modalEl);
    this.close = dialogCloser(this.modalEl, this.modal); // Zoom may come while it still opens
    this.rows = document.getElementById("race-result-rows");
    this.ev = null;
    document.getElementById("race-result-zoom").addEventListener("click", () => {
      if (this.ev) this.zoom(...raceSteps(this.ev));
      this.close();
    });
  }

  /** Show a `race` event's result. */
  show(ev) {
    this.ev = ev;
    this.render();
    this.modal.show();
  }

  render() {
    const payload = this.ev.payload || {};
    document.getElementById("race-result-title").textContent = t("race.resultTitle", { step: integer(this.ev.step) });
    document.getElementById("race-result-rule").textContent = ruleText(payload);
    this.rows.replaceChildren(...(payload.results || []).map((result, i) => resultRow(result, i, payload)));
  }

  refreshLanguage() {
    if (this.ev && this.modalEl.classList.contains("show")) this.render();
  }
}

/** The steps a race took: from its start to the end of its variants. */
export function raceSteps(ev) {
  return [ev.step, ev.step + (ev.payload?.steps ?? 0)];
}

/** "Decided by the lowest mean of loss over each variant's last 12 logged steps." */
export function ruleText(payload) {
  const best = t(payload.mode === "max" ? "race.highestMean" : "race.lowestMean");
  const n = payload.scored_over ?? Math.max(1, Math.floor((payload.steps ?? 0) / 5));
  const rule = t("race.rule", { best, metric: payload.metric ?? "loss", n: integer(n) });
  if (!Number.isFinite(payload.noise_margin)) return rule;
  return `${rule} ${t("race.ruleNoise", { z: number(payload.noise_margin) })}`;
}

/** "0.412 ± 0.013": a score and its standard error (when the race could read its noise). */
function scoreText(result) {
  const score = number(result.score);
  return Number.isFinite(result.uncertainty) ? `${score} ± ${number(result.uncertainty)}` : score;
}

/** What a race did: "won", "kept" (the values it began with won) or why a variant lost. */
function outcome(result, index, payload) {
  if (index === payload.winner) return t(payload.too_close ? "race.tooClose" : payload.kept ? "race.kept" : "race.won1");
  return result.score === null || result.score === undefined ? t("race.noScore") : "";
}

function resultRow(result, index, payload) {
  const tr = document.createElement("tr");
  tr.dataset.index = String(index);
  if (index === payload.winner) tr.classList.add("race-winner");
  const swatch = document.createElement("span");
  swatch.className = "legend-swatch";
  swatch.style.background = raceColor(index);
  const cells = [swatch, hparamsText(result.hparams), scoreText(result), outcome(result, index, payload)];
  cells.forEach((content, i) => {
    const td = document.createElement("td");
    if (i === 1) td.className = "font-monospace";
    if (i === 2) td.className = "text-end font-monospace race-score";
    td.append(content);
    tr.append(td);
  });
  return tr;
}
