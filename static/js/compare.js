// Compare: the ticked runs' curves of one metric overlaid (20 colours, then the same colours
// dashed), a runs table of every run (cmptable.js) and parallel coordinates of the hparams
// against the metric (parallel.js). A key can stand in for the metric in runs that never
// logged it under that name (a script's `train/loss` beside a built-in run's `train_loss`).
import * as api from "./api.js";
import { MetricChart } from "./charts.js";
import { CompareTable } from "./cmptable.js";
import { metricLabel } from "./format.js";
import { t } from "./i18n.js";
import { ParallelChart } from "./parallel.js";
import { modeFor } from "./runs.js";
import { ChartToolbar } from "./toolbar.js";
import { isTrial } from "./trials.js";

// Okabe-Ito's and Paul Tol's colours, made to stay apart with colour-vision deficiencies.
export const RUN_COLORS = [
  "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9",
  "#d55e00", "#332288", "#999933", "#882255", "#44aa99",
  "#ddaa33", "#aa4499", "#117733", "#ee3377", "#6699cc",
  "#997700", "#cc6677", "#004488", "#994455", "#8c8c8c",
];
// After every colour once, the same colours again with these dashes.
export const RUN_DASHES = [null, [7, 3], [2, 3], [9, 3, 2, 3]];

/** The n-th run style: {color, dash}. */
export function runStyle(n) {
  const round = Math.floor(n / RUN_COLORS.length) % RUN_DASHES.length;
  return { color: RUN_COLORS[n % RUN_COLORS.length], dash: RUN_DASHES[round] };
}

const DEFAULT_METRICS = ["train_loss", "val_loss", "val_accuracy", "lr"];
const ALIAS_KEY = "lernkurve.compare.aliases";
const SUMMARY_REFRESH_MS = 1000;

/** A key's name without case and separators: `train/loss` and `Train_Loss` read the same. */
const plain = (key) => key.toLowerCase().replace(/[\s/_.:-]+/g, "");

function loadAliases() {
  try {
    return new Map(Object.entries(JSON.parse(localStorage.getItem(ALIAS_KEY) || "{}")));
  } catch {
    return new Map();
  }
}

export class CompareView {
  constructor({ live, runs, onError }) {
    this.live = live;
    this.runs = runs;
    this.onError = onError;
    this.section = document.getElementById("view-compare");
    this.block = document.getElementById("cmp-chart-block");
    this.metricSelect = document.getElementById("cmp-metric");
    this.aliasSelect = document.getElementById("cmp-alias");
    this.aliasBox = document.getElementById("cmp-aliases");
    this.hint = document.getElementById("cmp-hint");
    this.tableView = new CompareTable({
      styleOf: (id) => this.styleOf(id),
      isCompared: (id) => this.ids.includes(id),
      onToggle: (id, on) => this.runs.setCompare(on ? [...this.ids, id] : this.ids.filter((x) => x !== id), true),
      onRender: (shown) => this.renderParallel(shown),
    });
    this.parallel = new ParallelChart(document.getElementById("cmp-parallel"), document.getElementById("cmp-parallel-note"));
    this.ids = [];
    this.members = new Map(); // run id -> {sub, keys, key}
    this.styles = new Map(); // run id -> index of its style (runStyle)
    this.keys = new Set(DEFAULT_METRICS);
    this.aliases = loadAliases(); // key -> the metric it stands for
    this.metric = "train_loss";
    this.summaries = new Map(); // run id -> {best, last, ...} of the metric (or an alias)
    this.changes = {}; // run id -> {key: [{step, value}]} of hparams changed during the run
    this.hparamsSeen = new Map(); // run id -> its hparams as last seen (a change: fetch changes)
    this.chart = null;
    this.tableTimer = null;
    this.summaryTimer = null;
    this.changesTimer = null;
    this.asked = 0;
    this.prefetched = false; // the summaries came with the runs list (a page load of the view)
    this.early = null; // {ids, metric, answer}: histories asked for at the page load
    this.parallelFrame = 0;
    this.toolbar = new ChartToolbar("cmp-", () => (this.chart ? [this.chart] : []));
    this.metricSelect.addEventListener("change", () => {
      this.metric = this.metricSelect.value;
      this.reload();
    });
    this.aliasSelect.addEventListener("change", () => {
      const key = this.aliasSelect.value;
      if (!key) return;
      this.aliases.set(key, this.metric);
      this.saveAliases();
      this.reload();
    });
  }

