// One run, live: header with progress and ETA, controls, hparam panel, charts, events,
// checkpoints and (for the spiral) the decision boundary; trials, autopilot and recipes in decide.js.
import { AboutPanel } from "./about.js";
import * as api from "./api.js";
import { BoundaryView } from "./boundary.js";
import { Controls } from "./controls.js";
import { DistributionView } from "./distribution.js";
import { Decide } from "./decide.js";
import { renderChanged } from "./dom.js";
import { eventItem, setLrScheduled } from "./events.js";
import { bytes, duration, integer, isLive, isStale, statusBadge } from "./format.js";
import { HparamPanel } from "./hparams.js";
import { t } from "./i18n.js";
import { NotesPanel } from "./notes.js";
import { ChartPanels } from "./panels.js";
import { MediaView } from "./media.js";
import { SamplesView } from "./samples.js";
import { ChartToolbar } from "./toolbar.js";

const MAX_EVENT_ROWS = 200;
const ETA_WINDOW_S = 30;

export class RunView {
  constructor({ live, runs, newRun, onError }) {
    this.live = live;
    this.runs = runs;
    this.newRun = newRun;
    this.onError = onError;
    this.section = document.getElementById("view-run");
    this.controls = new Controls();
    this.hparams = new HparamPanel();
    this.boundary = new BoundaryView();
    this.about = new AboutPanel();
    this.notes = new NotesPanel({
      onSaved: (run) => {
        this.runs.upsert(run);
        this.setRun(run);
      },
      onError,
    });
    this.samples = new SamplesView({ onError });
    this.media = new MediaView({ onError });
    this.distribution = new DistributionView({ onError });
    this.panels = this.createPanels();
    this.events = new Map();
    this.run = null;
    this.sub = null;
    this.token = 0;
    this.etaSamples = [];
    this.toolbar = new ChartToolbar("", () => this.panels.charts());
    this.decide = new Decide({ view: this, live, runs, onError });
    document.getElementById("run-delete").addEventListener("click", () => this.deleteRun());
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Open run `id`: fetch it, its history (downsampled to the chart width) and events; go live. */
  async open(id) {
    if (this.run && this.run.id === id && this.sub) return;
    this.close();
    const token = ++this.token;
    this.section.hidden = false;
    document.getElementById("run-name").textContent = `#${id}`;
    document.getElementById("charts-loading").hidden = false;
    // Ask for the run, its history (downsampled to the chart width) and its events at once;
    // show the run as soon as it is here, since a long history takes a while.
    const runAsked = api.run(id);
    const restAsked = Promise.all([api.metrics(id, { maxPoints: this.chartWidth() }), api.events(id)]);
    restAsked.catch(() => {}); // reported below, once
    // The panels' layout is the database's, not the page's: another window may have changed it.
    const layoutAsked = api.layout().catch((error) => {
      this.onError(error.message);
      return null;
    });
    let history, events;
    try {
      const run = await runAsked;
      if (token !== this.token) return;
      this.setRun(run);
      this.loadCheckpoints(id);
      this.loadBoundary(run);
      this.loadOptimizer(run);
      this.samples.open(id);
      this.media.open(id);
      this.distribution.open(id);
      [history, events] = await restAsked;
    } catch (error) {
      if (token !== this.token) return;
      document.getElementById("charts-loading").hidden = true;
      this.onError(error.status === 404 ? t("run.notFound", { id }) : error.message);
      if (error.status === 404) location.hash = "#/";
      return;
    }
    if (token !== this.token) return;
    this.setEvents(events);
    this.runs.knowKeys(Object.keys(history.series));
    const layout = await layoutAsked;
    if (token !== this.token) return;
    this.panels.setLayout(layout);
    this.panels.load(history.series); // draws the panels in view; the others as they come near
    this.sub = this.live.subscribe(id, history.last_id || 0, {
      onPoints: (points) => this.takePoints(points),
      onEvent: (ev) => this.addEvent(ev),
      onSnapshot: (snap) => this.takeSnapshot(snap),
      onCheckpoints: () => this.loadCheckpoints(id),
      // Events and snapshots are not replayed: once subscribed, fetch them again to close
      // the gap between the reads above and the room's cursor (and a reconnect's gap).
      onSubscribed: () => {
        this.mergeEvents(id, token);
        this.mergeSnapshots(id, token);
      },
    });
    this.decide.open();
    document.getElementById("charts-loading").hidden = true;
    // For tests and the benchmark: the run's charts are complete on screen from here on.
    performance.mark(`lernkurve:charts-rendered:${id}`);
    document.documentElement.dataset.chartsRendered = String(id);
  }

  close() {
    this.token += 1;
    this.sub?.close();
    this.sub = null;
    this.run = null;
    this.events.clear();
    this.etaSamples = [];
    this.panels.destroy();
    setLrScheduled(false);
    this.boundary.setVisible(false);
    this.samples.clear();
    this.media.clear();
    this.distribution.clear();
    this.controls.clear();
    this.decide.close();
    delete document.documentElement.dataset.chartsRendered;
    document.getElementById("charts-loading").hidden = true;
    this.section.hidden = true;
  }

  /** After a reconnect: points replay and events are refetched on resubscribe; the rest here. */
  async catchUp() {
    if (!this.run) return;
    const id = this.run.id;
    const token = this.token;
    try {
      const run = await api.run(id);
      if (token === this.token) this.setRun(run);
    } catch (error) {
      this.onError(error.message);
    }
    if (token === this.token) this.loadCheckpoints(id);
  }

  async mergeEvents(id, token) {
    let events;
    try {
      events = await api.events(id);
    } catch (error) {
      this.onError(error.message);
      return;
    }
    if (token !== this.token) return;
    for (const ev of events) if (!this.events.has(ev.id)) this.addEvent(ev);
  }

  /** Snapshots again; each view keeps the newest (optimizer, boundary) or each once (by id). */
  mergeSnapshots(id, token) {
    if (token !== this.token || !this.run) return;
    this.loadBoundary(this.run);
    this.loadOptimizer(this.run);
    this.samples.merge(id);
    this.media.merge(id);
    this.distribution.merge(id);
  }

  chartWidth() {
    return Math.max(200, Math.round(document.getElementById("chart-stack").clientWidth));
  }

  createPanels() {
    return new ChartPanels(
      document.getElementById("chart-stack"),
      document.getElementById("chart-panel-template"),
      document.getElementById("charts-empty"),
      {
        smoothing: () => this.toolbar.smoothing,
        xMode: () => this.toolbar.xMode,
        t0: () => this.t0(),
        events: () => [...this.events.values()],
        planned: () => this.decide?.planned ?? [],
        fileName: (slug) => `${this.run ? this.run.name : "run"}-${slug}`,
        onRange: (source, min, max) => this.syncRange(source, min, max),
        onReset: () => this.toolbar.resetZoom(),
        filter: {
          box: document.getElementById("chart-filter"),
          count: document.getElementById("chart-filter-count"),
          none: document.getElementById("charts-nomatch"),
        },
        controls: document.getElementById("chart-panel-controls"),
        saveLayout: (layout) => this.saveLayout(layout),
      },
    );
  }

  // One save at a time, in order: each sends the whole layout, and a later click must win.
  saveLayout(layout) {
    this.layoutSaved = (this.layoutSaved ?? Promise.resolve())
      .then(() => api.saveLayout(layout))
      .catch((error) => this.onError(error.message));
  }

  syncRange(source, min, max) {
    for (const chart of this.panels.charts()) if (chart !== source) chart.zoomTo(min, max);
  }

  t0() {
    return this.run ? this.run.started_at ?? this.run.created_at ?? null : null;
  }

  takePoints(points) {
    for (const [, key, step, value, wall] of points) this.panels.append(key, step, value, wall);
    this.decide.takePoints();
  }

  takeSnapshot(snap) {
    if (snap.kind === "boundary") this.boundary.show(snap);
    if (snap.kind === "optimizer") this.showOptimizer(snap);
    if (snap.kind === "text") this.samples.take(snap);
    if (snap.kind === "image" || snap.kind === "table") this.media.take(snap);
    if (snap.kind === "distribution") this.distribution.take(snap);
  }

  // Events read differently with an LR schedule (a scale change names its factor).
  showOptimizer(snap) {
    this.hparams.showOptimizer(snap);
    if (!setLrScheduled(this.hparams.lrScheduled())) return;
    this.renderEvents();
    for (const chart of this.panels.charts()) chart.renderEvents();
  }

  // ---- header ----------------------------------------------------------------------------

  /** A run object arrived (fetched or broadcast). */
  setRun(run) {
    if (isStale(run, this.run)) return;
    const startedNow = this.run && this.run.started_at === null && run.started_at !== null;
    this.run = run;
    this.renderHeader();
    this.controls.show(run);
    this.hparams.show(run);
    this.about.show(run);
    this.notes.show(run);
    this.decide.setRun(run);
    if (startedNow) for (const chart of this.panels.charts()) {
      for (const id of chart.series.keys()) chart.setT0(id, this.t0());
    }
  }

  renderHeader() {
    const run = this.run;
    const name = document.getElementById("run-name");
    name.textContent = run.name;
    name.title = run.name; // a long name ends in an ellipsis; the whole one on hover
    document.title = `${run.name} · Lernkurve`;
    statusBadge(document.getElementById("run-status"), run.status);
    document.getElementById("run-task").textContent = run.task;
    document.getElementById("run-id").textContent = String(run.id);
    const parent = document.getElementById("run-parent");
    parent.replaceChildren();
    if (run.parent_id) {
      const link = document.createElement("a");
      link.href = `#/run/${run.parent_id}`;
      link.textContent = t("run.parent", { id: run.parent_id, step: integer(run.parent_step ?? 0) });
      parent.append(" ", link);
    }
    const csv = document.getElementById("export-csv");
    csv.href = api.exportUrl(run.id);
    csv.setAttribute("download", `${run.name}.csv`);
    document.getElementById("run-delete").hidden = isLive(run);
    const error = document.getElementById("run-error");
    error.hidden = !run.error;
    error.textContent = run.error || "";
    this.renderProgress();
  }

  renderProgress() {
    const run = this.run;
    const step = run.step ?? 0;
    const total = run.total_steps;
    document.getElementById("run-step").textContent = total
      ? t("run.stepOf", { step: integer(step), total: integer(total) })
      : t("run.step", { step: integer(step) });
    const fraction = total ? Math.min(1, step / total) : run.status === "completed" ? 1 : 0;
    const bar = document.getElementById("run-progress-bar");
    bar.style.width = `${(fraction * 100).toFixed(1)}%`;
    bar.classList.toggle("progress-bar-striped", run.status === "running");
    bar.classList.toggle("progress-bar-animated", run.status === "running");
    bar.classList.toggle("bg-warning", run.status === "paused");
    bar.classList.toggle("bg-danger", run.status === "failed");
    bar.classList.toggle("bg-success", run.status === "completed");
    const progress = document.getElementById("run-progress");
    progress.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
    document.getElementById("run-eta").textContent = this.etaText();
  }

  etaText() {
    const run = this.run;
    if (run.status === "paused") {
      this.etaSamples = [];
      return t("run.etaPaused");
    }
    if (!isLive(run)) {
      return run.started_at && run.ended_at ? t("run.took", { time: duration(run.ended_at - run.started_at) }) : "";
    }
    const now = performance.now() / 1000;
    const samples = this.etaSamples;
    if (!samples.length || samples[samples.length - 1][1] !== run.step) samples.push([now, run.step ?? 0]);
    while (samples.length > 2 && now - samples[0][0] > ETA_WINDOW_S) samples.shift();
    if (!run.total_steps || run.status !== "running") return "";
    let rate = 0;
    if (samples.length >= 2) {
      const [t0, s0] = samples[0];
      const [t1, s1] = samples[samples.length - 1];
      if (t1 > t0) rate = (s1 - s0) / (t1 - t0);
    }
    if (!(rate > 0) && run.started_at && run.heartbeat_at > run.started_at) {
      rate = (run.step ?? 0) / (run.heartbeat_at - run.started_at);
    }
    if (!(rate > 0)) return t("run.eta", { time: "–" });
    return t("run.eta", { time: duration((run.total_steps - run.step) / rate) });
  }

  // ---- events ----------------------------------------------------------------------------

  setEvents(list) {
    this.events.clear();
    for (const ev of list) this.events.set(ev.id, ev);
    for (const chart of this.panels.charts()) chart.setEvents(list);
    this.renderEvents();
  }

  addEvent(ev) {
    this.events.set(ev.id, ev);
    for (const chart of this.panels.charts()) chart.addEvent(ev);
    this.renderEvents();
    this.decide.takeEvent(ev);
    if (ev.kind === "checkpoint" && this.run) this.loadCheckpoints(this.run.id);
  }

  /** Fetched events that changed since they were shown (an hparams event gained its impact). */
  replaceEvents(list) {
    const changed = list.filter((ev) => JSON.stringify(ev) !== JSON.stringify(this.events.get(ev.id)));
    if (!changed.length) return;
    for (const ev of changed) this.events.set(ev.id, ev);
    for (const chart of this.panels.charts()) chart.setEvents([...this.events.values()]);
    this.renderEvents();
  }

  renderEvents() {
    const list = document.getElementById("events-list");
    const sorted = [...this.events.values()].sort((a, b) => b.id - a.id).slice(0, MAX_EVENT_ROWS);
    list.replaceChildren(...sorted.map((ev) => eventItem(ev, (e) => this.decide.eventAction(e))));
    document.getElementById("events-empty").hidden = this.events.size > 0;
  }

  // ---- checkpoints, boundary, delete -------------------------------------------------------

  async loadCheckpoints(id) {
    let answer = { checkpoints: [], total_bytes: 0 };
    try {
      answer = await api.checkpoints(id);
    } catch (error) {
      if (error.status !== 404) this.onError(error.message);
    }
    if (!this.run || this.run.id !== id) return;
    const { checkpoints } = answer;
    const list = document.getElementById("ckpt-list");
    renderChanged(list, checkpoints, () => checkpoints.map((ckpt) => this.checkpointItem(ckpt)));
    document.getElementById("ckpt-empty").hidden = checkpoints.length > 0;
    const total = document.getElementById("ckpt-total");
    total.hidden = !checkpoints.length;
    const missing = checkpoints.filter((c) => c.size_bytes === null).length;
    total.textContent = t(missing ? "ckpt.totalMissing" : "ckpt.total", {
      n: integer(checkpoints.length),
      size: bytes(answer.total_bytes),
      missing: integer(missing),
    });
  }

  /** One checkpoint: its step, size and time; fork from it, or delete it and its file. */
  checkpointItem(ckpt) {
    const li = document.createElement("li");
    li.className = "list-group-item d-flex flex-wrap align-items-center gap-2";
    li.dataset.checkpointId = String(ckpt.id);
    // Why it cannot go (a fork still starts from it), or why the server refused.
    const note = document.createElement("div");
    note.className = "ckpt-note w-100 text-body-secondary";
    note.textContent = ckpt.in_use ?? "";
    note.hidden = !ckpt.in_use;
    li.append(this.checkpointText(ckpt), this.checkpointButtons(ckpt, note), note);
    return li;
  }

  checkpointText(ckpt) {
    const text = document.createElement("div");
    text.className = "ckpt-text";
    text.textContent = t("ckpt.at", { step: integer(ckpt.step) });
    const details = document.createElement("div");
    details.className = "text-body-secondary";
    const size = document.createElement("span");
    size.className = "ckpt-size";
    size.textContent = this.checkpointSize(ckpt);
    const time = document.createElement("span");
    time.className = "text-nowrap";
    time.textContent = new Date(ckpt.created_at * 1000).toLocaleTimeString();
    details.append(size, " · ", time);
    text.append(details);
    return text;
  }

  checkpointButtons(ckpt, note) {
    const step = integer(ckpt.step);
    const fork = document.createElement("button");
    fork.type = "button";
    fork.className = "btn btn-outline-primary btn-sm";
    fork.textContent = t("ckpt.fork");
    fork.setAttribute("aria-label", t("ckpt.forkLabel", { step }));
    fork.addEventListener("click", () => this.newRun.openFork(this.run, ckpt));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-outline-danger btn-sm";
    remove.setAttribute("aria-label", t("ckpt.deleteLabel", { step }));
    remove.title = t("ckpt.deleteLabel", { step });
    const icon = document.createElement("i");
    icon.className = "bi bi-trash";
    icon.setAttribute("aria-hidden", "true");
    remove.append(icon);
    remove.disabled = Boolean(ckpt.in_use);
    remove.addEventListener("click", () => this.deleteCheckpoint(ckpt, remove, note));
    const buttons = document.createElement("div");
    buttons.className = "d-flex gap-2 flex-shrink-0";
    buttons.append(fork, remove);
    return buttons;
  }

  checkpointSize(ckpt) {
    return ckpt.size_bytes === null ? t("ckpt.missing") : bytes(ckpt.size_bytes);
  }

  /** After confirm(): delete it; a refusal (a fork needs it) shows the server's reason under it. */
  async deleteCheckpoint(ckpt, button, note) {
    const question = t("ckpt.deleteConfirm", { step: integer(ckpt.step), size: this.checkpointSize(ckpt) });
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      await api.deleteCheckpoint(ckpt.run_id, ckpt.id);
    } catch (error) {
      note.textContent = error.message;
      note.className = "ckpt-note w-100 text-danger";
      note.setAttribute("role", "alert");
      note.hidden = false;
      button.disabled = error.code === "checkpoint_in_use";
      if (error.status === 404) this.loadCheckpoints(ckpt.run_id);
      return;
    }
    this.loadCheckpoints(ckpt.run_id);
  }

