// Chart panels by metric key. One panel holds one quantity, across the prefixes it is logged
// under, as W&B and TensorBoard's overlay do: `train/loss` with `val/loss`, `train_acc` with
// `val_acc`. The rule (first that applies):
//   0. what Lernkurve logs itself, under `grad/`, `update/` and `sys/`: rule 5 (their layer
//      names, `grad/norm/loss_head.weight`, are no metric's name).
//   1. `lr`, `lr/group1`, `lr_*`, `*/lr`, `*learning_rate*`: "lr".
//   2. a key naming a loss (`loss`, `val/loss`, `train_loss_cls`): "loss".
//   3. a key naming an accuracy (`train/acc`, `val_accuracy`, `acc/top5`): "accuracy".
//   4. a phase and a metric (`train/f1`, `val_f1`, `eval/bleu`): the metric ("f1", "bleu").
//   5. `grad/total_norm`: the part before the first "/" ("grad"; `sys/rss_mb` and other
//      `sys/*_mb` go to "sys MB", apart from the percentages).
//   6. `grad_norm`: the part before the first "_" ("grad"), once two or more such keys share it.
//   7. anything else: "other".
// The page shows what a person looks for first, first: loss; the other metrics (accuracy first,
// then by name); lr and the optimizer; gradient health (grad, update); system; other. Panels
// can be pinned (to the top), moved and collapsed; that layout is kept in the database
// (GET/PUT /api/layout), so every window on the same database shows the same.
//
// Thousands of keys: a panel makes its Chart.js chart only while it is in or near view (past
// EAGER_PANELS panels; fewer are all drawn at once), shows its first SERIES_LIMIT series until
// "show all" is pressed, and the key filter hides the panels and series whose keys do not hold
// the typed text. Placing a key costs the same with ten keys as with ten thousand.
import { MetricChart } from "./charts.js";
import { integer, metricLabel } from "./format.js";
import { apply as applyLanguage, t } from "./i18n.js";
import { PanelLayout, addControls, renderControls } from "./layout.js";

const KNOWN = ["loss", "accuracy", "lr", "other"];
// Up to this many panels every chart is drawn; past it only those in or near view.
const EAGER_PANELS = 12;
// A panel lists and draws its first series up to this many; "show all" shows the rest.
const SERIES_LIMIT = 20;
// How far outside the view a panel's chart is made (and kept): one view's height each way.
const NEAR = "100% 0px";
const FILTER_DELAY_MS = 120;
// Per-layer series (`grad/norm/fc1.weight`: two slashes) past the first few of a panel start
// hidden, so a model with a hundred layers stays readable; their legend chips show them.
const MAX_SHOWN_LAYERS = 8;
const isPerLayer = (key) => key.split("/").length > 2;
// Panels whose series span orders of magnitude start on a log axis (update/weight ratios).
const LOG_PANELS = ["lr", "update"];
const ALIASES = { acc: "accuracy", learning_rate: "lr" };
// What comes before a metric's name when a run logs it for training and for validation.
const PHASES = new Set(["train", "training", "val", "valid", "validation", "eval", "evaluation", "test", "dev"]);
const OWN_SECTIONS = new Set(["grad", "update", "sys"]);
const KEY_COLORS = { train_loss: "#1c7ed6", val_loss: "#f76707", val_accuracy: "#2f9e44", lr: "#ae3ec9" };
// Training blue and validation orange in every panel, so loss and accuracy read alike.
const PHASE_COLORS = { train: "#1c7ed6", training: "#1c7ed6", val: "#f76707", valid: "#f76707", validation: "#f76707", eval: "#f76707" };
const PALETTE = ["#0ca678", "#e64980", "#fab005", "#7048e8", "#15aabf", "#868e96", "#d9480f"];

function phaseOf(key) {
  const match = /^([A-Za-z]+)[/_](.+)$/.exec(key);
  return match && PHASES.has(match[1].toLowerCase()) ? { phase: match[1].toLowerCase(), metric: match[2] } : null;
}

function sectionOf(key) {
  const slash = key.indexOf("/");
  if (slash <= 0) return null;
  const head = key.slice(0, slash);
  // System metrics in MB (hundreds to thousands) would flatten the percentages beside them.
  if (head === "sys" && /_mb$/i.test(key)) return "sys MB";
  return ALIASES[head] ?? head;
}

