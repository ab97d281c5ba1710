// The run's hparam panel, built from run.config.schema: live values, edits and "Apply".
// A refused value shows the server's message at its field and changes nothing. Below the lr
// field: how an lr change applies to a schedule, and the optimizer's param groups. Beside it,
// ×0.5 and ×2 send a factor: lr as it stands when the change lands, times the factor. A change
// sent says when it landed (its hparams event: the step, the seconds since it was sent), or,
// when it has not after LANDING_WAIT_MS, why it may not have.
import * as api from "./api.js";
import { describeEvent } from "./events.js";
import { integer, isLive, number, value as formatValue } from "./format.js";
import { Field } from "./fields.js";
import { language, t } from "./i18n.js";
import { OptimizerView } from "./optimizer.js";

const LANDING_WAIT_MS = 5000;
const RECENT_EVENTS = 20; // hparams events kept: a change's own may come before its answer

export class HparamPanel {
  constructor() {
    this.form = document.getElementById("hp-form");
    this.liveBox = document.getElementById("hp-live");
    this.fixedBox = document.getElementById("hp-fixed");
    this.fixedDetails = document.getElementById("hp-fixed-box");
    this.message = document.getElementById("hp-message");
    this.applyButton = document.getElementById("hp-apply");
    this.resetButton = document.getElementById("hp-reset");
    this.fields = new Map();
    this.run = null;
    this.signature = null;
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.apply();
    });
    this.resetButton.addEventListener("click", () => this.reset());
    this.optimizer = new OptimizerView((text, className, alert) => this.say(text, className, alert));
    this.timesBox = document.getElementById("lr-times");
    this.timesButtons = [...this.timesBox.querySelectorAll("button[data-factor]")];
    this.scaling = false;
    for (const button of this.timesButtons) {
      button.addEventListener("click", () => this.scaleLr(Number(button.dataset.factor)));
    }
    this.timesLanguage = null;
    this.landing = null; // {runId, keys, after, sentAt, step, deferred, timer, late}: on its way
    this.lastEventId = 0;
    this.recent = []; // [{ev, at}]: the latest hparams events and when they arrived
  }

  /** Show a run: rebuilds the fields when the run or its schema changed, else refreshes values. */
  show(run) {
    const schema = (run.config && run.config.schema) || {};
    const signature = `${run.id}|${JSON.stringify(schema)}`;
    if (signature !== this.signature) {
      if (this.run?.id !== run.id) this.forgetLanding();
      this.signature = signature;
      this.build(schema, run);
      this.say("", "");
    }
    this.optimizer.setRun(run);
    this.update(run);
  }

  build(schema, run) {
    this.fields.clear();
    this.liveBox.replaceChildren();
    this.fixedBox.replaceChildren();
    for (const [key, spec] of Object.entries(schema)) {
      if (spec.live) {
        const field = new Field(key, spec, run.hparams[key], { prefix: "run", showNow: true });
        this.fields.set(key, field);
        this.liveBox.append(field.root);
      } else {
        const dt = document.createElement("dt");
        dt.className = "col-6 font-monospace fw-normal text-truncate";
        dt.textContent = key;
        const dd = document.createElement("dd");
        dd.className = "col-6 mb-1 font-monospace";
        dd.dataset.key = key;
        this.fixedBox.append(dt, dd);
      }
    }
    this.fixedDetails.hidden = !this.fixedBox.children.length;
    this.optimizer.attach(this.fields.get("lr") ?? null);
    if (this.scalable()) this.fields.get("lr").label.parentElement.append(this.timesBox);
    this.timesBox.hidden = !this.scalable();
    if (!this.fields.size) {
      const p = document.createElement("p");
      p.className = "small text-body-secondary mb-0";
      p.textContent = t("hp.noLive");
      this.liveBox.append(p);
    }
  }

  update(run) {
    this.run = run;
    const live = isLive(run);
    for (const [key, field] of this.fields) {
      field.showNow(run.hparams[key]);
      if (!field.dirty) field.setRounded(run.hparams[key]);
      field.setDisabled(!live);
    }
    for (const dd of this.fixedBox.querySelectorAll("dd")) {
      dd.textContent = formatValue(run.hparams[dd.dataset.key]);
    }
    this.applyButton.disabled = !live || !this.fields.size;
    this.resetButton.disabled = !live || !this.fields.size;
    this.renderTimes();
    if (!live && this.fields.size) this.sayEnded();
  }

  /** The run ended: a change still on its way says why it won't land (once it is late). */
  sayEnded() {
    if (!this.landing) this.say(t("hp.finished"), "text-body-secondary");
    else if (this.landing.late) this.sayLate(this.landing);
  }

  reset() {
    for (const [key, field] of this.fields) field.setRounded(this.run.hparams[key]);
    this.say("", "");
  }

  async apply() {
    const run = this.run;
    const changes = {};
    for (const [key, field] of this.fields) {
      field.setError(null);
      // Only what the user edited: a shown value may be rounded, or already old (a schedule).
      if (field.dirty && field.changedFrom(run.hparams[key])) changes[key] = field.get();
    }
    if (!Object.keys(changes).length) {
      this.say(t("hp.noChange"), "text-body-secondary");
      return;
    }
    this.applyButton.disabled = true;
    try {
      const sentAt = performance.now();
      const answer = await api.patchHparams(run.id, this.withLrMode(changes));
      for (const key of Object.keys(changes)) this.fields.get(key).dirty = false;
      this.saySent(answer, t("hp.applied"));
      this.expect(run, Object.keys(changes), answer, sentAt);
    } catch (error) {
      const field = error.key && this.fields.get(error.key);
      if (field) {
        field.setError(error.message);
        field.input.focus();
      }
      this.say(error.message, "text-danger", true);
    } finally {
      this.applyButton.disabled = !isLive(this.run);
    }
  }

  /** Whether the run has a live decimal lr, the one key a factor can scale. */
  scalable() {
    return this.fields.get("lr")?.spec.type === "float";
  }

  renderTimes() {
    this.labelTimes();
    const usable = Boolean(this.run) && isLive(this.run) && this.scalable() && !this.scaling;
    for (const button of this.timesButtons) button.disabled = !usable;
  }

  /** ×0.5 in this language's digits (×0,5 in German); again only when the language changed. */
  labelTimes() {
    if (this.timesLanguage === language()) return;
    this.timesLanguage = language();
    for (const button of this.timesButtons) {
      const factor = number(Number(button.dataset.factor));
      button.textContent = t("hp.lrTimes", { factor });
      button.setAttribute("aria-label", t("hp.lrTimesLabel", { factor }));
      button.title = t("hp.lrTimesLabel", { factor });
    }
  }

  /** ×0.5 or ×2: a factor on lr as it stands when the run applies it (a schedule goes on). */
  async scaleLr(factor) {
    const run = this.run;
    if (!run || !isLive(run) || !this.scalable()) return;
    this.scaling = true;
    this.renderTimes();
    try {
      const sentAt = performance.now();
      const answer = await api.patchHparams(run.id, { lr: { scale: factor } });
      if (this.run?.id === run.id) this.saySent(answer, t("hp.lrTimesSent", { factor: number(factor) }));
      this.expect(run, ["lr"], answer, sentAt);
    } catch (error) {
      if (this.run?.id === run.id) this.say(error.message, "text-danger", true);
    } finally {
      this.scaling = false;
      this.renderTimes();
    }
  }

  /** The PATCH body: an lr change says how it applies when the run has a schedule. */
  withLrMode(changes) {
    const mode = "lr" in changes ? this.optimizer.mode() : null;
    return mode ? { ...changes, lr_mode: mode } : changes;
  }

  /** An `optimizer` snapshot arrived (fetched or broadcast). */
  showOptimizer(snapshot) {
    this.optimizer.show(snapshot);
  }

  /** Whether the latest optimizer snapshot says lr follows a schedule. */
  lrScheduled() {
    return Boolean(this.optimizer.snapshot?.payload.scheduled);
  }

  /** A change was accepted: it applies at the next step, or waits for a running trial. */
  saySent(answer, sent) {
    if (answer?.deferred) this.say(t("hp.deferred"), "text-warning-emphasis");
    else this.say(sent, "text-success");
  }

  // ---- did it land? ---------------------------------------------------------------------

  /**
   * A change of keys was sent at sentAt (performance.now()) and accepted: say when its
   * hparams event arrives, or why not after LANDING_WAIT_MS. Changes sent from elsewhere on
   * the page (an lr test's Apply, an Undo) are followed here too.
   */
  expect(run, keys, answer, sentAt) {
    this.forgetLanding();
    const landing = { runId: run.id, keys, after: this.lastEventId, sentAt, step: run.step };
    landing.deferred = answer?.deferred ?? null;
    landing.timer = setTimeout(() => this.sayLate(landing), LANDING_WAIT_MS);
    this.landing = landing;
    // On a busy page the change's event can come before the answer to its request did.
    for (const { ev, at } of this.recent) if (at >= sentAt && this.landing === landing) this.landed(landing, ev, at);
  }

  forgetLanding() {
    clearTimeout(this.landing?.timer);
    this.landing = null;
  }

  /** An event of the open run (live or fetched): the awaited change's own hparams event? */
  takeEvent(ev) {
    const news = ev.id > this.lastEventId; // not one fetched again (a reconnect)
    this.lastEventId = Math.max(this.lastEventId, ev.id);
    if (ev.kind !== "hparams") return;
    const at = performance.now();
    if (news) this.recent.push({ ev, at });
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    if (this.landing && ev.id > this.landing.after) this.landed(this.landing, ev, at);
  }

  /** Say the awaited change landed if `ev` (arrived at `at`) is its own hparams event. */
  landed(landing, ev, at) {
    const changed = ev.payload?.changes || {};
    if (ev.run_id !== landing.runId || ev.payload?.by || !landing.keys.some((key) => key in changed)) return;
    this.forgetLanding();
    const seconds = (at - landing.sentAt) / 1000;
    const what = describeEvent(ev).join(", ");
    this.say(t("hp.landed", { what, step: integer(ev.step), seconds: number(seconds, 2) }), "text-success");
  }

  /** Not landed within LANDING_WAIT_MS: the likeliest reason, from what the page knows (a
   * paused run applies changes while it waits, so a pause is never the reason). */
  sayLate(landing) {
    if (this.landing !== landing || this.run?.id !== landing.runId) return;
    landing.late = true; // kept: the event may still come, or the run end meanwhile
    this.say(t("hp.late", { why: this.lateReason(landing) }), "text-warning-emphasis", true);
  }

  lateReason(landing) {
    const run = this.run;
    if (!isLive(run)) return t("hp.lateGone", { status: t(`status.${run.status}`) });
    if (landing.deferred) return t("hp.lateTrial");
    if (run.step > landing.step) return t("hp.lateNoBoundary", { step: integer(run.step) });
    return t("hp.lateSlow");
  }

  say(text, className, alert = false) {
    this.message.textContent = text;
    this.message.className = `small mt-2 ${className}`;
    this.message.setAttribute("role", alert ? "alert" : "status");
  }

  refreshLanguage() {
    for (const field of this.fields.values()) field.refreshLanguage();
    this.optimizer.refreshLanguage();
    this.renderTimes();
    if (this.run && !isLive(this.run) && this.fields.size) this.say(t("hp.finished"), "text-body-secondary");
  }
}
