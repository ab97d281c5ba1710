// The runs table of compare: a row per run (every run, not only the ticked ones), with its
// status, tags, step, best and last of the chosen metric and one column per hparam. Only
// hparams that differ show unless "show all" is on; a column's header sorts the rows by it
// (again: the other way round); the filter takes words, `key=value` and `key<value`.
import { integer, number, status, statusBadge, value as formatValue } from "./format.js";
import { t } from "./i18n.js";

/** Order two cell values: numbers by size, missing ones last, the rest as text. */
export function compareValues(a, b) {
  const missing = (v) => v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));
  if (missing(a) || missing(b)) return missing(a) - missing(b);
  if (typeof a === "number" && typeof b === "number") return a - b;
  const text = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  return text(a).localeCompare(text(b), undefined, { numeric: true });
}

const TEST = /^([^<>=\s]+)(<=|>=|=|<|>)(.+)$/;

/** One filter word as a test of a row: `lr<0.1`, `optimizer=adam`, or text it contains. */
function wordTest(word, columns) {
  const match = word.match(TEST);
  const column = match && columns.find((c) => (c.hparam ? c.label : c.key).toLowerCase() === match[1]);
  if (!column) return (row) => row.text.includes(word);
  const [, , op, wanted] = match;
  const target = Number(wanted);
  return (row) => {
    const v = column.value(row.run);
    if (v === null || v === undefined) return false;
    if (op === "=") return String(v).toLowerCase() === wanted || (typeof v === "number" && v === target);
    if (typeof v !== "number" || !Number.isFinite(target)) return false;
    return { "<": v < target, ">": v > target, "<=": v <= target, ">=": v >= target }[op];
  };
}

export class CompareTable {
  /** styleOf(runId) -> {color, dash} of a compared run; isCompared(runId); onToggle(runId, on). */
  constructor({ styleOf, isCompared, onToggle, onRender = () => {} }) {
    this.table = document.getElementById("cmp-table");
    this.showAllBox = document.getElementById("cmp-show-all");
    this.sameNote = document.getElementById("cmp-same");
    this.filterBox = document.getElementById("cmp-filter");
    this.countNote = document.getElementById("cmp-count");
    this.styleOf = styleOf;
    this.isCompared = isCompared;
    this.onToggle = onToggle;
    this.onRender = onRender;
    this.sort = null; // {key, dir: 1 | -1}
    this.last = null;
    this.shown = []; // the runs shown, in their order, and the hparam columns (for the chart)
    this.showAllBox.addEventListener("change", () => this.again());
    this.filterBox.addEventListener("input", () => this.again());
  }

  again() {
    if (this.last) this.render(this.last);
  }

  /** The columns for these runs: fixed ones, then each hparam any of them has. */
  columns({ runs, summaries, metric, changes }) {
    const columns = [
      { key: "name", label: t("cmp.name"), value: (r) => r.name, name: true },
      { key: "status", label: t("cmp.status"), value: (r) => r.status, badge: true },
      { key: "tags", label: t("cmp.tags"), value: (r) => (r.tags || []).join(", ") || null, text: (v) => v ?? "" },
      { key: "step", label: t("cmp.step"), value: (r) => r.step, text: integer },
      { key: "best", label: t("cmp.best", { metric }), value: (r) => summaries.get(r.id)?.best ?? null, text: number },
      { key: "last", label: t("cmp.last", { metric }), value: (r) => summaries.get(r.id)?.last ?? null, text: number },
    ];
    const keys = [];
    const seen = new Set();
    for (const run of runs) {
      for (const key of Object.keys(run.hparams || {})) {
        if (!seen.has(key)) keys.push(key);
        seen.add(key);
      }
    }
    for (const key of keys) {
      const values = new Set(runs.map((r) => JSON.stringify(r.hparams?.[key] ?? null)));
      const moved = runs.some((r) => (changes[r.id]?.[key]?.length ?? 0) > 1);
      columns.push({
        key: `hp:${key}`,
        label: key,
        value: (r) => r.hparams?.[key],
        path: (r) => changes[r.id]?.[key],
        text: formatValue,
        hparam: true,
        differs: values.size > 1 || moved,
      });
    }
    return columns;
  }

