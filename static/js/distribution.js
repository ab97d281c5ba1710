// Weight and gradient distributions over steps, as TensorBoard draws them: for one tensor,
// shaded percentile bands (min–max, 5–95, 25–75) and the median as a line. Each snapshot of
// kind "distribution" is {name, kind, q: [0, .05, .25, .5, .75, .95, 1], values} at a step.
/* global Chart */
import { integer, number } from "./format.js";
import { t } from "./i18n.js";
import { loadSnapshots } from "./snapshots.js";

const COLOR = [28, 126, 214]; // the page's blue
const BANDS = [
  // [lower quantile, upper quantile, fill alpha]
  [0, 1, 0.15],
  [0.05, 0.95, 0.28],
  [0.25, 0.75, 0.45],
];
const UPDATE_INTERVAL_MS = 200;

const rgba = (alpha) => `rgba(${COLOR.join(", ")}, ${alpha})`;

/** The value at quantile q of one snapshot payload, or null when it was not logged. */
export function quantile(payload, q) {
  const qs = payload.q || [];
  const i = qs.findIndex((x) => Math.abs(x - q) < 1e-9);
  const v = i < 0 ? null : payload.values?.[i];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export class DistributionView {
  constructor({ onError }) {
    this.onError = onError;
    this.card = document.getElementById("dist-card");
    this.select = document.getElementById("dist-name");
    this.canvas = document.querySelector("#dist-chart-block [data-canvas]");
    this.tensors = new Map(); // name -> [{id, step, payload}] by step
    this.name = null;
    this.runId = null;
    this.chart = null;
    this.timer = null;
    this.select.addEventListener("change", () => {
      this.name = this.select.value;
      this.draw();
    });
  }

  async open(runId) {
    this.clear();
    this.runId = runId;
    const rows = await loadSnapshots(this, runId, "distribution");
    if (!rows) return;
    for (const snap of rows) this.add(snap);
    this.draw();
  }

  /** Add the run's distribution snapshots not here yet (after a subscribe, say). */
  async merge(runId) {
    const rows = await loadSnapshots(this, runId, "distribution");
    if (!rows?.length) return;
    for (const snap of rows) this.add(snap);
    this.draw();
  }

  clear() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.chart?.destroy();
    this.chart = null;
    this.tensors.clear();
    this.name = null;
    this.runId = null;
    this.card.hidden = true;
  }

  /** A distribution snapshot arrived live. */
  take(snap) {
    if (snap.kind !== "distribution" || snap.run_id !== this.runId) return;
    this.add(snap);
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.draw();
      }, UPDATE_INTERVAL_MS);
    }
  }

  add(snap) {
    const name = snap.payload?.name;
    if (!name || !Array.isArray(snap.payload.values)) return;
    if (!this.tensors.has(name)) this.tensors.set(name, []);
    const list = this.tensors.get(name);
    if (list.some((s) => s.id === snap.id)) return;
    list.push({ id: snap.id, step: snap.step, payload: snap.payload });
    if (list.length > 1 && list[list.length - 2].step > snap.step) list.sort((a, b) => a.step - b.step);
  }

  renderOptions() {
    // Weights first, then gradients, each by name.
    const names = [...this.tensors.keys()].sort((a, b) => a.endsWith(".grad") - b.endsWith(".grad") || a.localeCompare(b));
    if (!this.name || !this.tensors.has(this.name)) this.name = names.find((n) => n.endsWith("weight")) ?? names[0];
    this.select.replaceChildren(...names.map((n) => new Option(n, n, false, n === this.name)));
  }

  /** The datasets: each band as a lower and an upper line, the upper filled down to the lower. */
  datasets() {
    const snaps = this.tensors.get(this.name) || [];
    const line = (q) => snaps.map((s) => ({ x: s.step, y: quantile(s.payload, q) }));
    const sets = [];
    for (const [lo, hi, alpha] of BANDS) {
      const base = { borderWidth: 0, pointRadius: 0, pointHitRadius: 0, borderColor: "transparent" };
      sets.push({ ...base, lkQ: lo, label: t("dist.q", { q: Math.round(lo * 100) }), data: line(lo), fill: false });
      sets.push({ ...base, lkQ: hi, label: t("dist.q", { q: Math.round(hi * 100) }), data: line(hi), fill: "-1", backgroundColor: rgba(alpha) });
    }
    sets.push({
      lkQ: 0.5,
      label: t("dist.median"),
      data: line(0.5),
      borderColor: rgba(1),
      backgroundColor: rgba(1),
      borderWidth: 1.5,
      pointRadius: 0,
      fill: false,
    });
    return sets;
  }

  draw() {
    this.card.hidden = this.tensors.size === 0;
    if (!this.tensors.size) return;
    this.renderOptions();
    const datasets = this.datasets();
    this.canvas.setAttribute("aria-label", t("dist.aria", { name: this.name, n: (this.tensors.get(this.name) || []).length }));
    if (this.chart) {
      this.chart.data.datasets = datasets;
      this.chart.update("none");
      return;
    }
    this.chart = new Chart(this.canvas, {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { type: "linear", ticks: { callback: (v) => integer(v), maxRotation: 0 } },
          y: { type: "linear", ticks: { callback: (v) => number(v, 3) } },
        },
        plugins: {
          legend: { display: false },
          decimation: { enabled: false },
          tooltip: {
            itemSort: (a, b) => b.dataset.lkQ - a.dataset.lkQ,
            filter: (item, index, items) => items.findIndex((x) => x.dataset.lkQ === item.dataset.lkQ) === index,
            callbacks: {
              title: (items) => (items.length ? t("chart.stepTitle", { step: integer(items[0].parsed.x) }) : ""),
              label: (item) => `${item.dataset.label}: ${number(item.parsed.y)}`,
            },
          },
        },
      },
    });
  }

  refreshLanguage() {
    if (this.tensors.size) this.draw();
  }

  refreshTheme() {
    if (!this.chart) return;
    for (const axis of Object.values(this.chart.options.scales)) {
      axis.grid = { ...(axis.grid || {}), color: Chart.defaults.borderColor };
      axis.ticks = { ...(axis.ticks || {}), color: Chart.defaults.color };
    }
    this.chart.update("none");
  }
}
