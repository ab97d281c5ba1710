// The disk-full banner. A script that cannot write because the disk is full keeps training and
// records in its run row how many points wait in its memory (`pending`, null once it writes
// again); the banner shows the sum over the live runs.
import * as i18n from "./i18n.js";

const LIVE = ["running", "paused"];
const waiting = new Map(); // run id -> points waiting

function take(run) {
  if (run.pending > 0 && LIVE.includes(run.status)) waiting.set(run.id, run.pending);
  else waiting.delete(run.id);
}

function render() {
  const total = [...waiting.values()].reduce((sum, n) => sum + n, 0);
  document.getElementById("disk-banner").hidden = total === 0;
  document.getElementById("disk-text").textContent = i18n.t("disk.full", {
    n: total.toLocaleString(i18n.language()),
  });
}

/** Keep the banner in step with the runs the server broadcasts. */
export function watchDiskFull(live) {
  live.onRun((run) => {
    take(run);
    render();
  });
  live.onRunDeleted((id) => {
    waiting.delete(id);
    render();
  });
  i18n.onLanguageChange(render);
}

/** Start from a runs list as the page loaded it (the broadcasts keep it up to date). */
export function takeRuns(runs) {
  for (const run of runs) take(run);
  render();
}
