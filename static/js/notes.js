// A run's tags and Markdown note, edited in place and stored with the run (PATCH /api/runs/<id>).
import * as api from "./api.js";
import { renderChanged } from "./dom.js";
import { t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

/** A tag as stored: trimmed, inner whitespace collapsed. */
export const cleanTag = (text) => String(text).trim().replace(/\s+/g, " ");

export class NotesPanel {
  /** onSaved(run) with the run the server answered; onError(message). */
  constructor({ onSaved, onError }) {
    this.onSaved = onSaved;
    this.onError = onError;
    this.run = null;
    this.tagsList = document.getElementById("tags-list");
    this.tagForm = document.getElementById("tag-form");
    this.tagInput = document.getElementById("tag-input");
    this.view = document.getElementById("note-view");
    this.empty = document.getElementById("note-empty");
    this.form = document.getElementById("note-form");
    this.input = document.getElementById("note-input");
    this.editButton = document.getElementById("note-edit");
    this.status = document.getElementById("notes-status");
    this.tagForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.addTag(this.tagInput.value);
    });
    this.editButton.addEventListener("click", () => this.edit());
    document.getElementById("note-cancel").addEventListener("click", () => this.stopEditing());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.save({ notes: this.input.value }).then((ok) => ok && this.stopEditing());
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.stopEditing();
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) this.form.requestSubmit();
    });
  }

  show(run) {
    const other = !this.run || this.run.id !== run.id;
    this.run = run;
    if (other) {
      this.stopEditing();
      this.status.textContent = "";
      this.tagInput.value = "";
    }
    this.renderTags();
    this.renderNote();
  }

  tags() {
    return Array.isArray(this.run?.tags) ? this.run.tags : [];
  }

  renderTags() {
    renderChanged(this.tagsList, this.tags(), () =>
      this.tags().map((tag) => {
        const chip = document.createElement("span");
        chip.className = "badge rounded-pill tag-chip";
        chip.dataset.tag = tag;
        const text = document.createElement("span");
        text.textContent = tag;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "btn-close tag-remove";
        remove.setAttribute("aria-label", t("tags.remove", { tag }));
        remove.addEventListener("click", () => this.save({ tags: this.tags().filter((x) => x !== tag) }));
        chip.append(text, remove);
        return chip;
      }),
    );
  }

  renderNote() {
    const notes = this.run?.notes || "";
    if (this.shownNotes !== notes) {
      this.shownNotes = notes; // a link in the note keeps its click while the run updates
      this.view.innerHTML = renderMarkdown(notes); // escaped by renderMarkdown: no raw HTML
    }
    const editing = !this.form.hidden; // a note arriving meanwhile does not cover the editor
    this.view.hidden = editing || !notes.trim();
    this.empty.hidden = editing || Boolean(notes.trim());
  }

  addTag(text) {
    const tag = cleanTag(text);
    if (!tag) return;
    this.tagInput.value = "";
    if (this.tags().includes(tag)) return;
    this.save({ tags: [...this.tags(), tag] });
  }

  edit() {
    this.input.value = this.run?.notes || "";
    this.form.hidden = false;
    this.editButton.hidden = true;
    this.view.hidden = true;
    this.empty.hidden = true;
    this.input.focus();
  }

  stopEditing() {
    this.form.hidden = true;
    this.editButton.hidden = false;
    if (this.run) this.renderNote();
  }

  /** PATCH the run; true when the server took it. */
  async save(body) {
    const run = this.run;
    if (!run) return false;
    this.status.textContent = t("notes.saving");
    try {
      const saved = await api.patchRun(run.id, body);
      if (this.run && this.run.id === saved.id) {
        this.run = saved;
        this.renderTags();
        this.renderNote();
      }
      this.status.textContent = t("notes.saved");
      this.onSaved(saved);
      return true;
    } catch (error) {
      this.status.textContent = "";
      this.onError(error.message);
      return false;
    }
  }

  refreshLanguage() {
    if (this.run) this.renderTags();
  }
}
