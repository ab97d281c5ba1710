// Deciding while it trains (issue 14), wired into the run view: "Find lr", "Race" (its variants
// overlaid on the charts), the autopilot's controls, "Export recipe" and a recipe's changes to
// come, and change impact (hparams events gain `impact` once enough steps followed them; events
// from the socket lack it, so the list is fetched again now and then while points arrive).
// A race just ended says who won and by which rule, with its details, and Undo when it changed
// values; every change sent from here is followed to its landing by the hparams panel.
import * as api from "./api.js";
import { AutopilotControls } from "./autopilot.js";
import { ChangeBox, describeChanges, factorOf } from "./decisions.js";
import { byWhom, hparamsText } from "./events.js";
import { isLive } from "./format.js";
import { t } from "./i18n.js";
import { LrTestDialog } from "./lrtest.js";
import { RaceOverlay } from "./race.js";
import { RaceDialog } from "./racedialog.js";
import { RaceResult, ruleText } from "./raceresult.js";
import { downloadRecipe, plannedChanges } from "./recipe.js";
import { isTrial } from "./trials.js";

const IMPACT_REFRESH_MS = 3000;

export class Decide {
  /** view: the RunView (run, events, panels, replaceEvents()); runs: the RunList. */
  constructor({ view, live, runs, onError }) {
    this.view = view;
    this.runs = runs;
    this.onError = onError;
    this.undone = new Set(); // ids of the events whose change Undo took back
    this.status = document.getElementById("decide-status");
    this.findButton = document.getElementById("find-lr-btn");
    this.raceButton = document.getElementById("race-btn");
    const onSent = (run, keys, answer, sentAt) => view.hparams.expect(run, keys, answer, sentAt);
    this.onSent = onSent;
    this.lrTest = new LrTestDialog({ live, currentRun: () => this.view.run, onSent });
    this.raceResult = new RaceResult({ zoom: (min, max) => this.zoom(min, max) });
    this.detailsButton = document.getElementById("race-details");
    this.detailsButton.addEventListener("click", () => this.lastRace && this.raceResult.show(this.lastRace));
    this.change = new ChangeBox(document.getElementById("decide-change"));
    this.lastRace = null;
    this.raceDialog = new RaceDialog({ onStarted: (run, ids, variants) => this.raceStarted(run, ids, variants) });
    this.overlay = new RaceOverlay({
      live,
      panels: () => view.panels,
      maxPoints: () => view.chartWidth(),
      onError,
    });
    this.autopilot = new AutopilotControls({
      say: (text, className) => this.say(text, className),
      metricKeys: () => [...this.view.panels.keys],
    });
    this.planned = [];
    this.plannedKey = "";
    this.refreshTimer = null;
    this.findButton.addEventListener("click", () => this.view.run && this.lrTest.open(this.view.run, this.keys()));
    this.raceButton.addEventListener("click", () => this.openRace());
    document.getElementById("export-recipe").addEventListener("click", () => this.exportRecipe());
    live.onRun((run) => {
      this.lrTest.takeChildRun(run);
      if (this.view.run) this.overlay.takeRun(run, this.view.run.id);
    });
  }

  /** The run's history and events are on the charts: overlay its races, mark its plans. */
  open() {
    const run = this.view.run;
    this.overlay.open(this.runs.all(), run.id);
    for (const ev of this.view.events.values()) this.takeEvent(ev, false);
    this.setRun(run);
  }

  close() {
    this.overlay.close();
    this.autopilot.clear();
    this.lastRace = null;
    this.detailsButton.hidden = true;
    this.change.clear();
    this.planned = [];
    this.plannedKey = "";
    clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    this.say("", "");
    this.render(null);
  }

  /** A run object arrived for the open run. */
  setRun(run) {
    this.render(run);
    this.autopilot.show(run);
    this.showPlanned(run);
  }

  // A trial's own run is driven by its parent: nothing to decide there.
  render(run) {
    const live = Boolean(run) && isLive(run) && !isTrial(run);
    this.findButton.disabled = !live;
    this.raceButton.disabled = !live;
  }

  // ---- events ----------------------------------------------------------------------------

  /** An event of the open run (fresh = it arrived live, not with the history). */
  takeEvent(ev, fresh = true) {
    this.view.hparams.takeEvent(ev);
    if (fresh) this.lrTest.takeEvent(ev);
    this.overlay.takeEvent(ev);
    if (ev.kind === "race") this.takeRace(ev, fresh);
    if (byWhom(ev) === "autopilot") this.autopilot.setHasActions(true);
  }

  /** A race's result: details at hand; just ended, who won by which rule, and Undo. */
  takeRace(ev, fresh) {
    this.lastRace = ev;
    this.detailsButton.hidden = false;
    if (!fresh) return;
    this.say(`${raceText(ev)} ${ruleText(ev.payload || {})}`, "text-success");
    const change = raceChange(ev);
    if (change) this.change.offerUndo(change.text, () => this.undoRace(change));
    else this.change.clear();
  }

  /** Put back the values from before a race; lr by the inverse factor (a schedule goes on). */
  async undoRace(change) {
    const run = this.view.run;
    const body = {};
    for (const [key, [before, after]] of Object.entries(change.values)) {
      const factor = factorOf(after, before);
      body[key] = key === "lr" && factor !== null ? { scale: factor } : before;
    }
    const sentAt = performance.now();
    const answer = await api.patchHparams(run.id, body);
    this.onSent(run, Object.keys(body), answer, sentAt);
  }

