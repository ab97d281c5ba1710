// Trial runs (an lr test's or a race's child runs) belong under the run they tried things for:
// the sidebar lists them nested under it, behind a count, never as runs of their own.
import { renderChanged } from "./dom.js";
import { hparamsText } from "./events.js";
import { status } from "./format.js";
import { t } from "./i18n.js";

const TRIAL_KINDS = ["lr_test", "race"];
const expanded = new Set(); // parent ids whose trials are shown

export const isTrial = (run) => Boolean(run.parent_id) && TRIAL_KINDS.includes(run.config?.kind);

/** What a trial tried: "lr test" or "race: lr=0.003". */
export function trialLabel(run) {
  if (run.config?.kind === "lr_test") return t("trial.lrTest");
  return t("trial.race", { variant: hparamsText(run.config?.variant) });
}

/** The count badge and (when opened) the nested list of a run's trials, below its row. */
export function renderTrials(li, parentId, children) {
  let box = li.querySelector(".run-trials");
  if (!children.length) {
    box?.remove();
    return;
  }
  if (!box) {
    box = document.createElement("div");
    box.className = "run-trials";
    li.append(box);
  }
  const sorted = [...children].sort((a, b) => a.id - b.id);
  // A race's child runs update several times a second: only what the list shows redraws it.
  renderChanged(box, sorted.map(trialText), () => {
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "btn btn-link btn-sm p-0 trials-toggle";
    toggle.dataset.count = String(sorted.length);
    const icon = document.createElement("i");
    icon.setAttribute("aria-hidden", "true");
    const badge = document.createElement("span");
    badge.className = "badge rounded-pill text-bg-light border trial-count";
    badge.textContent = String(sorted.length);
    toggle.append(icon, " ", badge, " ", t(sorted.length === 1 ? "trial.countOne" : "trial.count", { n: sorted.length }));
    const list = document.createElement("ul");
    list.className = "list-unstyled trial-list mb-0";
    list.append(...sorted.map(trialItem));
    const show = (open) => {
      toggle.setAttribute("aria-expanded", String(open));
      icon.className = `bi ${open ? "bi-caret-down-fill" : "bi-caret-right-fill"}`;
      list.hidden = !open;
    };
    toggle.addEventListener("click", () => {
      const open = !expanded.has(parentId);
      if (open) expanded.add(parentId);
      else expanded.delete(parentId);
      show(open);
    });
    show(expanded.has(parentId));
    return [toggle, list];
  });
}

const trialText = (run) => `${trialLabel(run)} · #${run.id} · ${status(run.status)}`;

function trialItem(run) {
  const li = document.createElement("li");
  li.dataset.runId = String(run.id);
  const link = document.createElement("a");
  link.href = `#/run/${run.id}`;
  link.textContent = trialText(run);
  li.append(link);
  return li;
}
