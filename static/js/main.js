// Lernkurve's dashboard: wires the modules together and routes #/run/<id> and #/compare/<ids>.
import * as api from "./api.js";
import { applyChartTheme } from "./charts.js";
import { CompareView } from "./compare.js";
import { watchAlerts } from "./alerts.js";
import { takeRuns, watchDiskFull } from "./diskfull.js";
import * as i18n from "./i18n.js";
import { NewRunDialog } from "./newrun.js";
import { TbImportDialog } from "./tbimport.js";
import { RunList } from "./runs.js";
import { isTrial } from "./trials.js";
import { RunView } from "./runview.js";
import { setupStartPage } from "./startpage.js";
import { Live } from "./socket.js";
import * as theme from "./theme.js";

const { t } = i18n;

function showError(message) {
  const banner = document.getElementById("error-banner");
  document.getElementById("error-text").textContent = message;
  banner.hidden = false;
}

function explain(error) {
  if (error.status === 401 || error.status === 403) return t("err.auth");
  if (error.code === "network") return t("err.network");
  return t("err.generic", { message: error.message });
}

function setupMenus() {
  const themeIcons = { auto: "bi-circle-half", light: "bi-sun", dark: "bi-moon-stars" };
  const renderMenus = () => {
    const themeChoice = theme.themeChoice();
    for (const item of document.querySelectorAll("#theme-menu [data-theme]")) {
      const active = item.dataset.theme === themeChoice;
      item.classList.toggle("active", active);
      item.setAttribute("aria-current", String(active));
    }
    document.getElementById("theme-icon").className = `bi ${themeIcons[themeChoice]}`;
    const langChoice = i18n.languageChoice();
    for (const item of document.querySelectorAll("#lang-menu [data-lang]")) {
      const active = item.dataset.lang === langChoice;
      item.classList.toggle("active", active);
      item.setAttribute("aria-current", String(active));
    }
    document.getElementById("lang-current").textContent = i18n.language().toUpperCase();
  };
  for (const item of document.querySelectorAll("#theme-menu [data-theme]")) {
    item.addEventListener("click", () => {
      theme.setTheme(item.dataset.theme);
      renderMenus();
    });
  }
  for (const item of document.querySelectorAll("#lang-menu [data-lang]")) {
    item.addEventListener("click", () => {
      i18n.setLanguage(item.dataset.lang);
      renderMenus();
    });
  }
  i18n.onLanguageChange(renderMenus);
  renderMenus();
}

function setConnection(connected) {
  const state = document.getElementById("conn-state");
  state.classList.toggle("online", connected);
  state.classList.toggle("offline", !connected);
  const label = state.querySelector("span");
  label.dataset.i18n = connected ? "conn.online" : "conn.offline";
  label.textContent = t(label.dataset.i18n);
  document.getElementById("conn-banner").hidden = connected;
  document.documentElement.dataset.connection = connected ? "online" : "offline";
}

async function start() {
  theme.init();
  i18n.init();
  applyChartTheme();
  setupMenus();
  document.getElementById("error-close").addEventListener("click", () => {
    document.getElementById("error-banner").hidden = true;
  });
  if (!api.token) {
    // Opened without ?token= in this tab: nothing to connect with. Say how to get in.
    showError(t("err.auth"));
    document.documentElement.dataset.locked = "true";
    return;
  }
  await api.ready();

  const live = new Live();
  watchDiskFull(live);
  const startPage = setupStartPage();
  const runs = new RunList({
    onCount: (n) => startPage.update(n),
    // While the comparison is open, ticking a box changes it at once.
    onCompareChange: (ids) => {
      if (document.getElementById("view-compare").hidden) return;
      location.hash = `#/compare/${ids.join(",")}`; // none ticked: the runs table stays
    },
  });
  watchAlerts(live, (id) => runs.get(id)?.name ?? t("alert.title"));
  const onError = (message) => showError(message);
  const newRun = new NewRunDialog({
    onCreated: (run) => {
      runs.upsert(run);
      location.hash = `#/run/${run.id}`;
    },
    runs: () => runs.all().filter((run) => !isTrial(run)),
  });
  const runView = new RunView({ live, runs, newRun, onError });
  const compare = new CompareView({ live, runs, onError });

  const views = { empty: document.getElementById("view-empty") };
  function route() {
    const [, kind, arg] = location.hash.match(/^#\/(run\/(?=\d)|compare\/?)([\d,]*)/) || [];
    if (kind === "run/") {
      compare.close();
      views.empty.hidden = true;
      runs.setActive(Number(arg));
      runView.open(Number(arg));
    } else if (kind?.startsWith("compare")) {
      const ids = arg.split(",").filter(Boolean).map(Number);
      runView.close();
      runs.setActive(null);
      views.empty.hidden = true;
      runs.setCompare(ids);
      compare.open(ids);
    } else {
      runView.close();
      compare.close();
      runs.setActive(null);
      views.empty.hidden = false;
      document.title = "Lernkurve";
    }
  }

  const tbImport = new TbImportDialog({
    onImported: async () => runs.setRuns(await api.runs()),
  });
  document.getElementById("tb-import-btn").addEventListener("click", () => tbImport.open());
  for (const id of ["new-run-btn", "empty-new-run"]) {
    document.getElementById(id).addEventListener("click", () => newRun.open());
  }

  live.onRun((run) => {
    runs.upsert(run);
    if (runView.run && runView.run.id === run.id) runView.setRun(run);
    compare.onRun(run);
  });
  live.onRunDeleted((id) => {
    runs.remove(id);
    if (runView.run && runView.run.id === id) location.hash = "#/";
  });
  live.onState(async (connected, reconnected) => {
    setConnection(connected);
    if (connected && reconnected) {
      try {
        const list = await api.runs();
        runs.setRuns(list);
        takeRuns(list);
      } catch (error) {
        showError(explain(error));
      }
      runView.catchUp();
    }
  });
  i18n.onLanguageChange(() => {
    runs.refreshLanguage();
    runView.refreshLanguage();
    compare.refreshLanguage();
    newRun.refreshLanguage();
    setConnection(live.connected);
  });
  theme.onThemeChange(() => {
    applyChartTheme();
    runView.refreshTheme();
    compare.refreshTheme();
  });

  const compared = location.hash.match(/^#\/compare\/([\d,]+)/);
  if (compared) compare.prefetchHistories(compared[1].split(",").filter(Boolean).map(Number));
  try {
    const comparing = location.hash.startsWith("#/compare");
    const list = await api.runs(comparing ? compare.summaryQuery() : undefined);
    runs.setRuns(list);
    takeRuns(list);
    if (comparing) compare.takeSummaries(list);
  } catch (error) {
    showError(explain(error));
  }
  window.addEventListener("hashchange", route);
  route();
  document.documentElement.dataset.ready = "true";
}

start();
