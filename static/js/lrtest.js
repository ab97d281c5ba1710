// "Find lr": an LR range test from the run's current state. The trial's points live in a child
// run (followed here for progress); its result is an `lr_test` event on the run, drawn as loss
// against lr (log axis over the range asked for) with the suggestion marked, why it stopped,
// and an "Apply" that says old → new first. A curve without a clear minimum says so instead
// of a number.
/* global Chart, bootstrap */
import * as api from "./api.js";
import { ChangeBox, changeText, factorOf, isDrastic, lossFirst, lossKey } from "./decisions.js";
import { integer, number } from "./format.js";
import { t } from "./i18n.js";
import { smooth } from "./series.js";

const SUGGESTION_COLOR = "#2f9e44";
const STOP_COLOR = "#e03131";
const CURVE_COLOR = "#1c7ed6";
const CURVE_SMOOTHING = 0.8; // one batch's loss is noisy: the trend is what to read
const FEW_DECADES = 2; // a narrower axis labels 2 and 5 of each decade too

export class LrTestDialog {
  /** currentRun() -> the open run as it stands; onSent(run, keys, answer, sentAt) per change. */
  constructor({ live, currentRun, onSent }) {
    this.live = live;
    this.currentRun = currentRun;
    this.onSent = onSent;
    this.modalEl = document.getElementById("lr-test-modal");
    this.modal = bootstrap.Modal.getOrCreateInstance(this.modalEl);
    this.form = document.getElementById("lr-test-form");
    this.inputs = { min_lr: "lrt-min", max_lr: "lrt-max", steps: "lrt-steps" };
    this.metricInput = document.getElementById("lrt-metric");
    this.startButton = document.getElementById("lrt-start");
    this.applyButton = document.getElementById("lrt-apply");
    this.message = document.getElementById("lrt-message");
    this.change = new ChangeBox(document.getElementById("lrt-change"));
    this.run = null;
    this.trial = null; // {childId, steps, seen: Set, sub}
    this.result = null; // the lr_test event shown
    this.chart = null;
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.start();
    });
    this.applyButton.addEventListener("click", () => this.apply());
  }

  /** Open for a run; a trial or result of another run is forgotten. keys: the keys it logs. */
  open(run, keys = []) {
    if (!this.run || this.run.id !== run.id) {
      this.reset();
      this.offerMetrics(keys);
      this.metricInput.value = lossKey(keys) ?? "";
    }
    this.run = run;
    this.render();
    this.modal.show();
  }

  /** The keys the run logs, offered as the metric to watch. */
  offerMetrics(keys) {
    const list = document.getElementById("lrt-metric-keys");
    list.replaceChildren(...lossFirst(keys).map((k) => new Option(k, k)));
  }

  /** Show an earlier test's result (an `lr_test` event of the run). */
  showResult(run, ev, keys = []) {
    this.open(run, keys);
    this.takeResult(ev);
  }

  reset() {
    this.trial?.sub?.close();
    this.trial = null;
    this.result = null;
    this.change.clear();
    this.say("", "");
    this.render();
  }

  body() {
    const read = (name) => Number(document.getElementById(this.inputs[name]).value.trim());
    const body = { min_lr: read("min_lr"), max_lr: read("max_lr"), steps: Math.round(read("steps")) };
    if (!(body.min_lr > 0 && body.max_lr > body.min_lr)) throw new Error(t("lrt.badRange"));
    if (!(body.steps >= 2)) throw new Error(t("lrt.badSteps"));
    const metric = this.metricInput.value.trim();
    return metric ? { ...body, metric } : body;
  }

  async start() {
    if (!this.run || this.trial) return;
    let body;
    try {
      body = this.body();
    } catch (error) {
      this.say(error.message, "text-danger");
      return;
    }
    this.say("", "");
    this.result = null;
    this.startButton.disabled = true;
    try {
      const { run_id: childId } = await api.lrTest(this.run.id, body);
      this.follow(childId, body.steps);
    } catch (error) {
      if (error.details?.keys?.length) this.offerMetrics(error.details.keys);
      this.say(error.message, "text-danger");
    }
    this.render();
  }

  // The child run's points say how far the trial is.
  follow(childId, steps) {
    // Its result may have arrived before the POST's answer (a refusal is read below).
    if (this.result?.payload?.run_id === childId) return;
    const trial = { childId, steps, seen: new Set(), sub: null };
    trial.sub = this.live.subscribe(childId, 0, {
      onPoints: (points) => {
        for (const p of points) trial.seen.add(p[2]);
        this.renderProgress();
      },
    });
    this.trial = trial;
    api.run(childId).then(
      (child) => this.takeChildRun(child),
      () => {}, // the child's broadcasts still come; nothing to say yet
    );
  }

  /** An event of the open run arrived: the result when it is this test's (or any, if none runs). */
  takeEvent(ev) {
    if (ev.kind !== "lr_test" || !this.run || ev.run_id !== this.run.id) return;
    if (this.trial && ev.payload?.run_id !== undefined && ev.payload.run_id !== this.trial.childId) return;
    this.takeResult(ev);
  }

  /** The trial's child run ended without a result (failed or stopped). */
  takeChildRun(child) {
    if (!this.trial || child.id !== this.trial.childId) return;
    if (["failed", "stopped", "interrupted"].includes(child.status)) {
      this.reset();
      this.say(t("lrt.failed", { message: child.error || child.status }), "text-danger");
    }
  }

  takeResult(ev) {
    this.reset();
    this.result = ev;
    this.render();
    this.showChange();
  }

  render() {
    const running = Boolean(this.trial);
    this.startButton.disabled = running || !this.run;
    document.getElementById("lrt-progress-box").hidden = !running;
    document.getElementById("lrt-result").hidden = !this.result;
    if (running) this.renderProgress();
    if (this.result) this.drawResult();
  }

  renderProgress() {
    const trial = this.trial;
    if (!trial) return;
    const done = Math.min(trial.seen.size, trial.steps);
    document.getElementById("lrt-progress-text").textContent = t("lrt.running", {
      step: integer(done),
      total: integer(trial.steps),
    });
    document.getElementById("lrt-progress-bar").style.width = `${((100 * done) / trial.steps).toFixed(1)}%`;
  }

  drawResult() {
    const payload = this.result.payload || {};
    const lr = payload.suggested_lr;
    document.getElementById("lrt-suggestion").textContent = verdictText(payload);
    const stopped = document.getElementById("lrt-stopped");
    stopped.textContent = stopText(payload);
    stopped.hidden = !payload.stopped_because;
    this.applyButton.disabled = !Number.isFinite(lr);
    this.applyButton.hidden = !Number.isFinite(lr);
    const finite = (y) => (Number.isFinite(y) ? y : null);
    const points = (payload.lrs || []).map((x, i) => ({ x, y: finite(payload.losses?.[i]) }));
    const config = curveConfig(points, payload);
    if (this.chart) this.chart.destroy();
    this.chart = new Chart(document.getElementById("lrt-canvas"), config);
  }

  /** The suggestion as a change of the run's lr as it stands: "lr 0.00209 → 8.6e-4 (×0.41)". */
  suggestedChange() {
    const lr = this.result?.payload?.suggested_lr;
    const run = this.currentRun() ?? this.run;
    if (!run || run.id !== this.run?.id || !Number.isFinite(lr)) return null;
    const now = run.hparams?.lr;
    return { run, now, lr, factor: factorOf(now, lr), text: changeText("lr", now, lr) };
  }

  showChange() {
    const change = this.suggestedChange();
    if (change) this.change.show(change.text);
  }

  /** Send the suggestion; beyond ×0.1 … ×10 only once asked again; then offer Undo. */
  async apply() {
    const change = this.suggestedChange();
    if (!change) return;
    if (isDrastic(change.factor)) {
      this.applyButton.disabled = true;
      const sure = await this.change.confirm(t("change.drastic", { change: change.text }), t("change.applyAnyway"));
      this.applyButton.disabled = false;
      if (!sure) return this.showChange();
    }
    this.applyButton.disabled = true;
    try {
      await this.send(change.run, { lr: change.lr });
      this.say("", "");
      this.change.offerUndo(t("change.sent", { change: change.text }), () => this.undo(change));
    } catch (error) {
      this.say(error.message, "text-danger");
    } finally {
      this.applyButton.disabled = false;
    }
  }

  /** Back to the lr from before: the factor's inverse, so a schedule keeps its course. */
  undo(change) {
    const back = change.factor === null ? { lr: change.now } : { lr: { scale: 1 / change.factor } };
    return this.send(change.run, back);
  }

  async send(run, body) {
    const sentAt = performance.now();
    const answer = await api.patchHparams(run.id, body);
    this.onSent?.(run, Object.keys(body), answer, sentAt);
    return answer;
  }

  say(text, className) {
    this.message.textContent = text;
    this.message.className = `small mt-2 ${className}`;
  }

  refreshLanguage() {
    if (this.run) this.render();
  }
}