  async loadBoundary(run) {
    const spiral = run.task === "spiral";
    this.boundary.setVisible(spiral);
    if (!spiral) return;
    try {
      const snap = await api.latestSnapshot(run.id, "boundary");
      if (this.run && this.run.id === run.id && snap) this.boundary.show(snap);
    } catch (error) {
      if (error.status !== 404) this.onError(error.message);
    }
  }

  async loadOptimizer(run) {
    try {
      const snap = await api.latestSnapshot(run.id, "optimizer");
      if (this.run && this.run.id === run.id && snap) this.showOptimizer(snap);
    } catch (error) {
      if (error.status !== 404) this.onError(error.message);
    }
  }

  async deleteRun() {
    const run = this.run;
    if (!run || isLive(run)) return;
    if (!window.confirm(t("run.deleteConfirm", { name: run.name }))) return;
    try {
      const askForce = (reason) => window.confirm(t("run.deleteForce", { reason }));
      await api.deleteRun(run.id, { askForce });
      this.runs.remove(run.id);
      location.hash = "#/";
    } catch (error) {
      this.onError(error.message);
    }
  }

  refreshLanguage() {
    if (!this.run) return;
    this.renderHeader();
    this.renderEvents();
    this.hparams.refreshLanguage();
    this.about.refreshLanguage();
    this.notes.refreshLanguage();
    this.samples.refreshLanguage();
    this.media.refreshLanguage();
    this.distribution.refreshLanguage();
    this.panels.refreshLanguage();
    this.decide.refreshLanguage();
    this.loadCheckpoints(this.run.id);
    if (this.boundary.snapshot) this.boundary.draw();
  }

  refreshTheme() {
    for (const chart of this.panels.charts()) chart.refreshTheme();
    this.distribution.refreshTheme();
    if (this.boundary.snapshot) this.boundary.draw();
  }
}
