// "Find lr": an LR range test from the run's current state. The trial's points live in a child
// run (followed here for progress); its result is an `lr_test` event on the run, drawn as loss
// against lr (log axis) with the suggestion marked and an "Apply" that sends an lr change.
/* global Chart, bootstrap */
import * as api from "./api.js";
import { integer, number } from "./format.js";
import { t } from "./i18n.js";
import { smooth } from "./series.js";

const SUGGESTION_COLOR = "#2f9e44";
const CURVE_COLOR = "#1c7ed6";
const CURVE_SMOOTHING = 0.8; // one batch's loss is noisy: the trend is what to read

export class LrTestDialog {
  constructor({ live }) {
    this.live = live;
    this.modalEl = document.getElementById("lr-test-modal");
    this.modal = bootstrap.Modal.getOrCreateInstance(this.modalEl);
    this.form = document.getElementById("lr-test-form");
    this.inputs = { min_lr: "lrt-min", max_lr: "lrt-max", steps: "lrt-steps" };
    this.startButton = document.getElementById("lrt-start");
    this.applyButton = document.getElementById("lrt-apply");
    this.message = document.getElementById("lrt-message");
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

  /** Open for a run; a trial or result of another run is forgotten. */
  open(run) {
    if (!this.run || this.run.id !== run.id) this.reset();
    this.run = run;
    this.render();
    this.modal.show();
  }

  /** Show an earlier test's result (an `lr_test` event of the run). */
  showResult(run, ev) {
    this.open(run);
    this.takeResult(ev);
  }

  reset() {
    this.trial?.sub?.close();
    this.trial = null;
    this.result = null;
    this.say("", "");
    this.render();
  }

  body() {
    const read = (name) => Number(document.getElementById(this.inputs[name]).value.trim());
    const body = { min_lr: read("min_lr"), max_lr: read("max_lr"), steps: Math.round(read("steps")) };
    if (!(body.min_lr > 0 && body.max_lr > body.min_lr)) throw new Error(t("lrt.badRange"));
    if (!(body.steps >= 2)) throw new Error(t("lrt.badSteps"));
    return body;
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
    document.getElementById("lrt-suggestion").textContent = Number.isFinite(lr)
      ? t("lrt.suggested", { lr: number(lr, 3) })
      : t("lrt.noSuggestion");
    this.applyButton.disabled = !Number.isFinite(lr);
    const finite = (y) => (Number.isFinite(y) ? y : null);
    const points = (payload.lrs || []).map((x, i) => ({ x, y: finite(payload.losses?.[i]) }));
    const config = curveConfig(points, lr, payload.metric || "loss");
    if (this.chart) this.chart.destroy();
    this.chart = new Chart(document.getElementById("lrt-canvas"), config);
  }

  async apply() {
    const lr = this.result?.payload?.suggested_lr;
    if (!this.run || !Number.isFinite(lr)) return;
    this.applyButton.disabled = true;
    try {
      await api.patchHparams(this.run.id, { lr });
      this.say(t("lrt.applied", { lr: number(lr, 3) }), "text-success");
    } catch (error) {
      this.say(error.message, "text-danger");
    } finally {
      this.applyButton.disabled = false;
    }
  }

  say(text, className) {
    this.message.textContent = text;
    this.message.className = `small mt-2 ${className}`;
  }

  refreshLanguage() {
    if (this.run) this.render();
  }
}

/** Loss against lr on a log axis, the suggestion as a vertical line. */
function curveConfig(points, lr, metric) {
  const annotations = {};
  if (Number.isFinite(lr)) {
    annotations.suggested = {
      type: "line",
      scaleID: "x",
      value: lr,
      borderColor: SUGGESTION_COLOR,
      borderWidth: 2,
      label: { display: true, content: t("lrt.suggested", { lr: number(lr, 3) }), position: "start" },
    };
  }
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
        x: { type: "logarithmic", title: { display: true, text: "lr" }, ticks: { callback: decadeLabel, autoSkip: false, maxRotation: 0 } },
        y: { type: "linear", title: { display: true, text: metric } },
      },
      plugins: { legend: { display: false }, annotation: { annotations }, zoom: false },
    },
  };
}

// A log axis has a tick at 1..9 of every decade: label the powers of ten only.
function decadeLabel(v) {
  const exponent = Math.log10(v);
  return Math.abs(exponent - Math.round(exponent)) < 1e-9 ? number(v, 2) : "";
}
