// A run's race variants over its own charts, live: one thin line per variant and metric, coloured
// by variant and labelled by its hparams; once the `race` event names the winner, the winner's
// lines thicken and the others fade. Children come from the runs list (config.kind "race") or
// straight from a race just started here.
import * as api from "./api.js";
import { hparamsText } from "./events.js";
import { isLive } from "./format.js";

// Apart from the run's own series colours (blue, orange, green, purple; panels.js).
const COLORS = ["#e64980", "#0ca678", "#fab005", "#7048e8", "#15aabf", "#a61e4d", "#5c940d", "#495057"];

/** The colour of a race's variant `index` on the charts (the result's table shows it too). */
export const raceColor = (index) => COLORS[index % COLORS.length];

export const isRaceChild = (run, parentId) => run.parent_id === parentId && run.config?.kind === "race";

export class RaceOverlay {
  /** panels() -> the run view's ChartPanels; maxPoints() -> history points per series. */
  constructor({ live, panels, maxPoints, onError }) {
    this.live = live;
    this.panels = panels;
    this.maxPoints = maxPoints;
    this.onError = onError;
    this.children = new Map(); // child id -> {label, color, sub, winner}
    this.token = 0;
  }

  /** The run opened: overlay every race child it has, in order, coloured per race. */
  open(runs, parentId) {
    const token = ++this.token;
    const children = runs.filter((r) => isRaceChild(r, parentId)).sort((a, b) => a.id - b.id);
    const slot = new Map();
    for (const child of children) {
      const index = child.config.race_index ?? slot.get(child.parent_step) ?? 0;
      slot.set(child.parent_step, index + 1);
      this.add(child.id, index, child.config.variant || {}, token, isLive(child));
    }
  }

  /** A run arrived (broadcast): a race child of the open run started elsewhere joins in. */
  takeRun(run, parentId) {
    if (!isRaceChild(run, parentId) || this.children.has(run.id)) return;
    this.add(run.id, run.config.race_index ?? 0, run.config.variant || {}, this.token, isLive(run));
  }

  /** A race started from this page: its children, in the order of the variants. */
  start(runIds, variants) {
    runIds.forEach((id, i) => this.add(id, i, variants[i] || {}, this.token, true));
  }

  add(childId, index, variant, token, live) {
    if (this.children.has(childId)) return;
    const child = { label: hparamsText(variant) || `#${childId}`, color: raceColor(index), sub: null, winner: null };
    this.children.set(childId, child);
    this.load(childId, child, token, live);
  }

  async load(childId, child, token, live) {
    let history = { series: {}, last_id: 0 };
    try {
      history = await api.metrics(childId, { maxPoints: this.maxPoints() });
    } catch (error) {
      if (error.status !== 404) this.onError(error.message);
    }
    if (token !== this.token) return;
    for (const [key, rows] of Object.entries(history.series)) this.paint(childId, key, rows);
    if (!live) return;
    child.sub = this.live.subscribe(childId, history.last_id || 0, {
      onPoints: (points) => {
        for (const [, key, step, value, wall] of points) this.paint(childId, key, [[step, value, wall]]);
      },
    });
  }

  paint(childId, key, rows) {
    const chart = this.panels().existingChart(key);
    const child = this.children.get(childId);
    if (!chart || !child) return;
    const id = `race:${childId}:${key}`;
    if (!chart.overlays.has(id)) {
      chart.overlays.add(id, { label: `${child.label} · ${key}`, color: child.color, runId: childId });
      if (child.winner !== null) chart.overlays.style(id, lineStyle(child.winner));
    }
    chart.overlays.append(id, rows);
  }

  /** A `race` event (live or fetched): highlight its winner, fade the others. */
  takeEvent(ev) {
    if (ev.kind !== "race") return;
    const payload = ev.payload || {};
    (payload.results || []).forEach((result, i) => {
      const child = this.children.get(result.run_id);
      if (!child) return;
      child.winner = i === payload.winner;
      for (const chart of this.panels().charts()) {
        for (const id of chart.overlays.lines.keys()) {
          if (id.startsWith(`race:${result.run_id}:`)) chart.overlays.style(id, lineStyle(child.winner));
        }
      }
    });
  }

  close() {
    this.token += 1;
    for (const child of this.children.values()) child.sub?.close();
    this.children.clear();
  }
}

const lineStyle = (winner) => (winner ? { width: 2.5, winner: true } : { width: 1, faded: true });