  /** Show the comparison of these run ids (adds and drops runs as needed). */
  open(ids) {
    const opening = this.section.hidden;
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
    const added = ids.filter((id) => !this.members.has(id));
    for (const id of added) this.add(id);
    if (added.length) this.fetchHistories(added);
    this.hint.hidden = ids.length > 0;
    this.renderMetricOptions();
    this.renderTable();
    if (opening) {
      if (!this.prefetched || this.mappedKeys().length) this.loadSummaries();
      this.loadChanges();
    }
    this.prefetched = false;
  }

  /** The runs list's query at a page load of the comparison: the summaries come with it. */
  summaryQuery() {
    return { metric: this.metric, mode: modeFor(this.metric) };
  }

  /** Take the summaries of a runs list asked for with ``summaryQuery`` (no second request). */
  takeSummaries(runs) {
    this.summaries = new Map(runs.filter((run) => run.summary).map((run) => [run.id, run.summary]));
    this.prefetched = true;
  }

  /** The keys mapped to the metric (they stand in for it in runs that lack it). */
  mappedKeys() {
    return [...this.aliases].filter(([, target]) => target === this.metric).map(([key]) => key);
  }

  close() {
    for (const id of [...this.members.keys()]) this.drop(id);
    this.chart?.destroy();
    this.chart = null;
    this.ids = [];
    this.section.hidden = true;
  }

  /** The run's line style, {color, dash}: the first one no other compared run has. */
  styleOf(id) {
    if (!this.styles.has(id)) {
      const used = new Set([...this.styles.entries()].filter(([k]) => this.ids.includes(k) && k !== id).map(([, n]) => n));
      let n = 0;
      while (used.has(n)) n += 1;
      this.styles.set(id, n);
    }
    return runStyle(this.styles.get(id));
  }

  colorOf(id) {
    return this.styleOf(id).color;
  }

  label(run, id, key) {
    const name = run ? `${run.name} (#${id})` : `#${id}`;
    return key === this.metric ? name : `${name} · ${key}`;
  }

  /** A compared run's line, empty until its history arrives (fetchHistories). */
  add(id) {
    const member = { sub: null, keys: new Set(), key: this.metric };
    this.members.set(id, member);
    const run = this.runs.get(id);
    const style = this.styleOf(id);
    this.chart.addSeries(String(id), { label: this.label(run, id, this.metric), color: style.color, dash: style.dash, t0: run?.started_at ?? null });
  }

  /** The histories of these just added runs, in one request, then their live points. */
  async fetchHistories(ids) {
    const members = new Map(ids.map((id) => [id, this.members.get(id)]));
    const current = () => [...members].filter(([id, member]) => this.members.get(id) === member);
    const early = this.early;
    this.early = null;
    const same = early && early.ids.join() === ids.join() && early.metric === this.metric;
    let found;
    try {
      found = await (same ? early.answer : this.askHistories(ids));
    } catch (error) {
      if (current().length) this.onError(error.message);
      return;
    }
    if (!this.chart) return;
    for (const [id, member] of current()) if (found[id]) this.fill(id, member, found[id]);
    this.renderMetricOptions();
    this.chart.draw();
    this.renderTable(); // once, with every history in
  }

  askHistories(ids) {
    return api.compareMetrics(ids, [this.metric, ...this.mappedKeys()], this.width());
  }

  /** At a page load of a comparison: ask for its histories while the runs list loads. */
  prefetchHistories(ids) {
    const answer = this.askHistories(ids);
    answer.catch(() => {}); // fetchHistories reports it, if it still wants the answer
    this.early = { ids, metric: this.metric, answer };
  }

  fill(id, member, history) {
    const seriesId = String(id);
    member.keys = new Set(history.keys);
    for (const key of member.keys) this.keys.add(key);
    member.key = history.key;
    this.chart.setLabel(seriesId, this.label(this.runs.get(id), id, member.key));
    this.chart.setPoints(seriesId, history.points);
    member.sub = this.live.subscribe(id, history.last_id || 0, {
      onPoints: (points) => {
        for (const [, key, step, value, wall] of points) {
          if (key === member.key) this.chart.append(seriesId, step, value, wall);
          else if (!member.keys.has(key)) {
            member.keys.add(key);
            if (!this.keys.has(key)) {
              this.keys.add(key);
              this.renderMetricOptions();
            }
          }
        }
        this.scheduleSummaries();
      },
    });
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
    this.loadSummaries();
  }

  width() {
    return Math.max(200, Math.round(this.block.clientWidth || window.innerWidth)); // hidden: 0
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
    this.renderAliases(keys);
  }

