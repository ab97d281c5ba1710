// Chart panels by metric key, like TensorBoard's sections. The rule (first that applies):
//   1. `train/loss`: the part before the first "/" ("train"; "lr/group1" goes to "lr";
//      `sys/rss_mb` and other `sys/*_mb` go to "sys MB", apart from the percentages).
//   2. `lr`, `lr_*`, `*learning_rate*`: "lr".
//   3. a key naming a loss or an accuracy (`train_loss`, `val_accuracy`): "loss", "accuracy".
//   4. `grad_norm`: the part before the first "_" ("grad"), once two or more such keys share it.
//   5. anything else: "other".
// A run only shows the panels its keys fill, in the order loss, accuracy, named sections
// (alphabetical), lr, other.
import { MetricChart } from "./charts.js";
import { metricLabel } from "./format.js";
import { apply as applyLanguage, t } from "./i18n.js";

const KNOWN = ["loss", "accuracy", "lr", "other"];
// Per-layer series (`grad/norm/fc1.weight`: two slashes) past the first few of a panel start
// hidden, so a model with a hundred layers stays readable; their legend chips show them.
const MAX_SHOWN_LAYERS = 8;
const isPerLayer = (key) => key.split("/").length > 2;
// Panels whose series span orders of magnitude start on a log axis (update/weight ratios).
const LOG_PANELS = ["lr", "update"];
const ALIASES = { acc: "accuracy", learning_rate: "lr" };
const KEY_COLORS = { train_loss: "#1c7ed6", val_loss: "#f76707", val_accuracy: "#2f9e44", lr: "#ae3ec9" };
const PALETTE = ["#0ca678", "#e64980", "#fab005", "#7048e8", "#15aabf", "#868e96", "#d9480f"];

function sectionOf(key) {
  const slash = key.indexOf("/");
  if (slash <= 0) return null;
  const head = key.slice(0, slash);
  // System metrics in MB (hundreds to thousands) would flatten the percentages beside them.
  if (head === "sys" && /_mb$/i.test(key)) return "sys MB";
  return ALIASES[head] ?? head;
}

function kindOf(key) {
  const k = key.toLowerCase();
  if (k === "lr" || k.startsWith("lr_") || k.includes("learning_rate")) return "lr";
  if (k.includes("loss")) return "loss";
  if (k.includes("acc")) return "accuracy";
  return null;
}

/** The part before the first "_" of a key that rules 1 to 3 leave open, else null. */
function underscorePrefix(key) {
  if (sectionOf(key) !== null || kindOf(key) !== null) return null;
  const cut = key.indexOf("_");
  return cut > 0 ? key.slice(0, cut) : null;
}

/** The panel a metric key goes on, given every key the run has (see the rule above). */
export function panelFor(key, keys = [key]) {
  const section = sectionOf(key);
  if (section !== null) return section;
  const kind = kindOf(key);
  if (kind !== null) return kind;
  const prefix = underscorePrefix(key);
  if (prefix === null) return "other";
  const sharing = [...keys].filter((k) => underscorePrefix(k) === prefix || sectionOf(k) === prefix);
  return new Set([...sharing, key]).size >= 2 ? prefix : "other";
}

/** Sort key of a panel: loss, accuracy, named sections alphabetically, lr, other. */
function panelRank(name) {
  const fixed = { loss: "0", accuracy: "1", lr: "3", other: "4" };
  return `${fixed[name] ?? "2"}${name}`;
}

/** A name that can stand in an element id: the panel's name with odd characters replaced. */
function slugOf(name, taken) {
  const base = name.replace(/[^A-Za-z0-9_-]/g, "-") || "panel";
  let slug = base;
  for (let n = 2; taken.has(slug); n += 1) slug = `${base}-${n}`;
  return slug;
}

/**
 * The run's chart panels, made from a <template> as keys arrive and removed when emptied.
 * options: smoothing(), xMode(), t0(), events() -> the run's events, planned() -> a recipe's
 * changes to come (optional), fileName(slug),
 * onRange(chart, min, max), onReset().
 */
export class ChartPanels {
  constructor(stack, template, emptyNote, options) {
    this.stack = stack;
    this.template = template;
    this.emptyNote = emptyNote;
    this.options = options;
    this.panels = new Map(); // name -> {name, slug, block, chart}
    this.keys = new Set();
    this.placed = new Map(); // key -> panel name
    this.seriesCount = 0;
    this.emptyNote.hidden = false;
  }

  charts() {
    return [...this.panels.values()].map((p) => p.chart);
  }

  names() {
    return [...this.panels.keys()];
  }

