// A script's alerts (wandb.alert: note events by "alert") as toasts in the corner of the page,
// whichever run raised them, and as the system's notification when the page is hidden and the
// person allowed notifications.
import { t } from "./i18n.js";

const SHOWN_MS = 12_000; // an alert stays this long (a person may be looking elsewhere)
const MAX_SHOWN = 4; // older toasts give way

const LEVEL_CLASS = { INFO: "text-bg-info", WARN: "text-bg-warning", ERROR: "text-bg-danger" };

export function watchAlerts(live, runName) {
  const box = document.getElementById("alert-toasts");
  live.onAlert((note) => {
    const payload = note.payload || {};
    const title = String(payload.title ?? t("alert.title"));
    const text = String(payload.text ?? payload.message ?? "");
    const run = t("alert.run", { name: runName(note.run_id), id: note.run_id });
    box.append(toast(note, title, text, run));
    while (box.children.length > MAX_SHOWN) box.firstElementChild.remove();
    notify(title, `${run}: ${text}`);
  });
}

function toast(note, title, text, run) {
  const level = String(note.payload?.level || "INFO").toUpperCase();
  const item = document.createElement("div");
  item.className = "toast show alert-toast";
  item.setAttribute("role", level === "INFO" ? "status" : "alert");
  item.dataset.runId = String(note.run_id);
  const head = document.createElement("div");
  head.className = `toast-header ${LEVEL_CLASS[level] || LEVEL_CLASS.INFO}`;
  const strong = document.createElement("strong");
  strong.className = "me-auto";
  strong.textContent = title;
  const link = document.createElement("a");
  link.href = `#/run/${note.run_id}`;
  link.className = "link-light small me-2";
  link.textContent = run;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "btn-close";
  close.setAttribute("aria-label", t("alert.close"));
  close.addEventListener("click", () => item.remove());
  head.append(strong, link, close);
  const body = document.createElement("div");
  body.className = "toast-body";
  body.textContent = text;
  item.append(head, body);
  setTimeout(() => item.remove(), SHOWN_MS);
  return item;
}

function notify(title, text) {
  if (!document.hidden || !globalThis.Notification || Notification.permission !== "granted") return;
  try {
    new Notification(title, { body: text });
  } catch {
    // a page that may not show notifications keeps its toast
  }
}
