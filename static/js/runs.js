// The sidebar: every run, newest first, with a live status badge, a filter and compare boxes,
// its tags (click one above the list to show only runs carrying it) and, for a chosen metric,
// each run's best and last value. Trial runs (lr tests, races) sit nested under their run.
import * as api from "./api.js";
import { renderChanged } from "./dom.js";
import { integer, isLive, isStale, number, status, statusBadge } from "./format.js";
import { t } from "./i18n.js";
import { isTrial, renderTrials } from "./trials.js";

const METRIC_KEY = "lernkurve.runs.metric";
const SUMMARY_REFRESH_MS = 3000; // while a run is live, its best and last move
export const SUMMARY_KEYS = ["train_loss", "val_loss", "val_accuracy", "loss", "accuracy"];

/** "max" for metrics where higher is better (accuracy and the like), else "min". */
export const modeFor = (key) => (/acc|f1|precision|recall|auc|score/i.test(key) ? "max" : "min");

export class RunList {
  /** onCompareChange(ids) when the set of runs ticked for comparison changes; onCount(n) when
   * the number of runs listed changes. */
  constructor({ onCompareChange, onCount = () => {} }) {
    this.list = document.getElementById("runs-list");
    this.filterBox = document.getElementById("runs-filter");
    this.count = document.getElementById("runs-count");
    this.empty = document.getElementById("runs-empty");
    this.noMatch = document.getElementById("runs-nomatch");
    this.compareButton = document.getElementById("compare-btn");
    this.compareLabel = document.getElementById("compare-label");
    this.clearButton = document.getElementById("compare-clear");
    this.runs = new Map();
    this.items = new Map();
    this.compare = [];
    this.activeId = null;
    this.onCompareChange = onCompareChange;
    this.onCount = onCount;
    this.tagBox = document.getElementById("runs-tags");
    this.activeTags = new Set();
    this.metricInput = document.getElementById("runs-metric");
    this.modeSelect = document.getElementById("runs-mode");
    this.summaries = new Map(); // run id -> summary of the chosen metric (or null)
    this.summaryTimer = null;
    this.summaryAsked = 0;
    this.knownKeys = new Set(SUMMARY_KEYS);
    this.renderKeyOptions();
    this.bindSummary();
    this.filterBox.addEventListener("input", () => this.applyFilter());
    this.clearButton.addEventListener("click", () => this.setCompare([], true));
    this.compareButton.addEventListener("click", () => {
      location.hash = `#/compare/${this.compare.join(",")}`;
    });
  }

  bindSummary() {
    let saved = "";
    try {
      saved = localStorage.getItem(METRIC_KEY) || "";
    } catch {
      saved = "";
    }
    this.metricInput.value = saved;
    this.modeSelect.value = modeFor(saved);
    this.modeChosen = false; // the person picked min/max: a script's definition no longer moves it
    this.metricInput.addEventListener("change", () => {
      this.modeChosen = false;
      this.modeSelect.value = this.modeOf(this.metric());
      try {
        localStorage.setItem(METRIC_KEY, this.metric());
      } catch {
        // storage disabled: the choice lasts for this page
      }
      this.loadSummaries();
    });
    this.modeSelect.addEventListener("change", () => {
      this.modeChosen = true;
      this.loadSummaries();
    });
  }

  /** min or max for a metric: as the newest run that defined it says (wandb's
   * define_metric(name, summary="max"), kept in its config), else by its name. */
  modeOf(metric) {
    const runs = [...this.runs.values()].sort((a, b) => b.id - a.id);
    for (const run of runs) {
      const summary = run.config?.metrics?.[metric]?.summary;
      if (summary === "min" || summary === "max") return summary;
    }
    return modeFor(metric);
  }

  metric() {
    return this.metricInput.value.trim();
  }

  /** Metric keys the page has seen (offered in the metric box). */
  knowKeys(keys) {
    const before = this.knownKeys.size;
    for (const key of keys) this.knownKeys.add(key);
    if (this.knownKeys.size !== before) this.renderKeyOptions();
  }

  renderKeyOptions() {
    const list = document.getElementById("runs-metric-keys");
    list.replaceChildren(...[...this.knownKeys].sort().map((key) => new Option(key, key)));
  }

