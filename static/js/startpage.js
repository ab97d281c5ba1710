// The start page's "use it from your own script" panel (templates/_empty.html): shown while
// the runs list is empty, and its lines copied with one click.
import * as api from "./api.js";
import { t } from "./i18n.js";

/** A Python string literal of ``text`` (the database path put into the copied lines). */
function pythonString(text) {
  return `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** The init line names this app's database, so the copied lines join it as they are. */
async function fillDatabase(code) {
  try {
    const { database } = await api.health();
    const line = code.querySelector("[data-init]");
    if (database && line) line.textContent = line.textContent.replace(/\)$/, `, db=${pythonString(database)})`);
  } catch {
    // Offline or refused: the lines work with the default database all the same.
  }
}

export function setupStartPage() {
  const panel = document.getElementById("empty-script");
  const code = document.getElementById("start-code");
  fillDatabase(code);
  const copied = document.getElementById("start-copied");
  document.getElementById("start-copy").addEventListener("click", async () => {
    const text = code.textContent;
    try {
      await navigator.clipboard.writeText(text);
      copied.textContent = t("start.copied");
    } catch {
      // No clipboard (an insecure origin, a denied permission): select the lines instead.
      const range = document.createRange();
      range.selectNodeContents(code);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      copied.textContent = t("start.selected");
    }
  });
  return {
    /** count: how many runs the list holds (trials included); the panel shows at 0. */
    update(count) {
      panel.hidden = count > 0;
      if (count > 0) copied.textContent = "";
    },
  };
}
