// Live line charts on Chart.js: downsampled history plus live points (capped and re-downsampled),
// smoothing by step distance, event markers, log scale, step or time on x, zoom and pan, PNG
// export. A log axis spans its data's positive values; x can be given a range (a run's charts
// share one) and its ticks fall on whole numbers.
// A chart may be made off screen (lazy): it keeps its series, events and view settings, and
// makes its Chart.js instance only when attached, so a run with a thousand panels draws the few
// in view. A chart can also show only some of its series: those a filter lets through, and of
// them the first `limit` until "show all" is pressed.
/* global Chart */
import { duration, integer, number } from "./format.js";
import { t } from "./i18n.js";
import { cssVar } from "./theme.js";
import { PLANNED_STYLE, eventLines, eventStyle } from "./events.js";
import { Overlays } from "./overlays.js";
import { Ema, downsample, smooth, stepGap } from "./series.js";

const UPDATE_INTERVAL_MS = 100; // at most 10 redraws a second, however fast points arrive
const MIN_POINTS = 200;
// A series with fewer points than one per this many px of width shows them as dots, so a
// sparse series (val every 50 steps) is seen where it was measured, not only as a line.
const SPARSE_PX = 8;

// Charts are filled with the theme's background, so an exported PNG looks like the page.
const background = {
  id: "lkBackground",
  beforeDraw(chart) {
    const { ctx, width, height } = chart;
    ctx.save();
    ctx.globalCompositeOperation = "destination-over";
    ctx.fillStyle = cssVar("--bs-body-bg") || "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.restore();
  },
};
Chart.register(background);

// Tooltip mode "lkX": every shown series at the hovered x (its point nearest to the pointer),
// as long as the pointer is within that series' x range. Series are sorted by x, and their
// steps differ (val every 10 steps, train every step), so Chart.js's "index" mode cannot pair them.
Chart.Interaction.modes.lkX = (chart, event) => {
  const { x } = Chart.helpers.getRelativePosition(event, chart);
  const area = chart.chartArea;
  if (!area || x < area.left || x > area.right) return [];
  const items = [];
  chart.data.datasets.forEach((dataset, datasetIndex) => {
    if (!chart.isDatasetVisible(datasetIndex)) return;
    const points = chart.getDatasetMeta(datasetIndex).data;
    if (!points.length || x < points[0].x - 8 || x > points[points.length - 1].x + 8) return;
    let lo = 0;
    let hi = points.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid].x < x) lo = mid + 1;
      else hi = mid;
    }
    let index = lo > 0 && x - points[lo - 1].x < points[lo].x - x ? lo - 1 : lo;
    while (index > 0 && points[index].skip) index -= 1; // a gap (NaN): the point before it
    if (!points[index].skip) items.push({ element: points[index], datasetIndex, index });
  });
  return items;
};

const LOG_LABEL_GAP = 18; // px between two y labels of a log axis

/**
 * Labels of a log axis: Chart.js puts a tick at 1..9 of every decade, whose labels overlap.
 * Keep powers of ten first, then 2 and 5, then the rest, each only where it leaves room;
 * the others keep their grid line without a label.
 */
function logTickLabels(scale, ticks) {
  const pixel = (i) => scale.getPixelForValue(ticks[i].value);
  const rank = (value) => {
    const mantissa = Math.round((value / 10 ** Math.floor(Math.log10(value) + 1e-9)) * 1000) / 1000;
    return mantissa === 1 ? 0 : mantissa === 2 || mantissa === 5 ? 1 : 2;
  };
  const chosen = [];
  for (const level of [0, 1, 2]) {
    ticks.forEach((tick, i) => {
      if (!(tick.value > 0) || rank(tick.value) !== level) return;
      if (chosen.every((j) => Math.abs(pixel(i) - pixel(j)) >= LOG_LABEL_GAP)) chosen.push(i);
    });
  }
  return new Set(chosen);
}

