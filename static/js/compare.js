// Compare: several runs' curves of one metric overlaid, one colour each, hparams side by side.
import * as api from "./api.js";
import { MetricChart } from "./charts.js";
import { CompareTable } from "./cmptable.js";
import { metricLabel } from "./format.js";
import { modeFor } from "./runs.js";
import { ChartToolbar } from "./toolbar.js";

export const RUN_COLORS = [
  "#1c7ed6", "#f76707", "#2f9e44", "#e03131", "#7048e8",
  "#0c8599", "#d6336c", "#5c940d", "#f59f00", "#495057",
];
const DEFAULT_METRICS = ["train_loss", "val_loss", "val_accuracy", "lr"];

export class CompareView {
  constructor({ live, runs, onError }) {
    this.live = live;
    this.runs = runs;
    this.onError = onError;
    this.section = document.getElementById("view-compare");
    this.block = document.getElementById("cmp-chart-block");
    this.metricSelect = document.getElementById("cmp-metric");
    this.table = document.getElementById("cmp-table");
    this.hint = document.getElementById("cmp-hint");
    this.tableView = new CompareTable({ colorOf: (id) => this.colorOf(id) });
    this.ids = [];
    this.members = new Map(); // run id -> {sub, token}
    this.colors = new Map();
    this.keys = new Set(DEFAULT_METRICS);
    this.metric = "train_loss";
    this.chart = null;
    this.tableTimer = null;
    this.toolbar = new ChartToolbar("cmp-", () => (this.chart ? [this.chart] : []));
    this.metricSelect.addEventListener("change", () => {
      this.metric = this.metricSelect.value;
      this.reload();
    });
  }

  /** Show the comparison of these run ids (adds and drops runs as needed). */
  open(ids) {
    this.section.hidden = false;
    if (!this.chart) {
      this.chart = new MetricChart(this.block, {
        title: () => metricLabel(this.metric),
        smoothing: this.toolbar.smoothing,
        fileName: () => `compare-${this.metric}`,
        onReset: () => this.toolbar.resetZoom(),
      });
      this.chart.setXMode(this.toolbar.xMode);
      this.chart.setLog(this.metric === "lr");
    }
    for (const id of [...this.members.keys()]) if (!ids.includes(id)) this.drop(id);
    this.ids = ids;
    for (const id of ids) if (!this.members.has(id)) this.add(id);
    this.hint.hidden = ids.length > 0;
    this.renderMetricOptions();
    this.renderTable();
  }

  close() {
    for (const id of [...this.members.keys()]) this.drop(id);
    this.chart?.destroy();
    this.chart = null;
    this.ids = [];
    this.section.hidden = true;
  }

  colorOf(id) {
    if (!this.colors.has(id)) {
      const used = new Set([...this.colors.entries()].filter(([k]) => this.ids.includes(k)).map(([, c]) => c));
      const free = RUN_COLORS.find((c) => !used.has(c)) || RUN_COLORS[this.colors.size % RUN_COLORS.length];
      this.colors.set(id, free);
    }
    return this.colors.get(id);
  }

  async add(id) {
    const member = { sub: null, token: {} };
    this.members.set(id, member);
    const run = this.runs.get(id);
    const label = run ? `${run.name} (#${id})` : `#${id}`;
    const seriesId = String(id);
    this.chart.addSeries(seriesId, { label, color: this.colorOf(id), t0: run?.started_at ?? null });
    let history;
    try {
      history = await api.metrics(id, { maxPoints: this.width() });
    } catch (error) {
      if (this.members.get(id) === member) this.onError(error.message);
      return;
    }
    if (this.members.get(id) !== member || !this.chart) return;
    for (const key of Object.keys(history.series)) this.keys.add(key);
    this.renderMetricOptions();
    this.chart.setPoints(seriesId, history.series[this.metric] || []);
    this.chart.draw();
    member.sub = this.live.subscribe(id, history.last_id || 0, {
      onPoints: (points) => {
        for (const [, key, step, value, wall] of points) {
          if (key === this.metric) this.chart.append(seriesId, step, value, wall);
          else if (!this.keys.has(key)) {
            this.keys.add(key);
            this.renderMetricOptions();
          }
        }
        this.scheduleTable();
      },
    });
    this.renderTable();
  }

  drop(id) {
    const member = this.members.get(id);
    if (!member) return;
    member.sub?.close();
    this.members.delete(id);
    this.chart?.removeSeries(String(id));
  }

  reload() {
    const ids = this.ids;
    for (const id of ids) this.drop(id);
    this.chart.setLog(this.metric === "lr");
    this.chart.describe();
    this.open(ids);
  }

  width() {
    return Math.max(200, Math.round(this.block.clientWidth || 800));
  }

  renderMetricOptions() {
    const keys = [...this.keys].sort((a, b) => {
      const ia = DEFAULT_METRICS.indexOf(a);
      const ib = DEFAULT_METRICS.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    const current = this.metricSelect.value || this.metric;
    this.metricSelect.replaceChildren(
      ...keys.map((key) => {
        const option = new Option(metricLabel(key), key);
        option.selected = key === current;
        return option;
      }),
    );
    this.metricSelect.value = this.metric;
  }

  onRun(run) {
    if (!this.members.has(run.id)) return;
    this.chart?.setLabel(String(run.id), `${run.name} (#${run.id})`);
    if (run.started_at) this.chart?.setT0(String(run.id), run.started_at);
    this.scheduleTable();
  }

  scheduleTable() {
    if (this.tableTimer !== null) return;
    this.tableTimer = setTimeout(() => {
      this.tableTimer = null;
      this.renderTable();
    }, 500);
  }

  /** Summary of the displayed metric for a run: last value and best (min, or max for accuracy). */
  summary(id) {
    const series = this.chart?.series.get(String(id));
    const points = series ? series.points.filter((p) => p.y !== null && Number.isFinite(p.y)) : [];
    if (!points.length) return { last: null, best: null };
    const higher = modeFor(this.metric) === "max";
    let best = points[0].y;
    for (const p of points) best = higher ? Math.max(best, p.y) : Math.min(best, p.y);
    return { last: points[points.length - 1].y, best };
  }

  renderTable() {
    if (this.section.hidden) return;
    const runs = this.ids.map((id) => this.runs.get(id)).filter(Boolean);
    const summaries = new Map(runs.map((r) => [r.id, this.summary(r.id)]));
    this.tableView.render(runs, summaries, metricLabel(this.metric));
  }

  refreshLanguage() {
    if (!this.chart) return;
    this.chart.refreshLanguage();
    this.renderMetricOptions();
    this.renderTable();
  }

  refreshTheme() {
    this.chart?.refreshTheme();
  }
}
