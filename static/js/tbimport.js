// "Import TensorBoard logs": a folder of event files on this machine becomes runs (scalars).
/* global bootstrap */
import * as api from "./api.js";
import { t } from "./i18n.js";

export class TbImportDialog {
  constructor({ onImported }) {
    this.modalEl = document.getElementById("tb-import-modal");
    this.modal = bootstrap.Modal.getOrCreateInstance(this.modalEl);
    this.form = document.getElementById("tb-import-form");
    this.input = document.getElementById("tb-logdir");
    this.result = document.getElementById("tb-import-result");
    this.submitButton = document.getElementById("tb-import-submit");
    this.onImported = onImported;
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.modalEl.addEventListener("shown.bs.modal", () => this.input.focus());
  }

  open() {
    this.result.hidden = true;
    this.modal.show();
  }

  async submit() {
    const logdir = this.input.value.trim();
    if (!logdir) return;
    this.submitButton.disabled = true;
    try {
      const { runs } = await api.importTensorboard(logdir);
      const points = runs.reduce((sum, run) => sum + (run.added || 0), 0);
      this.show("success", t("tb.done", { runs: runs.length, points }));
      this.onImported?.(runs);
    } catch (error) {
      this.show("danger", error.message);
    } finally {
      this.submitButton.disabled = false;
    }
  }

  show(kind, text) {
    this.result.className = `alert alert-${kind} mt-3 mb-0`;
    this.result.textContent = text;
    this.result.hidden = false;
  }
}