  /** runs: every run to list (newest first); summaries: Map id -> {best, last}; metric: its
   * label; changes: {id: {key: [{step, value}]}} of hparams that changed during a run. */
  render(data) {
    this.last = data;
    const words = this.filterBox.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const all = this.columns(data);
    const tests = words.map((w) => wordTest(w, all));
    const rows = data.runs.map((run) => ({ run, text: this.searchText(run) }));
    const runs = rows.filter((row) => tests.every((test) => test(row))).map((row) => row.run);
    const columns = this.columns({ ...data, runs });
    const sortColumn = this.sort && columns.find((c) => c.key === this.sort.key);
    if (!sortColumn) this.sort = null;
    const ordered = sortColumn
      ? [...runs].sort((a, b) => this.sort.dir * compareValues(sortColumn.value(a), sortColumn.value(b)) || b.id - a.id)
      : runs;
    // One run differs from nothing: it shows all its hparams.
    const onlyDiffering = !this.showAllBox.checked && runs.length > 1;
    const hparams = columns.filter((c) => c.hparam);
    const hidden = onlyDiffering ? hparams.filter((c) => !c.differs).length : 0;
    const shown = columns.filter((c) => !c.hparam || c.differs || !onlyDiffering);
    this.shown = { runs: ordered, hparams: shown.filter((c) => c.hparam) };
    // Live runs render this twice a second: new elements under a pressed mouse button would
    // swallow its click, so the same rows and columns only get their cells' contents again.
    const shape = JSON.stringify([
      ordered.map((r) => [r.id, this.isCompared(r.id) && this.styleOf(r.id)]),
      shown.map((c) => [c.key, c.label, Boolean(c.differs)]),
      this.sort,
    ]);
    if (shape === this.shape) {
      const trs = this.table.tBodies[0].rows;
      ordered.forEach((run, i) => shown.forEach((column, j) => this.fill(trs[i].cells[j + 1], column, run)));
    } else {
      this.shape = shape;
      this.table.tHead.replaceChildren(this.head(shown));
      this.table.tBodies[0].replaceChildren(...ordered.map((run) => this.row(run, shown)));
    }
    this.sameNote.hidden = !(hidden && hidden === hparams.length);
    this.sameNote.textContent = t("cmp.allSame", { n: hidden });
    this.countNote.textContent = t("cmp.count", { shown: integer(runs.length), n: integer(data.runs.length) });
    this.table.dataset.hiddenColumns = String(hidden);
    this.table.dataset.rows = String(ordered.length);
    this.onRender(this.shown);
  }

  searchText(run) {
    const hparams = Object.entries(run.hparams || {}).map(([k, v]) => `${k}=${formatValue(v)}`);
    const tags = (run.tags || []).join(" ");
    return `${run.name} ${run.task} ${run.status} ${status(run.status)} #${run.id} ${tags} ${hparams.join(" ")}`.toLowerCase();
  }

  head(columns) {
    const head = document.createElement("tr");
    const corner = document.createElement("th");
    corner.scope = "col";
    corner.className = "cmp-pick";
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = t("cmp.drawn");
    corner.append(label);
    head.append(corner);
    for (const column of columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.dataset.col = column.key;
      if (column.differs) th.className = "differs";
      if (column.hparam) th.classList.add("font-monospace", "fw-normal");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cmp-sort";
      button.title = t("cmp.sortBy", { label: column.label });
      button.textContent = column.label;
      button.addEventListener("click", () => this.sortBy(column.key));
      if (this.sort?.key === column.key) {
        th.setAttribute("aria-sort", this.sort.dir > 0 ? "ascending" : "descending");
        const icon = document.createElement("i");
        icon.className = `bi ${this.sort.dir > 0 ? "bi-sort-up" : "bi-sort-down"} sort-icon`;
        icon.setAttribute("aria-hidden", "true");
        button.append(icon);
      }
      th.append(button);
      head.append(th);
    }
    return head;
  }

  row(run, columns) {
    const tr = document.createElement("tr");
    tr.dataset.runId = run.id;
    const compared = this.isCompared(run.id);
    if (compared) tr.className = "compared";
    const pick = document.createElement("td");
    pick.className = "cmp-pick";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "form-check-input";
    box.checked = compared;
    box.setAttribute("aria-label", t("cmp.drawOne", { name: run.name }));
    box.addEventListener("change", () => this.onToggle(run.id, box.checked));
    pick.append(box);
    tr.append(pick, ...columns.map((column) => this.cell(column, run, compared)));
    return tr;
  }

  cell(column, run, compared) {
    const td = document.createElement(column.name ? "th" : "td");
    td.dataset.col = column.key;
    if (column.name) {
      td.scope = "row";
      td.className = "fw-normal cmp-name";
      const swatch = document.createElement("span");
      swatch.className = "run-swatch me-2 align-middle";
      if (compared) {
        const style = this.styleOf(run.id);
        swatch.style.background = style.color;
        if (style.dash) swatch.classList.add("dashed");
      } else swatch.classList.add("off");
      const link = document.createElement("a");
      link.href = `#/run/${run.id}`;
      link.title = run.name;
      td.append(swatch, link);
    } else if (column.badge) td.append(document.createElement("span"));
    else if (column.key !== "tags") td.className = "font-monospace";
    if (column.differs) td.classList.add("differs");
    this.fill(td, column, run);
    return td;
  }

  fill(td, column, run) {
    const value = column.value(run);
    if (column.badge) {
      statusBadge(td.firstElementChild, value);
      return;
    }
    let text;
    let title = "";
    const path = column.path?.(run);
    if (column.name) {
      const link = td.querySelector("a");
      text = `${run.name} (#${run.id})`;
      if (link.textContent !== text) link.textContent = text;
      return;
    } else if (path && path.length > 1) {
      // An hparam changed during the run: where it started, each change, where it is now.
      text = path.map((p) => formatValue(p.value)).join(" → ");
      title = path
        .map((p) => (p.step === null ? t("cmp.pathStart", { value: formatValue(p.value) }) : t("cmp.pathStep", { value: formatValue(p.value), step: integer(p.step) })))
        .join(" · ");
    } else text = column.text ? column.text(value) : String(value ?? "–");
    if (td.textContent !== text) td.textContent = text;
    if (td.title !== title) td.title = title;
  }

  sortBy(key) {
    this.sort = this.sort?.key === key ? { key, dir: -this.sort.dir } : { key, dir: 1 };
    this.again();
    this.table.querySelector(`th[data-col="${CSS.escape(key)}"] .cmp-sort`)?.focus();
  }
}