/** The panel of rules 1 to 4 (what a key measures), else null. */
function quantityOf(key) {
  const slash = key.indexOf("/");
  if (slash > 0 && OWN_SECTIONS.has(key.slice(0, slash))) return null;
  const k = key.toLowerCase();
  if (k.includes("learning_rate") || k.split("/").some((part) => part === "lr" || part.startsWith("lr_"))) return "lr";
  if (k.includes("loss")) return "loss";
  if (/(^|[^a-z])acc(uracy)?([^a-z]|$)/.test(k)) return "accuracy";
  const phase = phaseOf(key);
  if (phase === null) return null;
  return ALIASES[phase.metric] ?? phase.metric;
}

/** The part before the first "_" of a key that rules 1 to 5 leave open, else null. */
function underscorePrefix(key) {
  if (quantityOf(key) !== null || sectionOf(key) !== null) return null;
  const cut = key.indexOf("_");
  return cut > 0 ? key.slice(0, cut) : null;
}

/**
 * A run's keys with, for each prefix, how many keys share it (an underscore prefix, or a
 * section named the same): rule 6 asks this for every key, so it is counted, not searched.
 */
class KeyIndex {
  constructor(keys = []) {
    this.keys = new Set();
    this.sharing = new Map(); // prefix -> number of keys
    for (const key of keys) this.add(key);
  }

  /** Add a key; returns its prefix when the key made that prefix shared by two keys. */
  add(key) {
    if (this.keys.has(key)) return null;
    this.keys.add(key);
    if (quantityOf(key) !== null) return null;
    const prefix = underscorePrefix(key) ?? sectionOf(key);
    if (prefix === null) return null;
    const n = (this.sharing.get(prefix) ?? 0) + 1;
    this.sharing.set(prefix, n);
    return n === 2 ? prefix : null;
  }

  panelOf(key) {
    const fixed = quantityOf(key) ?? sectionOf(key);
    if (fixed !== null) return fixed;
    const prefix = underscorePrefix(key);
    if (prefix === null) return "other";
    const n = (this.sharing.get(prefix) ?? 0) + (this.keys.has(key) ? 0 : 1);
    return n >= 2 ? prefix : "other";
  }
}

/** The panel a metric key goes on, given every key the run has (see the rule above). */
export function panelFor(key, keys = [key]) {
  return new KeyIndex(keys).panelOf(key);
}

/** Which part of the page a panel belongs to, in page order (see the top of this file). */
function groupOf(name) {
  if (name === "loss") return 0;
  if (name === "lr" || /^(optim|optimizer|momentum|weight_decay|wd)$/i.test(name)) return 2;
  if (/^(grad|update)/i.test(name)) return 3;
  if (/^(sys|system)( MB)?$/.test(name)) return 4;
  if (name === "other") return 5;
  return 1;
}