  /** Every chart to these steps (on a step axis). */
  zoom(min, max) {
    const stepAxis = document.getElementById("xmode-step");
    if (stepAxis && !stepAxis.checked) stepAxis.click();
    for (const chart of this.view.panels.charts()) chart?.zoomTo(min, max);
  }

  keys() {
    return [...this.view.panels.keys];
  }

  /** A button in an event's row: an lr test's curve, a race's scores can be shown again. */
  eventAction(ev) {
    if (ev.kind === "lr_test") {
      return actionButton(t("lrt.show"), "lrt-show", () => this.lrTest.showResult(this.view.run, ev, this.keys()));
    }
    if (ev.kind === "race") return actionButton(t("race.details"), "race-show", () => this.raceResult.show(ev));
    const by = byWhom(ev);
    if (ev.kind === "hparams" && (by === "agent" || by === "cli") && this.view.run && isLive(this.view.run)) {
      const button = actionButton(t("ev.undo"), "event-undo", () => this.undoChange(ev, button));
      if (this.undone.has(ev.id)) {
        button.disabled = true; // the list is drawn again with each event: once is enough
        button.textContent = t("ev.undone");
      }
      return button;
    }
    return null;
  }

  /** Take back an agent's or the terminal's change: a factor by its inverse, a pinned lr back
   * to its schedule, any other value to what it was. */
  async undoChange(ev, button) {
    const run = this.view.run;
    const { changes = {}, mode, change } = ev.payload || {};
    button.disabled = true;
    this.undone.add(ev.id);
    try {
      if ("lr" in changes && mode === "override") await api.control(run.id, "release");
      const values = {};
      for (const [key, [from]] of Object.entries(changes)) {
        if (key === "lr" && mode === "override") continue;
        values[key] = key === "lr" && mode === "scale" && change ? { scale: 1 / change } : from;
      }
      if (Object.keys(values).length) await api.patchHparams(run.id, values);
      button.textContent = t("ev.undone");
    } catch (error) {
      this.undone.delete(ev.id);
      button.disabled = false;
      this.onError?.(error.message);
    }
  }

  /** Points arrived: while a change waits for its impact, fetch the events again (debounced). */
  takePoints() {
    if (this.refreshTimer !== null || !this.view.run) return;
    const waiting = [...this.view.events.values()].some((ev) => ev.kind === "hparams" && !ev.impact);
    if (!waiting) return;
    const id = this.view.run.id;
    this.refreshTimer = setTimeout(async () => {
      try {
        const events = await api.events(id);
        if (this.view.run && this.view.run.id === id) this.view.replaceEvents(events.filter((ev) => ev.impact));
      } catch {
        // the next points try again
      }
      this.refreshTimer = null;
    }, IMPACT_REFRESH_MS);
  }

  // ---- race, recipe ----------------------------------------------------------------------

  openRace() {
    const run = this.view.run;
    if (!run) return;
    this.raceDialog.open(run, [...this.view.panels.keys]);
  }

  raceStarted(run, ids, variants) {
    if (!this.view.run || this.view.run.id !== run.id) return;
    this.overlay.start(ids, variants);
    this.say(t("race.running", { n: ids.length }), "text-body-secondary");
  }

  async exportRecipe() {
    if (!this.view.run) return;
    try {
      await downloadRecipe(this.view.run);
    } catch (error) {
      this.onError(error.message);
    }
  }

  /** A recipe's changes after the current step, as dashed markers (redrawn when they change). */
  showPlanned(run) {
    const planned = plannedChanges(run);
    const key = JSON.stringify(planned.map((p) => p.step));
    if (key === this.plannedKey) return;
    this.plannedKey = key;
    this.planned = planned;
    for (const chart of this.view.panels.charts()) chart.setPlanned(planned);
  }

  say(text, className) {
    this.status.textContent = text;
    this.status.className = `small ${className}`;
  }

  refreshLanguage() {
    this.lrTest.refreshLanguage();
    this.raceResult.refreshLanguage();
    if (this.view.run) {
      this.plannedKey = "";
      this.showPlanned(this.view.run);
    }
  }
}

function raceText(ev) {
  const payload = ev.payload || {};
  const winner = (payload.results || [])[payload.winner];
  if (!winner) return t("ev.raceNone");
  const key = payload.too_close ? "race.tooCloseStatus" : payload.kept ? "race.keptStatus" : "race.won";
  return t(key, { winner: hparamsText(winner.hparams) });
}

/** What a race changed: {text, values: {key: [before, after]}}; null when it changed nothing. */
function raceChange(ev) {
  const payload = ev.payload || {};
  const winner = (payload.results || [])[payload.winner];
  if (!winner || payload.kept || !payload.before) return null;
  const { texts } = describeChanges(payload.before, winner.hparams);
  if (!texts.length) return null;
  const values = Object.fromEntries(Object.keys(winner.hparams).map((k) => [k, [payload.before[k], winner.hparams[k]]]));
  return { text: t("race.changed", { change: texts.join(", ") }), values };
}

function actionButton(text, className, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `btn btn-link btn-sm p-0 align-baseline ${className}`;
  button.textContent = text;
  button.addEventListener("click", onClick);
  return button;
}