  /** Make every key known before history arrives, so no panel is built and then regrouped. */
  know(keys) {
    for (const key of keys) this.keys.add(key);
  }

  /** The chart for a key: its panel and series are made on first sight. */
  chartFor(key) {
    const placed = this.placed.get(key);
    if (placed !== undefined) return this.panels.get(placed).chart;
    this.keys.add(key);
    this.regroup();
    return this.place(key);
  }

  /** The chart a key is on, or null while the run has no such key. */
  existingChart(key) {
    const placed = this.placed.get(key);
    return placed === undefined ? null : this.panels.get(placed).chart;
  }

  place(key, color = this.colorFor(key)) {
    const name = panelFor(key, this.keys);
    const chart = this.panel(name).chart;
    chart.addSeries(key, { label: metricLabel(key), color, t0: this.options.t0() });
    const layers = [...chart.series.keys()].filter(isPerLayer).length;
    if (isPerLayer(key) && layers > MAX_SHOWN_LAYERS) chart.toggleSeries(key);
    this.placed.set(key, name);
    return chart;
  }

  colorFor(key) {
    if (KEY_COLORS[key]) return KEY_COLORS[key];
    this.seriesCount += 1;
    return PALETTE[(this.seriesCount - 1) % PALETTE.length];
  }

  // A new key may give an "other" key company (grad_norm, then grad_max): both move to "grad".
  regroup() {
    const other = this.panels.get("other");
    if (!other) return;
    for (const key of [...other.chart.series.keys()]) {
      if (panelFor(key, this.keys) !== "other") this.moveSeries(other.chart, key);
    }
    if (!other.chart.series.size) this.removePanel("other");
  }

  moveSeries(from, key) {
    const series = from.removeSeries(key);
    const target = this.place(key, series.color);
    target.adoptSeries(key, series);
  }

  panel(name) {
    return this.panels.get(name) ?? this.createPanel(name);
  }

  createPanel(name) {
    const slug = slugOf(name, new Set([...this.panels.values()].map((p) => p.slug)));
    const block = this.template.content.firstElementChild.cloneNode(true);
    block.id = `chart-block-${slug}`;
    block.dataset.chart = name;
    const title = block.querySelector("[data-title]");
    if (KNOWN.includes(name)) title.dataset.i18n = `chart.${name}`;
    else title.textContent = name;
    block.querySelector("[data-log]").id = `log-${slug}`;
    block.querySelector("[data-log-label]").htmlFor = `log-${slug}`;
    applyLanguage(block);
    this.insertBlock(block, name);
    const chart = this.makeChart(block, name, slug);
    const panel = { name, slug, block, chart };
    this.panels.set(name, panel);
    this.emptyNote.hidden = true;
    return panel;
  }

  insertBlock(block, name) {
    const rank = panelRank(name);
    const next = [...this.panels.values()]
      .filter((p) => panelRank(p.name) > rank)
      .sort((a, b) => (panelRank(a.name) < panelRank(b.name) ? -1 : 1))[0];
    this.stack.insertBefore(block, next ? next.block : this.emptyNote);
  }

  makeChart(block, name, slug) {
    const chart = new MetricChart(block, {
      title: () => (KNOWN.includes(name) ? t(`chart.${name}`) : name),
      smoothing: this.options.smoothing(),
      smoothable: name !== "lr",
      fileName: () => this.options.fileName(slug),
      onRange: (min, max) => this.options.onRange(chart, min, max),
      onReset: () => this.options.onReset(),
    });
    chart.setXMode(this.options.xMode());
    chart.setLog(LOG_PANELS.includes(name));
    chart.setEvents(this.options.events());
    if (this.options.planned) chart.setPlanned(this.options.planned());
    this.followZoom(chart);
    return chart;
  }

  // A panel that appears while the others are zoomed shows the same range.
  followZoom(chart) {
    const zoomed = this.charts().find((c) => c.chart.isZoomedOrPanned());
    if (!zoomed) return;
    const { min, max } = zoomed.chart.scales.x;
    chart.zoomTo(min, max);
  }

  removePanel(name) {
    const panel = this.panels.get(name);
    panel.chart.destroy();
    panel.block.remove();
    this.panels.delete(name);
    this.emptyNote.hidden = this.panels.size > 0;
  }

  refreshLanguage() {
    for (const chart of this.charts()) {
      for (const id of chart.series.keys()) chart.setLabel(id, metricLabel(id));
      chart.refreshLanguage();
    }
  }

  destroy() {
    for (const name of this.names()) this.removePanel(name);
    this.keys.clear();
    this.placed.clear();
    this.seriesCount = 0;
    this.emptyNote.hidden = false;
  }
}
