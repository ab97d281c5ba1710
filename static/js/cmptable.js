// The compare table: one column per run, one row per fact (task, status, step, last and best
// of the metric, then each hparam). Only hparams that differ show unless "show all" is on;
// a row's header sorts the run columns by that row (again: the other way round).
import { integer, number, statusBadge, value as formatValue } from "./format.js";
import { t } from "./i18n.js";

/** Order two cell values: numbers by size, missing ones last, the rest as text. */
export function compareValues(a, b) {
  const missing = (v) => v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
  if (missing(a) || missing(b)) return missing(a) - missing(b);
  if (typeof a === "number" && typeof b === "number") return a - b;
  const text = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  return text(a).localeCompare(text(b), undefined, { numeric: true });
}

export class CompareTable {
  /** colorOf(runId) -> the run's colour in the chart. */
  constructor({ colorOf }) {
    this.table = document.getElementById("cmp-table");
    this.showAllBox = document.getElementById("cmp-show-all");
    this.sameNote = document.getElementById("cmp-same");
    this.colorOf = colorOf;
    this.sort = null; // {key, dir: 1 | -1}
    this.last = null;
    this.showAllBox.addEventListener("change", () => this.last && this.render(...this.last));
  }

  rows(runs, summaries, metric) {
    const rows = [
      { key: "task", label: t("cmp.task"), value: (r) => r.task },
      { key: "status", label: t("cmp.status"), value: (r) => r.status, badge: true },
      { key: "step", label: t("cmp.step"), value: (r) => r.step, text: integer },
      { key: "last", label: t("cmp.last", { metric }), value: (r) => summaries.get(r.id)?.last ?? null, text: number },
      { key: "best", label: t("cmp.best", { metric }), value: (r) => summaries.get(r.id)?.best ?? null, text: number },
    ];
    const keys = [];
    for (const run of runs) for (const key of Object.keys(run.hparams || {})) if (!keys.includes(key)) keys.push(key);
    for (const key of keys) {
      const values = runs.map((r) => JSON.stringify(r.hparams?.[key] ?? null));
      rows.push({
        key: `hp:${key}`,
        label: key,
        value: (r) => r.hparams?.[key],
        text: formatValue,
        hparam: true,
        differs: new Set(values).size > 1,
      });
    }
    return rows;
  }

  /** runs in the chosen order; summaries: Map run id -> {last, best}; metric: its label. */
  render(runs, summaries, metric) {
    this.last = [runs, summaries, metric];
    const rows = this.rows(runs, summaries, metric);
    const sortRow = this.sort && rows.find((r) => r.key === this.sort.key);
    if (!sortRow) this.sort = null;
    const ordered = sortRow
      ? [...runs].sort((a, b) => this.sort.dir * compareValues(sortRow.value(a), sortRow.value(b)) || a.id - b.id)
      : runs;
    // One run differs from nothing: it shows all its hparams.
    const onlyDiffering = !this.showAllBox.checked && runs.length > 1;
    const hparams = rows.filter((r) => r.hparam);
    const hidden = onlyDiffering ? hparams.filter((r) => !r.differs).length : 0;
    const shown = rows.filter((r) => !r.hparam || r.differs || !onlyDiffering);
    // Live runs render this twice a second: new elements under a pressed mouse button would
    // swallow its click, so the same rows and columns only get their cells' contents again.
    const shape = JSON.stringify([
      ordered.map((r) => [r.id, r.name]),
      shown.map((r) => [r.key, r.label, Boolean(r.differs)]),
      this.sort,
    ]);
    if (shape === this.shape) {
      const trs = this.table.tBodies[0].rows;
      shown.forEach((row, i) => ordered.forEach((run, j) => this.fill(trs[i].cells[j + 1], row, run)));
    } else {
      this.shape = shape;
      this.table.tHead.replaceChildren(this.head(ordered));
      this.table.tBodies[0].replaceChildren(...shown.map((row) => this.row(row, ordered)));
    }
    this.sameNote.hidden = !(hidden && hidden === hparams.length);
    this.sameNote.textContent = t("cmp.allSame", { n: hidden });
    this.table.dataset.hiddenRows = String(hidden);
  }

  head(runs) {
    const head = document.createElement("tr");
    const corner = document.createElement("th");
    corner.scope = "col";
    corner.textContent = t("cmp.hparam");
    head.append(corner);
    for (const run of runs) {
      const th = document.createElement("th");
      th.scope = "col";
      th.dataset.runId = run.id;
      const swatch = document.createElement("span");
      swatch.className = "run-swatch me-2 align-middle";
      swatch.style.background = this.colorOf(run.id);
      const link = document.createElement("a");
      link.href = `#/run/${run.id}`;
      link.textContent = `${run.name} (#${run.id})`;
      th.append(swatch, link);
      head.append(th);
    }
    return head;
  }

  row(row, runs) {
    const tr = document.createElement("tr");
    tr.dataset.row = row.key;
    if (row.differs) tr.className = "differs";
    const th = document.createElement("th");
    th.scope = "row";
    th.className = row.hparam ? "font-monospace fw-normal" : "fw-normal";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "cmp-sort";
    button.title = t("cmp.sortBy", { label: row.label });
    button.textContent = row.label;
    button.addEventListener("click", () => this.sortBy(row.key));
    if (this.sort?.key === row.key) {
      th.setAttribute("aria-sort", this.sort.dir > 0 ? "ascending" : "descending");
      const icon = document.createElement("i");
      icon.className = `bi ${this.sort.dir > 0 ? "bi-sort-up" : "bi-sort-down"} sort-icon`;
      icon.setAttribute("aria-hidden", "true");
      button.append(icon);
    }
    th.append(button);
    tr.append(th, ...runs.map((run) => this.cell(row, run)));
    return tr;
  }

  cell(row, run) {
    const td = document.createElement("td");
    if (row.badge) td.append(document.createElement("span"));
    else td.className = "font-monospace";
    this.fill(td, row, run);
    return td;
  }

  fill(td, row, run) {
    const value = row.value(run);
    if (row.badge) statusBadge(td.firstElementChild, value);
    else {
      const text = row.text ? row.text(value) : String(value ?? "–");
      if (td.textContent !== text) td.textContent = text;
    }
  }

  sortBy(key) {
    this.sort = this.sort?.key === key ? { key, dir: -this.sort.dir } : { key, dir: 1 };
    if (this.last) this.render(...this.last);
    this.table.querySelector(`tr[data-row="${CSS.escape(key)}"] .cmp-sort`)?.focus();
  }
}
