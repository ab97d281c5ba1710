// Lines of other runs drawn over a run's chart (a race's variants): thin, one colour each,
// not part of the chart's own series (a legend chip of their own that hides them), smoothed
// and placed (step or time) as the chart's own are.
import { downsample, smooth } from "./series.js";

export class Overlays {
  constructor(metricChart) {
    this.owner = metricChart;
    this.lines = new Map(); // id -> {dataset, points}
  }

  /** Add a line once: id, label, colour (#rrggbb), runId (the run whose points it shows). */
  add(id, { label, color, runId }) {
    if (this.lines.has(id)) return this.lines.get(id);
    const dataset = {
      lkId: id,
      lkRun: runId,
      lkOverlay: true,
      label,
      data: [],
      borderColor: color,
      backgroundColor: color,
      borderWidth: 1,
      pointHoverBackgroundColor: color,
    };
    const line = { dataset, points: [] };
    this.lines.set(id, line);
    this.owner.chart.data.datasets.push(dataset);
    this.owner.draw(); // see removeSeries: datasets must be known before points arrive
    this.owner.renderLegend();
    return line;
  }

  has(id) {
    return this.lines.has(id);
  }

  /** Add points [[step, value, wall_time], ...] to a line, kept in step order. */
  append(id, rows) {
    const line = this.lines.get(id);
    if (!line || !rows.length) return;
    for (const [step, y, wall] of rows) line.points.push({ x: 0, y: y ?? null, s: step, t: wall });
    line.points.sort((a, b) => a.s - b.s);
    const target = this.owner.target();
    if (line.points.length > target * 2) line.points = downsample(line.points, target);
    this.place(line);
    this.owner.schedule();
  }

  /** Restyle a line: width, and whether it fades (a race's losers once the winner is known). */
  style(id, { width = 1, faded = false, winner = false } = {}) {
    const line = this.lines.get(id);
    if (!line) return;
    const color = line.dataset.backgroundColor;
    line.dataset.borderWidth = width;
    line.dataset.borderColor = faded ? `${color}66` : color;
    line.dataset.lkWinner = winner;
    this.owner.schedule();
  }

  /** x follows the chart's mode: the step, or seconds since the chart's own first series began. */
  place(line) {
    const owner = this.owner;
    const first = owner.series.values().next().value;
    const t0 = first?.t0 ?? line.points[0]?.t ?? 0;
    for (const p of line.points) p.x = owner.xMode === "time" ? p.t - t0 : p.s;
    const smoothed = owner.options.smoothable !== false && owner.smoothing > 0;
    line.dataset.data = smoothed ? smooth(line.points, owner.smoothing) : line.points;
  }

  relocate() {
    for (const line of this.lines.values()) this.place(line);
  }
}