/** Sort key of a panel without a layout: by group, accuracy first among the metrics, by name. */
export function defaultRank(name) {
  return `${groupOf(name)}${name === "accuracy" ? "0" : "1"}${name}`;
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
 * changes to come (optional), fileName(slug), onRange(chart, min, max), onReset(),
 * filter: {box, count, none} (the key filter's text box, its "n of m keys" and its
 * "nothing matches" elements; optional), controls (the <template> of a panel's pin, move and
 * collapse buttons; optional), saveLayout(layout) (called after each change of them).
 */
export class ChartPanels {
  constructor(stack, template, emptyNote, options) {
    this.stack = stack;
    this.template = template;
    this.emptyNote = emptyNote;
    this.options = options;
    this.panels = new Map(); // name -> {name, slug, rank, block, chart, colors}
    this.ordered = []; // the panels in page order
    this.slugs = new Set();
    this.index = new KeyIndex();
    this.placed = new Map(); // key -> panel name
    this.seriesCount = 0;
    this.emptyNote.hidden = false;
    this.match = null; // the key filter: lower-cased key -> bool, or null
    this.byBlock = new WeakMap(); // block -> panel
    this.layout = new PanelLayout();
    this.xRange = null; // {min, max} of x over every key: all charts show it
    this.observer = new IntersectionObserver((entries) => this.onSight(entries), {
      root: stack.closest(".app-main"),
      rootMargin: NEAR,
    });
    this.setUpFilter(options.filter);
    stack.addEventListener("click", (event) => this.onControl(event));
  }

  /** Every key the run has (known or placed). */
  get keys() {
    return this.index.keys;
  }

  charts() {
    return this.ordered.map((p) => p.chart);
  }

  names() {
    return this.ordered.map((p) => p.name);
  }

  /** Make every key known before history arrives, so no panel is built and then regrouped. */
  know(keys) {
    for (const key of keys) this.index.add(key);
  }

  /** A run's history, {key: rows}: every panel made, the ones in view drawn. */
  load(series) {
    const keys = Object.keys(series);
    this.know(keys);
    this.loading = true; // charts wait for showNear, the count for the end
    this.width = this.stack.clientWidth; // read once: each read lays out the panels so far
    try {
      for (const key of keys) this.chartFor(key).setPoints(key, series[key]);
    } finally {
      this.loading = false;
    }
    this.fitX();
    this.showNear();
    this.countKeys();
  }

  /** A live point: onto its key's chart (made on first sight), widening the shared x range. */
  append(key, step, value, wall) {
    this.widenX(this.chartFor(key).append(key, step, value, wall));
  }

  /** The chart for a key: its panel and series are made on first sight. */
  chartFor(key) {
    const placed = this.placed.get(key);
    if (placed !== undefined) return this.panels.get(placed).chart;
    this.regroup(this.index.add(key));
    const chart = this.place(key);
    if (!this.loading) this.countKeys();
    return chart;
  }

  /** The chart a key is on, or null while the run has no such key. */
  existingChart(key) {
    const placed = this.placed.get(key);
    return placed === undefined ? null : this.panels.get(placed).chart;
  }

  place(key, color = null) {
    const panel = this.panel(this.index.panelOf(key));
    const chart = panel.chart;
    color ??= this.colorFor(key, panel);
    chart.addSeries(key, { label: metricLabel(key), color, t0: this.options.t0() });
    if (isPerLayer(key)) {
      panel.layers += 1;
      if (panel.layers > MAX_SHOWN_LAYERS) chart.toggleSeries(key);
    }
    if (this.match === null || this.match(key.toLowerCase())) panel.block.hidden = false;
    this.placed.set(key, panel.name);
    return chart;
  }

  colorFor(key, panel) {
    const phase = PHASE_COLORS[phaseOf(key)?.phase];
    const color = KEY_COLORS[key] ?? (phase && !panel.colors.has(phase) ? phase : null);
    if (color) {
      panel.colors.add(color);
      return color;
    }
    this.seriesCount += 1;
    return PALETTE[(this.seriesCount - 1) % PALETTE.length];
  }

  // A new key may give an "other" key company (grad_norm, then grad_max): both move to "grad".
  regroup(shared) {
    const other = this.panels.get("other");
    if (!other || shared === null) return;
    for (const key of [...other.chart.series.keys()]) {
      if (this.index.panelOf(key) !== "other") this.moveSeries(other, key);
    }
    if (!other.chart.series.size) this.removePanel("other");
  }

  moveSeries(from, key) {
    const series = from.chart.removeSeries(key);
    if (isPerLayer(key)) from.layers -= 1;
    const target = this.place(key, series.color);
    target.adoptSeries(key, series);
  }

  panel(name) {
    return this.panels.get(name) ?? this.createPanel(name);
  }

  createPanel(name) {
    const slug = slugOf(name, this.slugs);
    const block = this.template.content.firstElementChild.cloneNode(true);
    block.id = `chart-block-${slug}`;
    block.dataset.chart = name;
    block.hidden = this.match !== null; // until a key of it passes the filter
    const title = block.querySelector("[data-title]");
    if (KNOWN.includes(name)) title.dataset.i18n = `chart.${name}`;
    else title.textContent = name;
    block.querySelector("[data-log]").id = `log-${slug}`;
    block.querySelector("[data-log-label]").htmlFor = `log-${slug}`;
    if (this.options.controls) addControls(block, this.options.controls);
    applyLanguage(block);
    const panel = { name, slug, rank: this.rankOf(name), block, chart: null, layers: 0, colors: new Set() };
    const state = this.stateOf(name);
    // The template's buttons say "not pinned, expanded": a thousand panels skip the work.
    if (this.options.controls && (state.pinned || state.collapsed)) renderControls(block, state);
    this.insertBlock(panel);
    panel.chart = this.makeChart(block, name, slug);
    this.panels.set(name, panel);
    this.slugs.add(slug);
    this.byBlock.set(block, panel);
    this.emptyNote.hidden = true;
    if (this.panels.size === EAGER_PANELS + 1) this.watchAll(); // from now on: only near view
    else if (this.panels.size > EAGER_PANELS) this.observer.observe(block);
    else if (!this.loading) this.attach(panel); // a few panels: each drawn as it comes
    return panel;
  }

  /** Draw a panel's chart, unless it is collapsed. */
  attach(panel) {
    if (!this.layout.isCollapsed(panel.name)) panel.chart.attach();
  }

  // In page order by rank: found by halving, so a thousand panels cost no more than ten each.
  insertBlock(panel) {
    let lo = 0;
    let hi = this.ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ordered[mid].rank <= panel.rank) lo = mid + 1;
      else hi = mid;
    }
    const next = this.ordered[lo];
    this.stack.insertBefore(panel.block, next ? next.block : this.emptyNote);
    this.ordered.splice(lo, 0, panel);
  }

  makeChart(block, name, slug) {
    const chart = new MetricChart(block, {
      title: () => (KNOWN.includes(name) ? t(`chart.${name}`) : name),
      smoothing: this.options.smoothing(),
      smoothable: name !== "lr",
      fileName: () => this.options.fileName(slug),
      onRange: (min, max) => this.options.onRange(chart, min, max),
      onReset: () => this.options.onReset(),
      onXMode: () => this.refitX(),
      lazy: true,
      limit: SERIES_LIMIT,
      width: this.loading ? this.width : this.stack.clientWidth,
    });
    chart.setXMode(this.options.xMode());
    chart.setLog(LOG_PANELS.includes(name));
    chart.setEvents(this.options.events());
    if (this.options.planned) chart.setPlanned(this.options.planned());
    chart.setFilter(this.match);
    chart.setXRange(this.chartXRange());
    this.followZoom(chart);
    return chart;
  }

  // A panel that appears while the others are zoomed shows the same range (all charts share it).
  followZoom(chart) {
    const range = this.ordered.find((p) => p.chart)?.chart.zoomRange;
    if (range) chart.zoomTo(range.min, range.max);
  }

  // ---- which charts are drawn ---------------------------------------------------------------

  /** Draw the charts in or near view now (so a run opens with its first charts on screen). */
  showNear() {
    if (this.panels.size <= EAGER_PANELS) {
      for (const panel of this.ordered) this.attach(panel);
      return;
    }
    const root = this.observer.root;
    const view = root ? root.getBoundingClientRect() : { top: 0, bottom: innerHeight, height: innerHeight };
    for (const panel of this.ordered) {
      if (panel.block.hidden) continue;
      const box = panel.block.getBoundingClientRect();
      if (box.top > view.bottom + view.height) break;
      if (box.bottom >= view.top - view.height) this.attach(panel);
    }
  }

  // Watched again from the start: the observer reports each block once, and detaches the far.
  watchAll() {
    for (const panel of this.ordered) {
      this.observer.unobserve(panel.block);
      this.observer.observe(panel.block);
    }
  }

  onSight(entries) {
    if (this.panels.size <= EAGER_PANELS) return;
    for (const entry of entries) {
      const panel = this.byBlock.get(entry.target);
      if (!panel || this.panels.get(panel.name) !== panel) continue;
      if (entry.isIntersecting) this.attach(panel);
      else panel.chart.detach();
    }
  }

  // ---- pinned, moved and collapsed panels ---------------------------------------------------

  rankOf(name) {
    return this.layout.rank(name, defaultRank(name));
  }

  stateOf(name) {
    return { pinned: this.layout.isPinned(name), collapsed: this.layout.isCollapsed(name) };
  }

  /** The layout as the server keeps it ({order, pinned, collapsed}): panels move to match. */
  setLayout(layout) {
    this.layout.set(layout);
    this.applyLayout();
  }

  applyLayout() {
    for (const panel of this.ordered) {
      panel.rank = this.rankOf(panel.name);
      if (this.options.controls) renderControls(panel.block, this.stateOf(panel.name));
      if (this.layout.isCollapsed(panel.name)) panel.chart.detach();
    }
    this.ordered.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
    for (const panel of this.ordered) this.stack.insertBefore(panel.block, this.emptyNote);
    this.showNear();
  }

  onControl(event) {
    const button = event.target.closest("[data-panel-pin], [data-panel-move], [data-panel-collapse]");
    const panel = button && this.byBlock.get(button.closest("[data-chart]"));
    if (!panel) return;
    if (button.dataset.panelMove) this.move(panel, button.dataset.panelMove === "up" ? -1 : 1);
    else if (button.hasAttribute("data-panel-pin")) this.layout.togglePin(panel.name);
    else this.layout.toggleCollapsed(panel.name);
    this.applyLayout();
    this.options.saveLayout?.(this.layout.toJSON());
  }

  /** Move a panel past its neighbour on screen (pinned panels stay among themselves). */
  move(panel, by) {
    const pinned = this.layout.isPinned(panel.name);
    const peers = this.ordered.filter((p) => !p.block.hidden && this.layout.isPinned(p.name) === pinned);
    const other = peers[peers.indexOf(panel) + by];
    if (!other) return;
    const page = this.ordered.filter((p) => !this.layout.isPinned(p.name)).map((p) => p.name);
    this.layout.swap(panel.name, other.name, page);
  }

  // ---- one x range for every chart ----------------------------------------------------------

  /** Every chart spans the run's x range: from the first to the last point of any key. */
  fitX() {
    let range = null;
    for (const panel of this.ordered) {
      const own = panel.chart.xExtent();
      if (own) range = range ? { min: Math.min(range.min, own.min), max: Math.max(range.max, own.max) } : own;
    }
    this.setXRange(range);
  }

  widenX(x) {
    const range = this.xRange;
    if (range && x >= range.min && x <= range.max) return;
    this.setXRange(range ? { min: Math.min(range.min, x), max: Math.max(range.max, x) } : { min: x, max: x });
  }

  setXRange(range) {
    this.xRange = range;
    for (const panel of this.ordered) panel.chart.setXRange(this.chartXRange());
  }

  /** The range the charts show: the run's, once it is more than one point wide. */
  chartXRange() {
    const range = this.xRange;
    return range && range.max > range.min ? range : null;
  }

  // Each chart reports its change of x mode (step or time): refit once, after the last.
  refitX() {
    if (this.refitting) return;
    this.refitting = true;
    queueMicrotask(() => {
      this.refitting = false;
      this.fitX();
    });
  }

  // ---- the key filter -----------------------------------------------------------------------

  setUpFilter(filter) {
    this.filter = filter ?? null;
    if (!this.filter) return;
    let timer = null;
    this.filter.box.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.setFilter(this.filter.box.value), FILTER_DELAY_MS);
    });
    const now = () => {
      clearTimeout(timer);
      this.setFilter(this.filter.box.value);
    };
    this.filter.box.addEventListener("keydown", (event) => event.key === "Enter" && now());
    this.filter.box.addEventListener("search", now); // the box's own clear button, Escape
  }

  /** Show only the panels and series whose key holds `text` (any case); "" shows all. */
  setFilter(text) {
    const needle = String(text ?? "").trim().toLowerCase();
    this.needle = needle;
    this.match = needle ? (key) => key.includes(needle) : null;
    for (const panel of this.ordered) {
      const matching = panel.chart.setFilter(this.match);
      panel.block.hidden = matching === 0;
    }
    this.countKeys();
  }

  /** "n of m keys" beside the filter, and a note when the filter leaves nothing. */
  countKeys() {
    if (!this.filter) return;
    const total = this.placed.size;
    let shown = total;
    if (this.match !== null) {
      shown = 0;
      for (const key of this.placed.keys()) if (this.match(key.toLowerCase())) shown += 1;
    }
    this.filter.count.textContent = this.match === null ? "" : t("chart.filterCount", { shown: integer(shown), total: integer(total) });
    this.filter.none.hidden = this.match === null || shown > 0 || total === 0;
    this.filter.none.textContent = t("chart.noMatch", { text: this.needle ?? "" });
  }

  removePanel(name) {
    const panel = this.panels.get(name);
    this.observer.unobserve(panel.block);
    panel.chart.destroy();
    panel.block.remove();
    this.panels.delete(name);
    this.ordered.splice(this.ordered.indexOf(panel), 1);
    this.slugs.delete(panel.slug);
    this.emptyNote.hidden = this.panels.size > 0;
    if (this.panels.size === EAGER_PANELS) for (const p of this.ordered) this.attach(p);
  }

  refreshLanguage() {
    for (const chart of this.charts()) {
      for (const id of chart.series.keys()) chart.setLabel(id, metricLabel(id));
      chart.refreshLanguage();
    }
    this.countKeys();
  }

  destroy() {
    this.observer.disconnect();
    for (const panel of this.ordered) {
      panel.chart.destroy();
      panel.block.remove();
    }
    this.panels.clear();
    this.ordered = [];
    this.slugs.clear();
    this.index = new KeyIndex();
    this.placed.clear();
    this.seriesCount = 0;
    this.xRange = null;
    this.emptyNote.hidden = false;
    this.countKeys();
  }
}