  /** The keys that may stand in for the metric (those named like it first) and those that do. */
  renderAliases(keys) {
    const mapped = this.mappedKeys();
    const like = (key) => (plain(key) === plain(this.metric) ? 0 : 1);
    const free = keys.filter((k) => k !== this.metric && !mapped.includes(k)).sort((a, b) => like(a) - like(b));
    this.aliasSelect.replaceChildren(new Option(t("cmp.aliasNone"), ""), ...free.map((key) => new Option(key, key)));
    this.aliasSelect.value = "";
    this.aliasBox.replaceChildren(
      ...mapped.map((key) => {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "btn btn-outline-secondary btn-sm py-0 cmp-alias-chip";
        chip.dataset.alias = key;
        chip.title = t("cmp.aliasRemove", { key, metric: this.metric });
        chip.textContent = `${key} → ${this.metric} `;
        const icon = document.createElement("i");
        icon.className = "bi bi-x";
        icon.setAttribute("aria-hidden", "true");
        chip.append(icon);
        chip.addEventListener("click", () => {
          this.aliases.delete(key);
          this.saveAliases();
          this.reload();
        });
        return chip;
      }),
    );
  }

  saveAliases() {
    try {
      localStorage.setItem(ALIAS_KEY, JSON.stringify(Object.fromEntries(this.aliases)));
    } catch {
      // storage disabled: the mapping lasts for this page
    }
  }

  /** Each run's best and last of the metric, or of a key mapped to it where it lacks the metric. */
  async loadSummaries() {
    const asked = ++this.asked;
    const metric = this.metric;
    const keys = [metric, ...this.mappedKeys()];
    let answers;
    try {
      answers = await Promise.all(keys.map((key) => api.runs({ metric: key, mode: modeFor(metric) })));
    } catch {
      return; // the table keeps what it had; the next refresh tries again
    }
    if (asked !== this.asked || this.section.hidden) return;
    const summaries = new Map();
    for (const runs of answers) for (const run of runs) if (run.summary && !summaries.has(run.id)) summaries.set(run.id, run.summary);
    this.summaries = summaries;
    this.renderTable();
  }

  scheduleSummaries(delay = SUMMARY_REFRESH_MS) {
    if (this.summaryTimer !== null) return;
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = null;
      if (!this.section.hidden) this.loadSummaries();
    }, delay);
  }

  async loadChanges() {
    try {
      this.changes = await api.hparamChanges();
    } catch {
      return;
    }
    this.renderTable();
  }

  onRun(run) {
    if (this.section.hidden) return;
    const hparams = JSON.stringify(run.hparams || {});
    if (this.hparamsSeen.has(run.id) && this.hparamsSeen.get(run.id) !== hparams && this.changesTimer === null) {
      this.changesTimer = setTimeout(() => {
        this.changesTimer = null;
        this.loadChanges();
      }, 500);
    }
    this.hparamsSeen.set(run.id, hparams);
    if (this.members.has(run.id)) {
      this.chart?.setLabel(String(run.id), this.label(run, run.id, this.members.get(run.id).key));
      if (run.started_at) this.chart?.setT0(String(run.id), run.started_at);
    }
    if (!this.summaries.has(run.id)) this.scheduleSummaries(3000);
    this.scheduleTable();
  }

  scheduleTable() {
    if (this.tableTimer !== null) return;
    this.tableTimer = setTimeout(() => {
      this.tableTimer = null;
      this.renderTable();
    }, 500);
  }

  renderTable() {
    if (this.section.hidden) return;
    const runs = this.runs
      .all()
      .filter((r) => !isTrial(r))
      .sort((a, b) => b.id - a.id);
    for (const run of runs) if (!this.hparamsSeen.has(run.id)) this.hparamsSeen.set(run.id, JSON.stringify(run.hparams || {}));
    this.tableView.render({ runs, summaries: this.summaries, metric: metricLabel(this.metric), changes: this.changes });
  }

  /** Draw the parallel coordinates after the table is painted: the table comes first. */
  renderParallel({ runs, hparams }) {
    cancelAnimationFrame(this.parallelFrame);
    this.parallelFrame = requestAnimationFrame(() =>
      setTimeout(() =>
        this.parallel.render({
          runs,
          hparams,
          best: (run) => this.summaries.get(run.id)?.best ?? null,
          metric: metricLabel(this.metric),
          isCompared: (id) => this.ids.includes(id),
        }),
      ),
    );
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
