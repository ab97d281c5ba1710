// The sidebar: every run, newest first, with a live status badge, a filter and compare boxes.
import { integer, isStale, status, statusBadge } from "./format.js";
import { t } from "./i18n.js";

export class RunList {
  /** onCompareChange(ids) when the set of runs ticked for comparison changes. */
  constructor({ onCompareChange }) {
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
    this.filterBox.addEventListener("input", () => this.applyFilter());
    this.clearButton.addEventListener("click", () => this.setCompare([], true));
    this.compareButton.addEventListener("click", () => {
      location.hash = `#/compare/${this.compare.join(",")}`;
    });
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
  }

  /** Add a run or update its row in place (keeps focus and scroll position). */
  upsert(run) {
    const known = this.runs.get(run.id);
    if (isStale(run, known)) return;
    this.runs.set(run.id, run);
    let item = this.items.get(run.id);
    if (!item) {
      item = this.createItem(run);
      this.items.set(run.id, item);
      this.insertSorted(item, run);
    }
    this.fillItem(item, run);
    this.updateCounts();
    this.applyFilter();
  }

  remove(id) {
    this.items.get(id)?.remove();
    this.items.delete(id);
    this.runs.delete(id);
    if (this.compare.includes(id)) this.setCompare(this.compare.filter((x) => x !== id), true);
    this.updateCounts();
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
    link.append(top, meta);
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
    box.setAttribute("aria-label", t("runs.compareOne", { name: run.name }));
    box.checked = this.compare.includes(run.id);
    li.classList.toggle("current", run.id === this.activeId);
    if (run.id === this.activeId) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
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
      const text = `${run.name} ${run.task} ${run.status} ${status(run.status)} #${run.id}`.toLowerCase();
      const match = words.every((w) => text.includes(w));
      li.hidden = !match;
      if (match) shown += 1;
    }
    this.noMatch.hidden = !(this.items.size && !shown);
  }

  updateCounts() {
    this.count.textContent = String(this.runs.size);
    this.empty.hidden = this.runs.size > 0;
  }

  refreshLanguage() {
    for (const [id, li] of this.items) this.fillItem(li, this.runs.get(id));
    this.setCompare(this.compare);
  }
}