/** What the curve says: the suggestion, or why there is none. */
function verdictText(payload) {
  const lr = payload.suggested_lr;
  if (Number.isFinite(lr)) return t("lrt.suggested", { lr: number(lr, 3) });
  const first = payload.lrs?.[0];
  switch (payload.verdict) {
    case "flat":
      return t("lrt.flat", { from: number(first, 2), to: number(payload.flat_to, 2) });
    case "rising":
      return t("lrt.rising", { from: number(first, 2) });
    case "too_short":
      return t("lrt.tooShort", { n: integer(payload.values ?? 0) });
    case "no_values":
      return t("lrt.noValues", { metric: payload.metric ?? "loss" });
    default:
      return t("lrt.noSuggestion");
  }
}

/** Why the test ended before its last step ("" when it ran them all). */
function stopText(payload) {
  const where = { step: integer(payload.steps), total: integer(payload.planned_steps ?? payload.steps) };
  if (payload.stopped_because === "diverged") {
    return t("lrt.stoppedDiverged", { ...where, ratio: number(payload.diverge_ratio ?? 4) });
  }
  if (payload.stopped_because === "not_finite") return t("lrt.stoppedNotFinite", where);
  return "";
}

function marker(value, color, content, position, dash = []) {
  return {
    type: "line",
    scaleID: "x",
    value,
    borderColor: color,
    borderWidth: 2,
    borderDash: dash,
    label: { display: true, content, position },
  };
}

