// "Import TensorBoard logs": a folder of event files on this machine becomes runs (scalars).
// The server imports it as a job: the dialog shows how far it got, can cancel it (the run being
// imported goes back as it was), and names each file it could not import, with the byte where
// it broke, and each one it skipped.
/* global bootstrap */
import * as api from "./api.js";
import { t } from "./i18n.js";

const POLL_MS = 400;
const JOBS = "/api/import/tensorboard";

async function call(method, path) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${api.token}` };
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "omit" });
  } catch (error) {
    throw new api.ApiError(0, "network", error.message);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new api.ApiError(response.status, error.code || `http_${response.status}`, error.message || response.statusText);
  }
  return data;
}

const count = (n) => Number(n || 0).toLocaleString();

export class TbImportDialog {
  constructor({ onImported }) {
    const $ = (id) => document.getElementById(id);
    this.modalEl = $("tb-import-modal");
    this.modal = bootstrap.Modal.getOrCreateInstance(this.modalEl);
    this.form = $("tb-import-form");
    this.input = $("tb-logdir");
    this.result = $("tb-import-result");
    this.message = $("tb-import-message");
    this.details = $("tb-import-details");
    this.progress = $("tb-import-progress");
    this.bar = $("tb-import-bar");
    this.status = $("tb-import-status");
    this.submitButton = $("tb-import-submit");
    this.cancelButton = $("tb-import-cancel");
    this.onImported = onImported;
    this.job = null;
    this.timer = null;
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.modalEl.addEventListener("shown.bs.modal", () => this.input.focus());
  }

  open() {
    if (!this.job) this.result.hidden = true;
    this.modal.show();
  }

  async submit() {
    const logdir = this.input.value.trim();
    if (!logdir || this.job) return;
    this.submitButton.disabled = true;
    this.result.hidden = true;
    try {
      const { job } = await api.importTensorboard(logdir);
      this.follow(job);
    } catch (error) {
      this.submitButton.disabled = false;
      this.show("danger", error.message);
    }
  }

  follow(job) {
    this.job = job;
    if (job.state === "running") {
      this.showProgress(job);
      this.timer = setTimeout(() => this.poll(), POLL_MS);
    } else {
      this.finish(job);
    }
  }

  async poll() {
    if (!this.job) return;
    try {
      const { job } = await call("GET", `${JOBS}/${encodeURIComponent(this.job.id)}`);
      this.follow(job);
    } catch (error) {
      this.stop();
      this.show("danger", error.message);
    }
  }

  async cancel() {
    if (!this.job) return;
    this.cancelButton.disabled = true;
    try {
      await call("DELETE", `${JOBS}/${encodeURIComponent(this.job.id)}`);
      this.status.textContent = t("tb.cancelling");
    } catch (error) {
      this.show("danger", error.message);
    }
  }

  showProgress(job) {
    const p = job.progress;
    const share = p.bytes_total ? p.bytes_done / p.bytes_total : p.files_found ? p.files_done / p.files_found : 0;
    const percent = Math.round(Math.min(1, share) * 100);
    this.bar.style.width = `${percent}%`;
    this.progress.querySelector(".progress").setAttribute("aria-valuenow", String(percent));
    const words = p.phase === "walking"
      ? t("tb.walking")
      : t(p.waiting ? "tb.waiting" : "tb.progress", {
          files: count(p.files_done),
          total: count(p.files_found),
          points: count(p.points),
          run: p.current || "",
        });
    if (!job.cancel_requested) this.status.textContent = words;
    this.progress.hidden = false;
    this.cancelButton.hidden = false;
    this.cancelButton.disabled = job.cancel_requested;
  }

  finish(job) {
    this.stop();
    const runs = job.runs || [];
    const points = runs.reduce((sum, run) => sum + (run.added || 0), 0);
    let kind = "success";
    let text = t("tb.done", { runs: runs.length, points: count(points) });
    if (job.state === "failed") {
      kind = "danger";
      text = (job.error && job.error.message) || job.message;
    } else if (job.state === "cancelled") {
      kind = "warning";
      text = t("tb.cancelled", { runs: runs.length, points: count(points) });
    } else if (!runs.length && !(job.errors || []).length && !job.bound) {
      kind = "warning";
      text = job.message;
    } else if ((job.errors || []).length || job.bound) {
      kind = "warning";
      if (job.bound) text += ` ${t("tb.stopped", { why: job.bound.message })}`;
    }
    const lines = [
      ...(job.errors || []).map((e) => t("tb.failed", { run: e.run, why: e.message })),
      ...(job.skipped || []).map((s) => t("tb.skipped", { path: s.path, why: s.reason })),
    ];
    if (job.skipped_more) lines.push(t("tb.skippedMore", { n: count(job.skipped_more) }));
    this.show(kind, text, lines);
    if (runs.length) this.onImported?.(runs);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.job = null;
    this.progress.hidden = true;
    this.cancelButton.hidden = true;
    this.cancelButton.disabled = false;
    this.submitButton.disabled = false;
  }

  show(kind, text, lines = []) {
    this.result.className = `alert alert-${kind} mt-3 mb-0`;
    this.message.textContent = text;
    this.details.replaceChildren(
      ...lines.map((line) => {
        const item = document.createElement("li");
        item.textContent = line;
        return item;
      }),
    );
    this.details.hidden = !lines.length;
    this.result.hidden = false;
  }
}