function yTickLabel(value, index, ticks) {
  if (this.type !== "logarithmic") {
    // Enough digits that neighbours differ (368.2, 368.4, not 368, 368).
    const step = ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 0;
    const size = Math.max(Math.abs(this.min), Math.abs(this.max));
    const digits = step > 0 && size > 0 ? Math.ceil(Math.log10(size / step)) + 1 : 3;
    return number(value, Math.min(10, Math.max(3, digits)));
  }
  if (index === 0 || !this.lkLabelled) this.lkLabelled = logTickLabels(this, ticks);
  return this.lkLabelled.has(index) ? number(value, 3) : "";
}

// The y axis takes at least this width, so stacked charts' plot areas line up on x.
const Y_AXIS_PX = 64;

function alignedWidth(axis) {
  axis.width = Math.max(axis.width, Y_AXIS_PX);
}

/** v rounded down (or up) to 1, 2 or 5 times a power of ten. */
function niceLog(v, up) {
  const power = 10 ** Math.floor(Math.log10(v));
  const steps = up ? [1, 2, 5, 10] : [5, 2, 1];
  const found = steps.find((m) => (up ? m * power >= v : m * power <= v)) ?? (up ? 10 : 1);
  return up ? Math.max(found * power, v) : Math.min(found * power, v);
}

/**
 * The smallest and largest positive value the visible datasets draw within x's range, or null.
 * A log axis takes its range from these: Chart.js would let a 0 or a negative value (an update
 * ratio of a parameter that did not move) pull its minimum to a tenth of the maximum.
 */
function positiveRange(datasets, xRange) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const dataset of datasets) {
    if (dataset.hidden) continue;
    for (const { x, y } of dataset.data) {
      if (!(y > 0) || y === Infinity) continue;
      if (xRange && (x < xRange.min || x > xRange.max)) continue;
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
  }
  return lo <= hi ? { lo, hi } : null;
}

export function applyChartTheme() {
  Chart.defaults.color = cssVar("--bs-secondary-color");
  Chart.defaults.borderColor = cssVar("--bs-border-color-translucent");
  Chart.defaults.font.family = cssVar("--bs-body-font-family");
}

/**
 * What stands in for Chart.js while a chart is off screen: the same data and options objects
 * (Chart.js is made on them when the chart attaches), a width, and nothing to draw.
 */
class Detached {
  constructor(config, width) {
    this.data = config.data;
    this.options = config.options;
    this.width = width;
  }

  update() {}

  isZoomedOrPanned() {
    return false;
  }
}

function withAlpha(color, alpha) {
  const hex = color.replace("#", "");
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/** A legend chip: a toggle button with the series' swatch (dashed for a dashed line). */
function legendChip(label, color, shown, dashed = false) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "legend-item";
  button.setAttribute("aria-pressed", String(shown));
  button.title = t("chart.toggle", { label });
  const swatch = document.createElement("span");
  swatch.className = "legend-swatch";
  swatch.style.background = color;
  if (dashed) swatch.classList.add("dashed");
  button.append(swatch, document.createTextNode(label));
  return button;
}

export class MetricChart {
  /**
   * block: the chart's <figure> (with [data-canvas], [data-legend], [data-log], [data-png]).
   * options: title() -> text, smoothable, onRange(min, max) after a zoom or pan, fileName,
   * lazy (made off screen: attach() draws it), limit (series shown before "show all"),
   * width (px to downsample for while never attached).
   */
  constructor(block, options = {}) {
    this.block = block;
    this.options = options;
    this.canvas = block.querySelector("[data-canvas]");
    this.legend = block.querySelector("[data-legend]");
    this.logBox = block.querySelector("[data-log]");
    this.series = new Map();
    this.events = new Map();
    this.planned = [];
    this.xMode = "step";
    this.smoothing = options.smoothing ?? 0;
    this.unit = 1; // steps between points of the densest shown series: the smoothing's unit
    this.xRange = null; // {min, max}: x's range when not zoomed (a run's charts share one)
    this.timer = null;
    this.lastDraw = 0;
    this.limit = options.limit ?? Infinity;
    this.expanded = false;
    this.match = null; // the key filter: lower-cased id -> bool, or null for every series
    this.zoomRange = null; // {min, max} of x while zoomed or panned; kept while off screen
    this.shown = []; // the series Chart.js has (see syncDatasets)
    this.eventsDirty = false;
    this.textQueued = false;
    this.cfg = this.config();
    this.chart = new Detached(this.cfg, options.width ?? 0);
    this.overlays = new Overlays(this);
    this.onLog = () => this.setLog(this.logBox.checked);
    this.logBox?.addEventListener("change", this.onLog);
    this.pngButton = block.querySelector("[data-png]");
    this.onPng = () => this.downloadPng();
    this.pngButton?.addEventListener("click", this.onPng);
    this.onDblClick = () => this.options.onReset?.();
    this.canvas.addEventListener("dblclick", this.onDblClick);
    // Keyboard: a focused chart resets the zoom on 0 or Escape (as double-click does).
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("aria-keyshortcuts", "0 Escape");
    this.onKey = (event) => {
      if ((event.key === "0" || event.key === "Escape") && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        if (this.options.onReset) this.options.onReset();
        else this.resetZoom();
      }
    };
    this.canvas.addEventListener("keydown", this.onKey);
    this.describe();
    if (!options.lazy) this.attach();
  }

