// The start page's "use it from your own script" panel (templates/_empty.html): shown while
// the runs list is empty, and its lines copied with one click.
import { t } from "./i18n.js";

export function setupStartPage() {
  const panel = document.getElementById("empty-script");
  const code = document.getElementById("start-code");
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
