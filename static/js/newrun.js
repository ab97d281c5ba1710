// The "New run" dialog, generated from /api/tasks; also forks a run from a checkpoint. A new run
// may replay another run's recipe (its changes at the same steps).
// Validation is the server's: its message appears at the field it names.
/* global bootstrap */
import * as api from "./api.js";
import { dialogCloser } from "./dom.js";
import { Field } from "./fields.js";
import { optional, t } from "./i18n.js";
import { RecipeChoice } from "./recipe.js";

export class NewRunDialog {
  /** onCreated(run); runs() -> the runs whose recipe may be replayed. */
  constructor({ onCreated, runs = () => [] }) {
    this.modalEl = document.getElementById("new-run-modal");
    this.modal = bootstrap.Modal.getOrCreateInstance(this.modalEl);
    this.close = dialogCloser(this.modalEl, this.modal);
    this.form = document.getElementById("new-run-form");
    this.taskSelect = document.getElementById("new-task");
    this.taskDesc = document.getElementById("new-task-desc");
    this.nameInput = document.getElementById("new-name");
    this.nameError = this.form.querySelector('[data-error-for="name"]');
    this.fieldsBox = document.getElementById("new-hparams");
    this.errorBox = document.getElementById("new-error");
    this.title = document.getElementById("new-run-title");
    this.submitLabel = document.getElementById("new-submit-label");
    this.submitButton = document.getElementById("new-submit");
    this.onCreated = onCreated;
    this.tasks = [];
    this.fields = new Map();
    this.forkFrom = null;
    this.recipeChoice = new RecipeChoice(runs);
    this.taskSelect.addEventListener("change", () => this.buildFields());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.modalEl.addEventListener("shown.bs.modal", () => {
      (this.forkFrom ? this.nameInput : this.taskSelect).focus();
    });
  }

  async open() {
    this.forkFrom = null;
    this.setMode();
    if (!this.tasks.length) {
      try {
        this.tasks = await api.tasks();
      } catch (error) {
        this.showError(error.message);
      }
      this.taskSelect.replaceChildren();
      for (const task of this.tasks) {
        const option = document.createElement("option");
        option.value = task.name;
        option.textContent = optional(`task.${task.name}.title`) || task.title || task.name;
        this.taskSelect.append(option);
      }
    }
    this.nameInput.value = "";
    this.recipeChoice.fill(false);
    this.buildFields();
    this.modal.show();
  }

  /** Fork `run` from `checkpoint`, with the run's schema and current values prefilled. */
  openFork(run, checkpoint) {
    this.forkFrom = { run, checkpoint };
    this.setMode();
    this.recipeChoice.fill(true);
    this.nameInput.value = "";
    this.buildFields();
    this.modal.show();
  }

  setMode() {
    const fork = this.forkFrom;
    this.taskSelect.disabled = Boolean(fork);
    if (fork) {
      this.taskSelect.replaceChildren(new Option(fork.run.task, fork.run.task));
      this.tasks = [];
      this.title.removeAttribute("data-i18n");
      this.title.textContent = t("fork.title", { name: fork.run.name, step: fork.checkpoint.step });
      this.submitLabel.dataset.i18n = "fork.submit";
      this.submitLabel.textContent = t("fork.submit");
    } else {
      this.title.dataset.i18n = "new.title";
      this.title.textContent = t("new.title");
      this.submitLabel.dataset.i18n = "new.submit";
      this.submitLabel.textContent = t("new.submit");
    }
  }

  schema() {
    if (this.forkFrom) return this.forkFrom.run.config?.schema || {};
    const task = this.tasks.find((x) => x.name === this.taskSelect.value);
    this.taskDesc.textContent = task
      ? optional(`task.${task.name}.description`) || task.description || ""
      : "";
    return task ? task.hparams : {};
  }

  buildFields() {
    this.showError(null);
    this.setNameError(null);
    this.fields.clear();
    this.fieldsBox.replaceChildren();
    const schema = this.schema();
    if (this.forkFrom) this.taskDesc.textContent = "";
    const values = this.forkFrom ? this.forkFrom.run.hparams : {};
    for (const [key, spec] of Object.entries(schema)) {
      const field = new Field(key, spec, key in values ? values[key] : spec.default, { prefix: "new" });
      const col = document.createElement("div");
      col.className = "col-md-6";
      col.append(field.root);
      this.fields.set(key, field);
      this.fieldsBox.append(col);
    }
  }

  async submit() {
    this.showError(null);
    this.setNameError(null);
    for (const field of this.fields.values()) field.setError(null);
    const hparams = {};
    for (const [key, field] of this.fields) {
      if (!this.forkFrom || field.changedFrom(this.forkFrom.run.hparams[key])) hparams[key] = field.get();
    }
    const name = this.nameInput.value.trim();
    this.submitButton.disabled = true;
    try {
      let run;
      if (this.forkFrom) {
        const body = { checkpoint_id: this.forkFrom.checkpoint.id, hparams };
        if (name) body.name = name;
        run = await api.fork(this.forkFrom.run.id, body);
      } else {
        const body = { task: this.taskSelect.value, hparams };
        if (name) body.name = name;
        const recipe = await this.recipeChoice.recipe();
        if (recipe) body.recipe = recipe;
        run = await api.createRun(body);
      }
      this.close();
      this.onCreated(run);
    } catch (error) {
      const field = error.key && this.fields.get(error.key);
      if (field) {
        field.setError(error.message);
        field.input.focus();
      } else if (error.key === "name") {
        this.setNameError(error.message);
      } else {
        this.showError(error.message);
      }
    } finally {
      this.submitButton.disabled = false;
    }
  }

  setNameError(message) {
    this.nameInput.classList.toggle("is-invalid", Boolean(message));
    this.nameError.textContent = message || "";
  }

  showError(message) {
    this.errorBox.hidden = !message;
    this.errorBox.textContent = message || "";
  }

  refreshLanguage() {
    if (this.forkFrom) this.setMode();
    for (const option of this.taskSelect.options) {
      const task = this.tasks.find((x) => x.name === option.value);
      if (task) option.textContent = optional(`task.${task.name}.title`) || task.title || task.name;
    }
    if (!this.forkFrom) this.schema();
    for (const field of this.fields.values()) field.refreshLanguage();
    this.recipeChoice.refreshLanguage();
  }
}