  /** Fetch each run's best and last value of the chosen metric (or clear them). */
  async loadSummaries() {
    const metric = this.metric();
    const asked = ++this.summaryAsked;
    if (!metric) {
      this.summaries.clear();
    } else {
      let runs;
      try {
        runs = await api.runs({ metric, mode: this.modeSelect.value });
      } catch {
        return; // the list stays as it was; the next refresh tries again
      }
      if (asked !== this.summaryAsked) return;
      this.summaries = new Map(runs.map((run) => [run.id, run.summary ?? null]));
    }
    for (const [id, li] of this.items) this.fillItem(li, this.runs.get(id));
  }

  // Live runs move their best and last: fetch again now and then, not on every point.
  scheduleSummaries() {
    if (!this.metric() || this.summaryTimer !== null) return;
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = null;
      this.loadSummaries();
    }, SUMMARY_REFRESH_MS);
  }

  get(id) {
    return this.runs.get(id);
  }

  all() {
    return [...this.runs.values()];
  }

  setRuns(runs) {
    const seen = new Set(runs.map((r) => r.id));
    for (const id of [...this.runs.keys()]) if (!seen.has(id)) this.remove(id);
    for (const run of runs) this.upsert(run);
    this.updateCounts(); // also with no runs at all: the start page says how to begin
    if (!this.modeChosen) this.modeSelect.value = this.modeOf(this.metric());
    this.loadSummaries();
  }

  /** Add a run or update its row in place (keeps focus and scroll position). */
  upsert(run) {
    const known = this.runs.get(run.id);
    if (isStale(run, known)) return;
    this.runs.set(run.id, run);
    if (isTrial(run)) {
      this.renderTrialsOf(run.parent_id);
      return;
    }
    let item = this.items.get(run.id);
    if (!item) {
      item = this.createItem(run);
      this.items.set(run.id, item);
      this.insertSorted(item, run);
    }
    this.fillItem(item, run);
    this.updateCounts();
    this.renderTagFilters();
    this.applyFilter();
    if (isLive(run) || !this.summaries.has(run.id)) this.scheduleSummaries();
  }

  remove(id) {
    const run = this.runs.get(id);
    if (run && isTrial(run)) {
      this.runs.delete(id);
      this.renderTrialsOf(run.parent_id);
      return;
    }
    this.items.get(id)?.remove();
    this.items.delete(id);
    this.runs.delete(id);
    if (this.compare.includes(id)) this.setCompare(this.compare.filter((x) => x !== id), true);
    this.updateCounts();
    this.renderTagFilters();
    this.applyFilter();
  }

  insertSorted(item, run) {
    // Newest first: a higher id was created later.
    const after = [...this.list.children].find((li) => Number(li.dataset.runId) < run.id);
    this.list.insertBefore(item, after || null);
  }

  createItem(run) {
    const li = document.createElement("li");
    li.className = "list-group-item run-item";
    li.dataset.runId = run.id;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "form-check-input";
    box.addEventListener("change", () => {
      const ids = box.checked
        ? [...this.compare, run.id]
        : this.compare.filter((x) => x !== run.id);
      this.setCompare(ids, true);
    });
    const link = document.createElement("a");
    link.className = "run-link";
    link.href = `#/run/${run.id}`;
    const top = document.createElement("div");
    top.className = "d-flex align-items-center gap-2";
    const title = document.createElement("span");
    title.className = "run-title";
    const badge = document.createElement("span");
    badge.className = "badge ms-auto";
    top.append(title, badge);
    const meta = document.createElement("div");
    meta.className = "run-meta";
    const summary = document.createElement("div");
    summary.className = "run-summary";
    const tags = document.createElement("div");
    tags.className = "run-tags";
    link.append(top, meta, summary, tags);
    li.append(box, link);
    return li;
  }

  fillItem(li, run) {
    const [box, link] = li.children;
    link.querySelector(".run-title").textContent = run.name;
    link.title = run.name;
    statusBadge(link.querySelector(".badge"), run.status);
    const steps = run.total_steps
      ? t("runs.stepOf", { step: integer(run.step), total: integer(run.total_steps) })
      : t("runs.step", { step: integer(run.step ?? 0) });
    link.querySelector(".run-meta").textContent = `${run.task} · #${run.id} · ${steps}`;
    this.fillSummary(link.querySelector(".run-summary"), run);
    const tags = link.querySelector(".run-tags");
    renderChanged(tags, run.tags || [], () =>
      (run.tags || []).map((tag) => {
        const chip = document.createElement("span");
        chip.className = "badge rounded-pill tag-chip";
        chip.textContent = tag;
        return chip;
      }),
    );
    tags.hidden = !(run.tags || []).length;
    box.setAttribute("aria-label", t("runs.compareOne", { name: run.name }));
    box.checked = this.compare.includes(run.id);
    li.classList.toggle("current", run.id === this.activeId);
    this.renderTrialsOf(run.id);
    if (run.id === this.activeId) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }

  fillSummary(el, run) {
    const metric = this.metric();
    const summary = this.summaries.get(run.id);
    el.hidden = !metric || !this.summaries.has(run.id);
    el.dataset.best = summary ? String(summary.best) : "";
    el.dataset.last = summary ? String(summary.last) : "";
    el.textContent = summary
      ? t("runs.summary", { best: number(summary.best), step: integer(summary.best_step), last: number(summary.last) })
      : t("runs.summaryNone", { metric });
  }

  /** One toggle per tag any run carries; several pressed: runs carrying all of them. */
  renderTagFilters() {
    const all = new Set();
    for (const run of this.runs.values()) for (const tag of run.tags || []) all.add(tag);
    for (const tag of [...this.activeTags]) if (!all.has(tag)) this.activeTags.delete(tag);
    const sorted = [...all].sort((a, b) => a.localeCompare(b));
    const shown = [...this.tagBox.children].map((b) => b.dataset.tag);
    if (sorted.join("\u0000") !== shown.join("\u0000")) {
      this.tagBox.replaceChildren(
        ...sorted.map((tag) => {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "btn btn-outline-secondary btn-sm tag-filter";
          button.dataset.tag = tag;
          button.textContent = tag;
          button.addEventListener("click", () => this.toggleTag(tag));
          return button;
        }),
      );
    }
    for (const button of this.tagBox.children) {
      button.setAttribute("aria-pressed", String(this.activeTags.has(button.dataset.tag)));
      button.title = t("tags.filter", { tag: button.dataset.tag });
    }
    this.tagBox.hidden = !sorted.length;
  }

  toggleTag(tag) {
    if (this.activeTags.has(tag)) this.activeTags.delete(tag);
    else this.activeTags.add(tag);
    this.renderTagFilters();
    this.applyFilter();
  }

  setActive(id) {
    this.activeId = id;
    for (const [runId, li] of this.items) this.fillItem(li, this.runs.get(runId));
  }

  /** Tick exactly these runs for comparison; notify when the user changed it. */
  setCompare(ids, notify = false) {
    this.compare = [...new Set(ids)].filter((id) => this.runs.has(id));
    for (const [id, li] of this.items) li.children[0].checked = this.compare.includes(id);
    const n = this.compare.length;
    this.compareLabel.dataset.i18nN = String(n);
    this.compareLabel.textContent = t("runs.compare", { n });
    this.compareButton.disabled = n < 1;
    this.clearButton.disabled = n < 1;
    if (notify) this.onCompareChange(this.compare);
  }

  applyFilter() {
    const words = this.filterBox.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const [id, li] of this.items) {
      const run = this.runs.get(id);
      const tags = run.tags || [];
      const text = `${run.name} ${run.task} ${run.status} ${status(run.status)} #${run.id} ${tags.join(" ")}`.toLowerCase();
      const match = words.every((w) => text.includes(w)) && [...this.activeTags].every((tag) => tags.includes(tag));
      li.hidden = !match;
      if (match) shown += 1;
    }
    this.noMatch.hidden = !(this.items.size && !shown);
    this.list.dataset.shown = String(shown);
  }

  updateCounts() {
    this.count.textContent = String(this.items.size);
    this.empty.hidden = this.items.size > 0;
    this.onCount(this.items.size);
  }

  /** The trials badge under a run's row (nothing while its row is not here). */
  renderTrialsOf(parentId) {
    const li = this.items.get(parentId);
    if (!li) return;
    const children = [...this.runs.values()].filter((r) => r.parent_id === parentId && isTrial(r));
    renderTrials(li, parentId, children);
  }

  refreshLanguage() {
    for (const [id, li] of this.items) this.fillItem(li, this.runs.get(id));
    this.setCompare(this.compare);
    this.renderTagFilters();
  }
}
