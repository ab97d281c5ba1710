// Parallel coordinates: one vertical axis per hparam shown in the runs table and a last one for
// the chosen metric's best value; one line per run across them, coloured by that value
// (a colour-blind-safe scale from dark blue, the lower, to yellow). Plain SVG: no library.
import { number, value as formatValue } from "./format.js";
import { t } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 260;
const TOP = 34;
const BOTTOM = 30;
const SIDE = 56;
// Viridis at five stops: readable with every common colour-vision deficiency.
const SCALE = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function scaleColor(f) {
  const x = Math.min(1, Math.max(0, f)) * (SCALE.length - 1);
  const i = Math.min(SCALE.length - 2, Math.floor(x));
  const mix = SCALE[i].map((c, k) => Math.round(c + (SCALE[i + 1][k] - c) * (x - i)));
  return `rgb(${mix.join(",")})`;
}

function el(name, attrs = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** An axis for these values: numbers on a (log when they span decades) scale, else categories. */
function axisFor(label, values) {
  const present = values.filter((v) => v !== null && v !== undefined);
  const numeric = present.length > 0 && present.every((v) => typeof v === "number" && Number.isFinite(v));
  if (numeric) {
    let lo = Math.min(...present);
    let hi = Math.max(...present);
    const log = lo > 0 && hi / lo >= 20;
    const f = log ? Math.log10 : (v) => v;
    if (lo === hi) {
      lo -= Math.abs(lo) * 0.5 || 1;
      hi += Math.abs(hi) * 0.5 || 1;
    }
    const a = f(lo);
    const b = f(hi);
    return {
      label,
      log,
      ticks: [hi, lo].map((v) => [number(v, 3), (f(hi) - f(v)) / (b - a || 1)]),
      pos: (v) => (typeof v === "number" && Number.isFinite(v) && (!log || v > 0) ? (b - f(v)) / (b - a || 1) : null),
    };
  }
  const cats = [...new Set(present.map((v) => formatValue(v)))].sort((x, y) => x.localeCompare(y, undefined, { numeric: true }));
  const at = (i) => (cats.length === 1 ? 0.5 : i / (cats.length - 1));
  return {
    label,
    ticks: cats.map((c, i) => [c, at(i)]),
    pos: (v) => (v === null || v === undefined ? null : at(cats.indexOf(formatValue(v)))),
  };
}

export class ParallelChart {
  constructor(box, note) {
    this.box = box;
    this.note = note;
  }

  /** runs in table order; hparams: the table's hparam columns ({label, value(run)});
   * best(run) the metric's best; metric: its label; isCompared(id): ticked runs drawn wider. */
  render({ runs, hparams, best, metric, isCompared }) {
    const axes = hparams.map((c) => ({ ...axisFor(c.label, runs.map((r) => c.value(r))), value: c.value }));
    const metricAxis = { ...axisFor(metric, runs.map(best)), value: best, metric: true };
    axes.push(metricAxis);
    const width = Math.max(360, Math.round(this.box.clientWidth || 900));
    const gap = axes.length > 1 ? (width - 2 * SIDE) / (axes.length - 1) : 0;
    const xOf = (i) => (axes.length > 1 ? SIDE + i * gap : width / 2);
    const yOf = (f) => TOP + f * (HEIGHT - TOP - BOTTOM);
    const svg = el("svg", { viewBox: `0 0 ${width} ${HEIGHT}`, width: "100%", height: HEIGHT, role: "img" });
    svg.setAttribute("aria-label", t("cmp.parallelLabel", { n: runs.length, metric }));
    const lines = el("g", { class: "pc-lines" });
    const wide = [];
    for (const run of runs) {
      let d = "";
      let pen = false;
      axes.forEach((axis, i) => {
        const f = axis.pos(axis.value(run));
        if (f === null) {
          pen = false; // no value here: the line breaks
          return;
        }
        d += `${pen ? "L" : "M"}${xOf(i).toFixed(1)},${yOf(f).toFixed(1)}`;
        pen = true;
      });
      const f = metricAxis.pos(best(run));
      const path = el("path", {
        d: d || `M${xOf(0)},${yOf(1)}`,
        "data-run-id": run.id,
        stroke: f === null ? "var(--bs-secondary-color)" : scaleColor(1 - f),
        class: isCompared(run.id) ? "pc-line compared" : "pc-line",
      });
      const title = el("title");
      title.textContent = `${run.name} (#${run.id}) · ${metric}: ${number(best(run))}`;
      path.append(title);
      if (isCompared(run.id)) wide.push(path);
      else lines.append(path);
    }
    lines.append(...wide); // ticked runs on top
    svg.append(lines);
    axes.forEach((axis, i) => {
      const g = el("g", { class: axis.metric ? "pc-axis pc-metric" : "pc-axis", "data-axis": axis.label });
      g.append(el("line", { x1: xOf(i), x2: xOf(i), y1: yOf(0), y2: yOf(1) }));
      const name = el("text", { x: xOf(i), y: 14, "text-anchor": "middle", class: "pc-name" });
      name.textContent = axis.metric ? t("cmp.bestOf", { metric: axis.label }) : axis.label;
      g.append(name);
      for (const [text, f] of axis.ticks) {
        const tick = el("text", { x: xOf(i) + 5, y: yOf(f) + 4, class: "pc-tick" });
        tick.textContent = text;
        g.append(tick);
      }
      svg.append(g);
    });
    this.box.replaceChildren(svg);
    this.box.dataset.lines = String(runs.length);
    this.note.textContent = hparams.length ? t("cmp.parallelNote", { metric }) : t("cmp.parallelNone");
  }
}
