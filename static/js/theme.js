// Dark and light theme: follows the system until the user picks one, then remembers it.

const STORAGE_KEY = "lernkurve.theme";
const listeners = new Set();
const media = window.matchMedia("(prefers-color-scheme: dark)");
let choice = "auto";

export function theme() {
  return document.documentElement.getAttribute("data-bs-theme") === "dark" ? "dark" : "light";
}

export function themeChoice() {
  return choice;
}

function render() {
  const next = choice === "auto" ? (media.matches ? "dark" : "light") : choice;
  document.documentElement.setAttribute("data-bs-theme", next);
  for (const fn of listeners) fn(next);
}

/** Pick "light", "dark" or "auto" (follow the system). */
export function setTheme(next) {
  choice = next === "light" || next === "dark" ? next : "auto";
  try {
    if (choice === "auto") localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // Storage may be disabled; the choice then lasts for this page only.
  }
  render();
}

export function onThemeChange(fn) {
  listeners.add(fn);
}

/** A CSS custom property of the current theme, e.g. cssVar("--bs-body-color"). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function init() {
  try {
    choice = localStorage.getItem(STORAGE_KEY) || "auto";
  } catch {
    choice = "auto";
  }
  media.addEventListener("change", () => {
    if (choice === "auto") render();
  });
  render();
}
