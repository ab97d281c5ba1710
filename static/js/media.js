// Images and tables a script logged (snapshots "image" {key, path, caption, width, height} and
// "table" {key, columns, data, rows}): an image per step, scrubbed with a slider, and a table of
// a chosen step. The PNGs come from GET /api/runs/<id>/media/<file> with the download key.
import { mediaUrl } from "./api.js";
import { integer } from "./format.js";
import { t } from "./i18n.js";
import { loadSnapshots } from "./snapshots.js";

const SHOWN_ROWS = 200; // a table's rows drawn at most (the rest: a count)

/** The snapshots of one kind, by key, each key's list by step. */
class ByKey {
  constructor() {
    this.lists = new Map();
    this.key = null;
  }

  add(snap) {
    const key = String(snap.payload?.key ?? "");
    if (!this.lists.has(key)) this.lists.set(key, []);
    const list = this.lists.get(key);
    if (list.some((s) => s.id === snap.id)) return false;
    list.push(snap);
    list.sort((a, b) => a.step - b.step || a.id - b.id);
    return true;
  }

  /** The chosen key's list (the first key when none or a gone one was chosen). */
  current() {
    const keys = [...this.lists.keys()].sort();
    if (!this.lists.has(this.key)) this.key = keys[0] ?? null;
    return this.key === null ? [] : this.lists.get(this.key);
  }

  fillKeys(select) {
    const keys = [...this.lists.keys()].sort();
    select.replaceChildren(...keys.map((k) => new Option(k, k, false, k === this.key)));
    select.hidden = keys.length < 2;
  }
}

export class MediaView {
  constructor({ onError }) {
    this.onError = onError;
    const $ = (id) => document.getElementById(id);
    this.card = $("media-card");
    this.imageBox = $("media-images");
    this.imageKey = $("media-image-key");
    this.slider = $("media-image-step");
    this.at = $("media-image-at");
    this.image = $("media-image");
    this.caption = $("media-caption");
    this.tableBox = $("media-tables");
    this.tableKey = $("media-table-key");
    this.tableStep = $("media-table-step");
    this.tableRows = $("media-table-rows");
    this.table = $("media-table");
    this.images = new ByKey();
    this.tables = new ByKey();
    this.runId = null;
    this.following = true; // the slider sits on the newest image: new ones move it along
    this.imageKey.addEventListener("change", () => {
      this.images.key = this.imageKey.value;
      this.following = true;
      this.renderImages();
    });
    this.slider.addEventListener("input", () => {
      this.following = Number(this.slider.value) === Number(this.slider.max);
      this.showImage();
    });
    this.tableKey.addEventListener("change", () => {
      this.tables.key = this.tableKey.value;
      this.tableStep.value = "";
      this.renderTables();
    });
    this.tableStep.addEventListener("change", () => this.showTable());
  }

  async open(runId) {
    this.clear();
    this.runId = runId;
    await this.merge(runId);
  }

  /** Add the run's images and tables not here yet (after a subscribe, say). */
  async merge(runId) {
    const [images, tables] = await Promise.all([loadSnapshots(this, runId, "image"), loadSnapshots(this, runId, "table")]);
    for (const snap of images || []) this.images.add(snap);
    for (const snap of tables || []) this.tables.add(snap);
    this.render();
  }

  clear() {
    this.runId = null;
    this.images = new ByKey();
    this.tables = new ByKey();
    this.following = true;
    this.card.hidden = true;
    this.image.removeAttribute("src");
  }

  /** An image or table snapshot, arriving live. */
  take(snap) {
    if (snap.run_id !== this.runId) return;
    const into = snap.kind === "image" ? this.images : snap.kind === "table" ? this.tables : null;
    if (into?.add(snap)) this.render();
  }

  render() {
    this.card.hidden = !this.images.lists.size && !this.tables.lists.size;
    this.renderImages();
    this.renderTables();
  }

  renderImages() {
    this.imageBox.hidden = !this.images.lists.size;
    if (!this.images.lists.size) return;
    const list = this.images.current();
    this.images.fillKeys(this.imageKey);
    const last = Math.max(0, list.length - 1);
    this.slider.max = String(last);
    if (this.following || Number(this.slider.value) > last) this.slider.value = String(last);
    this.slider.hidden = list.length < 2;
    this.showImage();
  }

  showImage() {
    const snap = this.images.current()[Number(this.slider.value)];
    if (!snap) return;
    const file = String(snap.payload.path || "").split(/[\\/]/).pop();
    const src = mediaUrl(snap.run_id, file);
    if (this.image.getAttribute("src") !== src) this.image.src = src;
    this.image.alt = t("media.imageAlt", { key: this.images.key, step: integer(snap.step) });
    if (snap.payload.width) this.image.width = snap.payload.width;
    this.at.textContent = t("media.atStep", { step: integer(snap.step) });
    this.image.dataset.step = String(snap.step);
    this.caption.textContent = snap.payload.caption || "";
    this.caption.hidden = !snap.payload.caption;
  }

  renderTables() {
    this.tableBox.hidden = !this.tables.lists.size;
    if (!this.tables.lists.size) return;
    const list = this.tables.current();
    this.tables.fillKeys(this.tableKey);
    const chosen = this.tableStep.value;
    const newest = list[list.length - 1];
    this.tableStep.replaceChildren(
      ...[...list].reverse().map((s) => new Option(t("media.atStep", { step: integer(s.step) }), String(s.id), false, String(s.id) === chosen)),
    );
    if (!list.some((s) => String(s.id) === chosen)) this.tableStep.value = String(newest.id);
    this.tableStep.hidden = list.length < 2;
    this.showTable();
  }

  showTable() {
    const snap = this.tables.current().find((s) => String(s.id) === this.tableStep.value);
    if (!snap) return;
    const { columns = [], data = [], rows = data.length } = snap.payload;
    const head = document.createElement("thead");
    const headRow = head.insertRow();
    for (const name of columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      headRow.append(th);
    }
    const body = document.createElement("tbody");
    for (const row of data.slice(0, SHOWN_ROWS)) {
      const tr = body.insertRow();
      for (const cell of row) tr.insertCell().append(this.cell(snap, cell));
    }
    this.table.replaceChildren(head, body);
    this.table.dataset.step = String(snap.step);
    const shown = Math.min(rows, SHOWN_ROWS, data.length);
    this.tableRows.textContent = rows === 1 ? t("media.rowsOne") : t("media.rows", { shown: integer(shown), n: integer(rows) });
  }

  /** A table cell: text, or an image the table holds ({image: path, caption}). */
  cell(snap, value) {
    if (value && typeof value === "object" && value.image) {
      const img = document.createElement("img");
      img.className = "media-cell-image";
      img.src = mediaUrl(snap.run_id, String(value.image).split(/[\\/]/).pop());
      img.alt = value.caption || "";
      return img;
    }
    return document.createTextNode(value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value));
  }

  refreshLanguage() {
    this.render();
  }
}
