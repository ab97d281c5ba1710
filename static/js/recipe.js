// Recipes: a run's applied changes as a JSON schedule (step -> command). "Export recipe" saves
// it; a run replaying one shows the changes still to come as dashed markers on its charts.
import * as api from "./api.js";
import { value } from "./format.js";
import { t } from "./i18n.js";

/** Download run's recipe as `<name>-recipe.json`. */
export async function downloadRecipe(run) {
  const recipe = await api.recipe(run.id);
  const blob = new Blob([`${JSON.stringify(recipe, null, 2)}\n`], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = `${run.name}-recipe.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The recipe's steps after the run's current step, as markers [{step, lines}]. */
export function plannedChanges(run) {
  const steps = run?.config?.recipe?.steps || [];
  const now = run?.step ?? 0;
  return steps.filter((entry) => entry.step > now).map((entry) => ({ step: entry.step, lines: describe(entry.command) }));
}

function describe(command) {
  const payload = command?.payload || {};
  if (command?.kind !== "hparams") return [t("recipe.planned", { text: command?.kind ?? "?" })];
  const changes = Object.entries(payload)
    .filter(([key]) => key !== "lr_mode" && key !== "by")
    .map(([key, v]) => `${key} → ${value(v)}`);
  return [t("recipe.planned", { text: changes.join(", ") })];
}

/** "Replay recipe from run…" in the new-run form: a choice of runs, fetched on submit. */
export class RecipeChoice {
  constructor(runs) {
    this.runs = runs; // () -> runs the list shows
    this.box = document.getElementById("new-recipe-box");
    this.select = document.getElementById("new-recipe");
  }

  /** Offer the runs (newest first); hidden when forking. */
  fill(forking) {
    this.box.hidden = forking;
    const none = new Option(t("recipe.none"), "");
    const options = this.runs()
      .sort((a, b) => b.id - a.id)
      .map((run) => new Option(`${run.name} (#${run.id})`, String(run.id)));
    this.select.replaceChildren(none, ...options);
  }

  /** The chosen run's recipe, or null. */
  async recipe() {
    if (this.box.hidden || !this.select.value) return null;
    const { steps } = await api.recipe(Number(this.select.value));
    return { steps };
  }

  refreshLanguage() {
    if (this.select.options.length) this.select.options[0].textContent = t("recipe.none");
  }
}
