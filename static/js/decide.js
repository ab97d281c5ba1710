// Deciding while it trains (issue 14), wired into the run view: "Find lr", "Race" (its variants
// overlaid on the charts), the autopilot's controls, "Export recipe" and a recipe's changes to
// come, and change impact (hparams events gain `impact` once enough steps followed them; events
// from the socket lack it, so the list is fetched again now and then while points arrive).
import * as api from "./api.js";
import { AutopilotControls } from "./autopilot.js";
import { byWhom, hparamsText } from "./events.js";
import { isLive } from "./format.js";
import { t } from "./i18n.js";
import { LrTestDialog } from "./lrtest.js";
import { RaceOverlay } from "./race.js";
import { RaceDialog } from "./racedialog.js";
import { downloadRecipe, plannedChanges } from "./recipe.js";
import { isTrial } from "./trials.js";

const IMPACT_REFRESH_MS = 3000;

export class Decide {
  /** view: the RunView (run, events, panels, replaceEvents()); runs: the RunList. */
  constructor({ view, live, runs, onError }) {
    this.view = view;
    this.runs = runs;
    this.onError = onError;
    this.status = document.getElementById("decide-status");
    this.findButton = document.getElementById("find-lr-btn");
    this.raceButton = document.getElementById("race-btn");
    this.lrTest = new LrTestDialog({ live });
    this.raceDialog = new RaceDialog({ onStarted: (run, ids, variants) => this.raceStarted(run, ids, variants) });
    this.overlay = new RaceOverlay({
      live,
      panels: () => view.panels,
      maxPoints: () => view.chartWidth(),
      onError,
    });
    this.autopilot = new AutopilotControls({ say: (text, className) => this.say(text, className) });
    this.planned = [];
    this.plannedKey = "";
    this.refreshTimer = null;
    this.findButton.addEventListener("click", () => this.view.run && this.lrTest.open(this.view.run));
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
    if (fresh) this.lrTest.takeEvent(ev);
    this.overlay.takeEvent(ev);
    if (fresh && ev.kind === "race") this.say(raceText(ev), "text-success");
    if (byWhom(ev) === "autopilot") this.autopilot.setHasActions(true);
  }

  /** A button in an event's row: an lr test's curve can be shown again. */
  eventAction(ev) {
    if (ev.kind !== "lr_test") return null;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-link btn-sm p-0 align-baseline lrt-show";
    button.textContent = t("lrt.show");
    button.addEventListener("click", () => this.lrTest.showResult(this.view.run, ev));
    return button;
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
    if (this.view.run) {
      this.plannedKey = "";
      this.showPlanned(this.view.run);
    }
  }
}

function raceText(ev) {
  const payload = ev.payload || {};
  const winner = (payload.results || [])[payload.winner];
  return winner ? t("race.won", { winner: hparamsText(winner.hparams) }) : t("ev.raceNone");
}