/** Loss against lr on a log axis over the range asked for; the suggestion and the stop marked. */
function curveConfig(points, payload) {
  const lr = payload.suggested_lr;
  const metric = payload.metric || "loss";
  const annotations = {};
  if (Number.isFinite(lr)) annotations.suggested = marker(lr, SUGGESTION_COLOR, t("lrt.suggested", { lr: number(lr, 3) }), "start");
  const last = points.at(-1)?.x;
  if (payload.stopped_because && Number.isFinite(last)) {
    annotations.stopped = marker(last, STOP_COLOR, t("lrt.stopMark", { step: integer(payload.steps) }), "end", [4, 3]);
  }
  const min = payload.min_lr ?? points[0]?.x;
  const max = payload.max_lr ?? last;
  return {
    type: "line",
    data: {
      datasets: [
        { lkId: "lr_test", label: metric, data: points, borderColor: `${CURVE_COLOR}55`, borderWidth: 1 },
        {
          lkId: "lr_test:smoothed",
          label: t("chart.smoothed", { label: metric }),
          data: smooth(points, CURVE_SMOOTHING),
          borderColor: CURVE_COLOR,
          borderWidth: 2,
        },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      elements: { point: { radius: 0, hitRadius: 4 } },
      scales: {
        x: {
          type: "logarithmic",
          min,
          max,
          title: { display: true, text: "lr" },
          ticks: { callback: tickLabel, autoSkip: false, maxRotation: 0 },
        },
        y: { type: "linear", title: { display: true, text: metric } },
      },
      plugins: { legend: { display: false }, annotation: { annotations }, zoom: false },
    },
  };
}

// A log axis has a tick at 1..9 of every decade: label the powers of ten, and 2 and 5 too
// where the axis spans only a decade or two.
function tickLabel(v) {
  const mantissa = Number(v.toExponential(3).split("e")[0]);
  const decades = Math.log10(this.max / this.min);
  const labelled = mantissa === 1 || (decades <= FEW_DECADES && (mantissa === 2 || mantissa === 5));
  return labelled ? number(v, 2) : "";
}