  get attached() {
    return !(this.chart instanceof Detached);
  }

  /** Make the Chart.js instance (if off screen) and draw what the chart holds. */
  attach() {
    if (this.attached) return;
    this.updateUnit();
    for (const s of this.shown) if (s.dirty) this.refresh(s);
    if (this.eventsDirty) this.renderEvents(true);
    this.fitLogAxis();
    this.chart = new Chart(this.canvas, this.cfg); // draws at once (no animation)
    this.lastDraw = performance.now();
    if (this.zoomRange) this.chart.zoomScale("x", this.zoomRange, "none");
    this.renderText();
  }

  /** Let go of the Chart.js instance (and its canvas memory); the chart keeps everything else. */
  detach() {
    if (!this.attached) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const { width } = this.chart;
    // Chart.js watches each data array it drew: an update without datasets lets go of them.
    const datasets = this.cfg.data.datasets;
    this.cfg.data.datasets = [];
    this.chart.update("none");
    this.chart.destroy();
    this.cfg.data.datasets = datasets;
    // A zoom lives in the scale's options; zoomRange brings it back on attach.
    delete this.cfg.options.scales.x.min;
    delete this.cfg.options.scales.x.max;
    this.applyXRange();
    this.chart = new Detached(this.cfg, width);
  }

  config() {
    const tick = (v) => (this.xMode === "time" ? duration(v) : integer(v));
    return {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        spanGaps: false,
        interaction: { mode: "lkX", intersect: false },
        // Room on the right for a dot at the last step, dots or not: plot areas line up.
        layout: { padding: { right: 6 } },
        elements: { point: { radius: 0, hitRadius: 4, hoverRadius: 3 }, line: { borderWidth: 1.5 } },
        scales: {
          // Whole steps (or seconds) apart, and none at a zoom's edges: labels are round.
          x: { type: "linear", ticks: { callback: tick, maxRotation: 0, precision: 0, includeBounds: false } },
          y: { type: "linear", ticks: { callback: yTickLabel }, afterFit: alignedWidth },
        },
        plugins: {
          legend: { display: false },
          decimation: { enabled: false },
          tooltip: {
            filter: (item) => !item.dataset.hidden,
            callbacks: {
              title: (items) => this.tooltipTitle(items),
              label: (item) => this.tooltipLabel(item),
              footer: (items) => this.tooltipEvents(items),
            },
          },
          annotation: { annotations: {} },
          zoom: {
            limits: { x: { min: "original", max: "original" } },
            pan: {
              enabled: true,
              mode: "x",
              modifierKey: "shift",
              onPanComplete: ({ chart }) => this.rangeChanged(chart),
            },
            zoom: {
              mode: "x",
              drag: { enabled: true, threshold: 5 },
              wheel: { enabled: true, modifierKey: "ctrl" },
              pinch: { enabled: true },
              onZoomComplete: ({ chart }) => this.rangeChanged(chart),
            },
          },
        },
      },
    };
  }

  rangeChanged(chart) {
    if (this.quiet) return; // a reset, not the user: nothing to pass on to other charts
    const { min, max } = chart.scales.x;
    this.zoomRange = chart.isZoomedOrPanned() ? { min, max } : null;
    if (this.cfg.options.scales.y.type === "logarithmic") this.schedule(); // y fits what is in view
    this.options.onRange?.(min, max);
  }

  tooltipTitle(items) {
    if (!items.length) return "";
    const point = items[0].raw;
    const step = point.s ?? point.x;
    const parts = [t("chart.stepTitle", { step: integer(step) })];
    if (this.xMode === "time") parts.push(t("chart.elapsed", { time: duration(point.x) }));
    return parts.join(" · ");
  }

  // A series logged at other steps (val every 10) shows its nearest point: name its step.
  tooltipLabel(item) {
    const text = `${item.dataset.label}: ${number(item.parsed.y)}`;
    const first = this.chart.tooltip.dataPoints?.[0]?.raw;
    const step = item.raw?.s;
    if (first === undefined || step === undefined || step === (first.s ?? first.x)) return text;
    return `${text} (${t("chart.stepTitle", { step: integer(step) })})`;
  }

  // Markers are 1 px wide: the tooltip also names the events near the hovered x.
  tooltipEvents(items) {
    if (!items.length || !this.events.size) return [];
    const scale = this.chart.scales.x;
    const x = items[0].parsed.x;
    const px = scale.getPixelForValue(x);
    const lines = [];
    for (const ev of this.events.values()) {
      if (Math.abs(scale.getPixelForValue(this.eventX(ev)) - px) <= 6) {
        lines.push(...eventLines(ev).map((text) => `▍ ${text}`));
      }
    }
    if (this.xMode !== "step") return lines;
    for (const plan of this.planned) {
      if (Math.abs(scale.getPixelForValue(plan.step) - px) <= 6) lines.push(...plan.lines.map((text) => `┊ ${text}`));
    }
    return lines;
  }

  // ---- series ----------------------------------------------------------------------------

  /** Add a series once: id (e.g. a metric key), label, colour (#rrggbb), t0 (time-axis origin),
   * dash (a canvas dash pattern such as [6, 3]; none: solid). */
  addSeries(id, { label, color, t0 = null, smoothable = this.options.smoothable !== false, dash = null }) {
    if (this.series.has(id)) return this.series.get(id);
    const raw = {
      lkId: id,
      label,
      data: [],
      borderColor: color,
      backgroundColor: color,
      pointHoverBackgroundColor: color,
    };
    const smoothed = {
      lkId: `${id}:smoothed`,
      label: t("chart.smoothed", { label }),
      data: [],
      borderColor: color,
      backgroundColor: color,
      borderWidth: 2,
    };
    if (dash) raw.borderDash = smoothed.borderDash = dash;
    const s = { id, label, color, dash, t0, smoothable, points: [], raw, smoothed, hidden: false, shown: false };
    s.lower = String(id).toLowerCase();
    s.ema = new Ema(this.smoothing, this.unit);
    this.series.set(id, s);
    this.styleSeries(s);
    this.syncDatasets();
    this.renderLegend();
    return s;
  }

  /** Remove a series; returns it (its points, colour, visibility) for adoptSeries elsewhere. */
  removeSeries(id) {
    const s = this.series.get(id);
    if (!s) return null;
    this.series.delete(id);
    this.syncDatasets();
    this.renderLegend();
    return s;
  }

  /** Take over the points and visibility of a series removed from another chart. */
  adoptSeries(id, from) {
    const s = this.series.get(id);
    s.points = this.pointsOf(from);
    s.gap = null;
    s.t0 = from.t0 ?? s.t0;
    s.hidden = from.hidden;
    this.rebuild(s);
    this.renderLegend();
  }

  // ---- which series show -------------------------------------------------------------------

  /** The series drawn and listed: those the filter lets through, the first `limit` of them. */
  shownSeries() {
    const shown = [];
    const limit = this.expanded ? Infinity : this.limit;
    for (const s of this.series.values()) {
      if (shown.length >= limit) break;
      if (this.matches(s)) shown.push(s);
    }
    return shown;
  }

  matches(s) {
    return this.match === null || this.match(s.lower);
  }

  /** How many series the filter lets through. */
  matching() {
    if (this.match === null) return this.series.size;
    let n = 0;
    for (const s of this.series.values()) if (this.matches(s)) n += 1;
    return n;
  }

  /** Show only the series whose lower-cased id `match` accepts (null: all); returns how many. */
  setFilter(match) {
    this.match = match;
    this.syncDatasets();
    this.renderLegend();
    return this.matching();
  }

  /** Show every series the filter lets through (true) or only the first `limit` (false). */
  setExpanded(on) {
    this.expanded = on;
    this.syncDatasets();
    this.renderLegend();
  }

  // Chart.js gets the shown series' datasets plus the overlays. A change is drawn at once:
  // Chart.js watches each data array's push() through a dataset index that is stale until the
  // next update, and a live point may arrive before a deferred one.
  syncDatasets() {
    for (const s of this.shown) s.shown = false;
    this.shown = this.shownSeries();
    if (this.attached) this.updateUnit();
    const next = [];
    for (const s of this.shown) {
      s.shown = true;
      if (s.dirty && this.attached) this.refresh(s);
      next.push(s.raw, s.smoothed);
    }
    const now = this.cfg.data.datasets;
    for (const d of now) if (d.lkOverlay) next.push(d);
    if (next.length === now.length && next.every((d, i) => d === now[i])) return;
    this.cfg.data.datasets = next;
    this.draw();
  }

  setLabel(id, label) {
    const s = this.series.get(id);
    if (!s) return;
    s.label = label;
    s.raw.label = label;
    s.smoothed.label = t("chart.smoothed", { label });
    this.renderLegend();
  }

  setT0(id, t0) {
    const s = this.series.get(id);
    if (!s || s.t0 === t0) return;
    s.t0 = t0;
    if (this.xMode === "time") this.rebuild(s);
  }

  hasSeries(id) {
    return this.series.has(id);
  }

  /** Replace a series' points with history rows [[step, value, wall_time], ...]. */
  setPoints(id, rows) {
    const s = this.series.get(id);
    // Turned into points once drawn (or added to): most of ten thousand series never are.
    s.rows = rows;
    s.points = [];
    s.gap = null;
    if (s.t0 === null && rows.length) s.t0 = rows.reduce((a, r) => (r[0] < a[0] ? r : a))[2];
    this.rebuild(s);
  }

  /** A series' points, made from the history rows it was given if not yet. */
  pointsOf(s) {
    if (s.rows) {
      s.points = s.rows.map(([step, y, wall]) => ({ x: 0, y: y ?? null, s: step, t: wall }));
      s.points.sort((a, b) => a.s - b.s);
      s.rows = null;
    }
    return s.points;
  }

  /** Append one live point; keeps x order even when a point arrives late. Returns its x. */
  append(id, step, y, wall) {
    const s = this.series.get(id);
    if (s.t0 === null) s.t0 = wall;
    const p = { x: this.xOf(s, step, wall), y: y ?? null, s: step, t: wall };
    const pts = this.pointsOf(s);
    if (!pts.length || pts[pts.length - 1].s <= step) {
      pts.push(p);
      // Not drawn (off screen, or past the shown series), it is placed and smoothed once it is.
      if (!this.attached || !s.shown) s.dirty = true;
      else if (this.isSmoothed(s)) s.smoothed.data.push({ x: p.x, y: s.ema.next(p.y, step) });
    } else {
      let lo = 0;
      let hi = pts.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pts[mid].s <= step) lo = mid + 1;
        else hi = mid;
      }
      pts.splice(lo, 0, p);
      s.dirty = true;
    }
    if (pts.length > this.cap()) {
      s.points = downsample(pts, this.target());
      s.gap = null;
      s.dirty = true;
    }
    if (s.gap === null && s.shown && this.attached && this.updateUnit()) this.refreshShown();
    else if (s.dirty) this.rebuild(s);
    else {
      s.raw.data = s.points;
      if (s.raw.pointRadius && !this.isSparse(s)) this.styleSeries(s); // grown dense: no dots
    }
    if (s.shown) this.schedule();
    return p.x;
  }

  xOf(s, step, wall) {
    return this.xMode === "time" ? wall - (s.t0 ?? wall) : step;
  }

  /** The smallest and largest x of all the chart's series, or null while it has no point. */
  xExtent() {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of this.series.values()) {
      // History not yet made into points is read as it came: [step, value, wall_time] rows.
      const rows = s.rows ?? s.points.map((p) => [p.s, p.y, p.t]);
      for (const [step, , wall] of rows) {
        const x = this.xOf(s, step, wall);
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
    }
    return lo <= hi ? { min: lo, max: hi } : null;
  }

  // A series keeps about two points (min and max) per pixel of width; once it holds twice
  // that, it is downsampled again. Chart.js's own width: reading the DOM's would force a
  // layout for every live point.
  target() {
    return Math.max(MIN_POINTS, Math.round((this.chart.width || 800) * 2));
  }

  cap() {
    return this.target() * 2;
  }

  isSmoothed(s) {
    return s.smoothable && this.smoothing > 0;
  }

  /** Steps between a series' points (null until it has two), kept until its points change. */
  gapOf(s) {
    if (s.gap === null || s.gap === undefined) s.gap = stepGap(this.pointsOf(s));
    return s.gap;
  }

  /**
   * The smoothing's unit is the gap of the densest shown series: that one is smoothed as
   * TensorBoard would, the sparser ones by the same steps (not bent). True when it moved,
   * and then every shown series is smoothed again.
   */
  updateUnit() {
    let unit = Infinity;
    for (const s of this.shown) unit = Math.min(unit, this.gapOf(s) ?? Infinity);
    unit = Number.isFinite(unit) ? unit : 1;
    if (unit === this.unit) return false;
    this.unit = unit;
    for (const s of this.shown) s.dirty = true;
    return true;
  }

  refreshShown() {
    for (const s of this.shown) if (s.dirty) this.refresh(s);
    this.schedule();
  }

  /** Place and smooth a series' points again: now if drawn, else once it is. */
  rebuild(s) {
    if (!this.attached || !s.shown) {
      s.dirty = true;
      return;
    }
    if (this.updateUnit()) this.refreshShown();
    else this.refresh(s);
    this.schedule();
  }

  refresh(s) {
    s.dirty = false;
    this.pointsOf(s);
    if (s.t0 === null && s.points.length) s.t0 = s.points[0].t;
    for (const p of s.points) p.x = this.xOf(s, p.s, p.t);
    s.raw.data = s.points;
    s.ema = new Ema(this.smoothing, this.unit);
    if (this.isSmoothed(s)) {
      s.smoothed.data = smooth(s.points, this.smoothing, this.unit);
      // Carry the EMA state on, so live points continue the same curve.
      for (const p of s.points) s.ema.next(p.y, p.s);
    } else {
      s.smoothed.data = [];
    }
    this.styleSeries(s);
  }

  /** Fewer points than one per SPARSE_PX of width: drawn as dots too. */
  isSparse(s) {
    return s.points.length > 0 && s.points.length * SPARSE_PX <= (this.chart.width || 800);
  }

  styleSeries(s) {
    const smoothed = this.isSmoothed(s);
    const sparse = this.isSparse(s);
    s.raw.borderColor = smoothed ? withAlpha(s.color, 0.25) : s.color;
    s.raw.borderWidth = smoothed ? 1 : 1.5;
    s.raw.pointRadius = sparse ? 2 : 0;
    s.raw.pointBackgroundColor = s.color;
    s.raw.pointBorderColor = s.color;
    s.raw.hidden = s.hidden;
    s.smoothed.hidden = s.hidden || !smoothed;
  }

  // ---- events ----------------------------------------------------------------------------

  setEvents(list) {
    this.events.clear();
    for (const ev of list) this.events.set(ev.id, ev);
    this.renderEvents();
  }

  addEvent(ev) {
    this.events.set(ev.id, ev);
    this.renderEvents();
  }

  eventX(ev) {
    if (this.xMode === "step") return ev.step;
    const first = this.series.values().next().value;
    const t0 = first?.t0 ?? ev.wall_time;
    return ev.wall_time - t0;
  }

  /** A recipe's changes still to come, [{step, lines}]: dashed markers (step axis only). */
  setPlanned(list) {
    this.planned = list;
    this.renderEvents();
  }

  /** The markers as annotations: now when attached (or `now`), else once it attaches. */
  renderEvents(now = false) {
    if (!now && !this.attached) {
      this.eventsDirty = true;
      return;
    }
    this.eventsDirty = false;
    const annotations = {};
    for (const ev of this.events.values()) {
      annotations[`ev${ev.id}`] = this.marker(this.eventX(ev), eventStyle(ev.kind, ev), eventLines(ev));
    }
    if (this.xMode === "step") {
      for (const plan of this.planned) {
        annotations[`plan${plan.step}`] = { ...this.marker(plan.step, PLANNED_STYLE, plan.lines), lkPlanned: true };
      }
    }
    this.chart.options.plugins.annotation.annotations = annotations;
    this.schedule();
  }

  marker(x, style, lines) {
    return {
      type: "line",
      scaleID: "x",
      value: x,
      borderColor: style.color,
      borderWidth: style.width || 1,
      borderDash: style.dash,
      label: {
        display: false,
        content: lines,
        position: "start",
        backgroundColor: style.color,
        color: "#fff",
        font: { size: 11 },
      },
      enter: ({ element }) => {
        element.label.options.display = true;
        return true;
      },
      leave: ({ element }) => {
        element.label.options.display = false;
        return true;
      },
    };
  }

  // ---- view options ----------------------------------------------------------------------

  setXMode(mode) {
    if (mode === this.xMode) return;
    this.xMode = mode;
    this.resetZoom();
    for (const s of this.series.values()) this.rebuild(s);
    this.overlays.relocate();
    this.renderEvents();
    this.options.onXMode?.();
  }

  /** x's range while not zoomed, {min, max} (null: the chart's own data's). */
  setXRange(range) {
    const same = range && this.xRange && range.min === this.xRange.min && range.max === this.xRange.max;
    if (same || (!range && !this.xRange)) return;
    this.xRange = range;
    if (!this.zoomRange) this.applyXRange();
    this.schedule();
  }

  applyXRange() {
    const x = this.cfg.options.scales.x;
    if (this.xRange) Object.assign(x, this.xRange);
    else {
      delete x.min;
      delete x.max;
    }
  }

  setSmoothing(weight) {
    this.smoothing = weight;
    for (const s of this.series.values()) this.rebuild(s);
    this.overlays.relocate();
  }

  setLog(on) {
    if (this.logBox) this.logBox.checked = on;
    this.chart.options.scales.y.type = on ? "logarithmic" : "linear";
    this.schedule();
  }

  resetZoom() {
    this.zoomRange = null;
    if (!this.attached) return;
    this.quiet = true;
    try {
      this.chart.resetZoom("none");
    } finally {
      this.quiet = false;
    }
    // The zoom plugin puts back the range it found at the first zoom; the run may have grown.
    this.applyXRange();
    this.draw();
  }

  zoomTo(min, max) {
    this.zoomRange = { min, max };
    if (!this.attached) return;
    this.chart.zoomScale("x", { min, max }, "none");
    if (this.cfg.options.scales.y.type === "logarithmic") this.schedule(); // y fits what is in view
  }

  toggleSeries(id) {
    const s = this.series.get(id);
    s.hidden = !s.hidden;
    this.styleSeries(s);
    this.renderLegend();
    this.schedule();
  }

  // ---- drawing ---------------------------------------------------------------------------

  schedule() {
    if (this.timer !== null || !this.attached) return;
    const wait = Math.max(0, UPDATE_INTERVAL_MS - (performance.now() - this.lastDraw));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.draw();
    }, wait);
  }

  /** Redraw now, without animation. */
  draw() {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.attached) return;
    this.lastDraw = performance.now();
    this.fitLogAxis();
    this.chart.update("none");
  }

  /** A log axis from the smallest to the largest positive value drawn, rounded out a little. */
  fitLogAxis() {
    const y = this.cfg.options.scales.y;
    delete y.min;
    delete y.max;
    if (y.type !== "logarithmic") return;
    const range = positiveRange(this.cfg.data.datasets, this.zoomRange);
    if (!range) return;
    y.min = niceLog(range.lo, false);
    y.max = niceLog(range.hi, true);
    if (y.min >= y.max) y.min = y.max / 10;
  }

  refreshTheme() {
    this.chart.options.color = Chart.defaults.color;
    for (const axis of Object.values(this.chart.options.scales)) {
      axis.grid = { ...(axis.grid || {}), color: Chart.defaults.borderColor };
      axis.ticks = { ...(axis.ticks || {}), color: Chart.defaults.color };
    }
    this.draw();
  }

  refreshLanguage() {
    for (const s of this.series.values()) s.smoothed.label = t("chart.smoothed", { label: s.label });
    this.renderLegend();
    this.renderEvents();
  }

  /**
   * The legend and the canvas' description, once for all the changes of this task (a history
   * adds many series at once); off screen, when the chart attaches.
   */
  renderLegend() {
    if (this.textQueued) return;
    this.textQueued = true;
    queueMicrotask(() => {
      if (this.textQueued && this.attached) this.renderText();
    });
  }

  renderText() {
    this.textQueued = false;
    this.describe();
    if (!this.legend) return;
    this.legend.replaceChildren();
    for (const s of this.shownSeries()) {
      const button = legendChip(s.label, s.color, !s.hidden, Boolean(s.dash));
      button.dataset.series = s.id;
      button.addEventListener("click", () => this.toggleSeries(s.id));
      this.legend.append(button);
    }
    for (const line of this.overlays.lines.values()) this.legend.append(this.overlayChip(line.dataset));
    const matching = this.matching();
    if (matching > this.limit) {
      const more = document.createElement("button");
      more.type = "button";
      more.className = "legend-more";
      more.dataset.more = this.expanded ? "fewer" : "all";
      more.textContent = this.expanded ? t("chart.showFewer", { n: this.limit }) : t("chart.showAll", { n: matching });
      more.setAttribute("aria-expanded", String(this.expanded));
      more.addEventListener("click", () => this.setExpanded(!this.expanded));
      this.legend.append(more);
    }
  }

  /** A legend chip for another run's line drawn over this chart (a race's variant). */
  overlayChip(dataset) {
    const button = legendChip(dataset.label, dataset.backgroundColor, !dataset.hidden);
    button.classList.add("legend-overlay");
    button.dataset.overlay = dataset.lkId;
    button.addEventListener("click", () => {
      dataset.hidden = !dataset.hidden;
      button.setAttribute("aria-pressed", String(!dataset.hidden));
      this.schedule();
    });
    return button;
  }

  describe() {
    const shown = this.shownSeries();
    let series = shown.map((s) => s.label).join(", ") || "–";
    const rest = this.matching() - shown.length;
    if (rest > 0) series = t("chart.ariaMore", { series, n: rest });
    this.canvas.setAttribute("aria-label", t("chart.aria", { title: this.options.title?.() ?? "", series }));
    this.canvas.setAttribute("aria-description", t("chart.keysHint"));
  }

  downloadPng() {
    this.attach();
    this.draw();
    this.canvas.toBlob((blob) => {
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `${this.options.fileName?.() ?? "chart"}.png`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    }, "image/png");
  }

  destroy() {
    this.detach();
    this.textQueued = false;
    this.logBox?.removeEventListener("change", this.onLog);
    this.pngButton?.removeEventListener("click", this.onPng);
    this.canvas.removeEventListener("dblclick", this.onDblClick);
    this.canvas.removeEventListener("keydown", this.onKey);
    if (this.legend) this.legend.replaceChildren();
  }
}
