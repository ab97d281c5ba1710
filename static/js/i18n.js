// English and German UI texts; follows the system language unless the user picks one.
// Markup carries English defaults plus data-i18n* attributes, which apply() fills in.

const STORAGE_KEY = "lernkurve.lang";
export const LANGUAGES = ["en", "de"];

const TEXTS = {
  en: {
    "common.close": "Close",
    "conn.connecting": "Connecting…",
    "conn.online": "Live",
    "conn.offline": "Offline",
    "conn.lost": "Connection lost. Reconnecting… nothing is lost, the page catches up.",
    "nav.newRun": "New run",
    "nav.language": "Language",
    "nav.theme": "Theme",
    "lang.auto": "System language",
    "theme.auto": "System",
    "theme.light": "Light",
    "theme.dark": "Dark",
    "runs.title": "Runs",
    "runs.filter": "Filter runs",
    "runs.empty": "No runs yet. Start one with “New run”.",
    "runs.noMatch": "No run matches the filter.",
    "runs.compare": "Compare ({n})",
    "runs.compareOne": "Compare {name}",
    "runs.stepOf": "step {step} / {total}",
    "runs.step": "step {step}",
    "status.queued": "queued",
    "status.running": "running",
    "status.paused": "paused",
    "status.completed": "completed",
    "status.stopped": "stopped",
    "status.failed": "failed",
    "status.interrupted": "interrupted",
    "empty.title": "Pick a run, or start a new one",
    "empty.text": "Loss, accuracy and learning rate update live while a run trains; you can steer it from here.",
    "run.task": "Task",
    "run.progress": "Progress",
    "run.stepOf": "Step {step} of {total}",
    "run.step": "Step {step}",
    "run.eta": "ETA {time}",
    "run.etaPaused": "paused",
    "run.took": "took {time}",
    "run.parent": "· forked from #{id} at step {step}",
    "run.delete": "Delete",
    "run.deleteConfirm": "Delete the run “{name}” and all its points?",
    "run.deleteForce": "{reason}. Delete it anyway?",
    "run.notFound": "Run #{id} does not exist (any more).",
    "ctl.toolbar": "Run controls",
    "ctl.pause": "Pause",
    "ctl.resume": "Resume",
    "ctl.step": "Step",
    "ctl.stop": "Stop",
    "ctl.checkpoint": "Checkpoint",
    "ctl.hint": "pauses and resumes",
    "export.csv": "CSV",
    "export.csvTitle": "Download every point as CSV",
    "export.png": "PNG",
    "export.pngTitle": "Save chart as PNG",
    "hp.title": "Hyperparameters",
    "hp.apply": "Apply",
    "hp.reset": "Reset",
    "hp.fixed": "Fixed at start",
    "hp.now": "now {value}",
    "hp.range": "{min} to {max}",
    "hp.applied": "Sent. It takes effect at the next step.",
    "hp.noChange": "Nothing changed.",
    "hp.finished": "The run has finished; its values are fixed.",
    "hp.noLive": "This run has no hyperparameters that can change while it trains.",
    "hp.list": "whole numbers, comma separated",
    "hp.lrModeLabel": "How an lr change applies",
    "hp.lrScale": "Scale schedule",
    "hp.lrScaleTitle": "Scale the schedule from this step on by new ÷ current",
    "hp.lrOverride": "Override",
    "hp.lrOverrideTitle": "Pin lr at this value until you release it",
    "hp.lrRelease": "Release",
    "hp.lrReleaseLabel": "Release lr: hand it back to the schedule",
    "hp.lrReleaseSent": "Sent. The schedule takes over at the next step.",
    "hp.lrPinned": "Pinned at {value} until released.",
    "hp.lrScaled": "Follows the schedule ×{factor}.",
    "hp.lrFollows": "Follows the schedule.",
    "hp.groups": "Parameter groups",
    "hp.groupWd": "wd",
    "hp.groupWdTitle": "weight decay",
    "hp.groupMomentum": "momentum",
    "chart.empty": "No metrics yet.",
    "chart.loss": "Loss",
    "chart.accuracy": "Accuracy",
    "chart.lr": "Learning rate",
    "chart.other": "Other metrics",
    "chart.loading": "Loading history…",
    "chart.smoothing": "Smoothing",
    "chart.log": "Log scale",
    "chart.xaxis": "X axis",
    "chart.xStep": "Step",
    "chart.xTime": "Time",
    "chart.resetZoom": "Reset zoom",
    "chart.zoomHint": "Drag zooms · Shift+drag pans · double-click resets",
    "chart.smoothed": "{label} (smoothed)",
    "chart.toggle": "Show or hide {label}",
    "chart.aria": "{title} chart: {series}",
    "chart.stepTitle": "step {step}",
    "chart.elapsed": "time {time}",
    "metric.train_loss": "train loss",
    "metric.val_loss": "validation loss",
    "metric.val_accuracy": "validation accuracy",
    "metric.lr": "learning rate",
    "ev.hparams": "{changes}",
    "ev.pause": "Paused",
    "ev.resume": "Resumed",
    "ev.step": "Single step",
    "ev.stop": "Stopped",
    "ev.checkpoint": "Checkpoint saved",
    "ev.fork": "Forked",
    "ev.error": "Error: {message}",
    "ev.diverged": "Diverged: {key} = {value}",
    "ev.note": "Note: {text}",
    "ev.other": "{kind}",
    "events.title": "Events",
    "ev.lrPinned": "pinned",
    "ev.lrReleased": "released",
    "events.empty": "No events yet.",
    "events.atStep": "step {step}",
    "ckpt.title": "Checkpoints",
    "ckpt.empty": "No checkpoints yet.",
    "ckpt.fork": "Fork",
    "ckpt.forkLabel": "Fork a new run from the checkpoint at step {step}",
    "ckpt.at": "step {step}",
    "boundary.title": "Decision boundary",
    "boundary.step": "step {step}",
    "boundary.waiting": "Waiting for the first snapshot…",
    "boundary.aria": "Decision boundary of the classifier at step {step}: {classes} classes",
    "new.title": "New run",
    "new.task": "Task",
    "new.name": "Name",
    "new.namePlaceholder": "optional",
    "new.hparams": "Hyperparameters",
    "new.submit": "Start run",
    "new.cancel": "Cancel",
    "new.live": "changeable while it trains",
    "fork.title": "Fork “{name}” from step {step}",
    "fork.submit": "Fork run",
    "cmp.title": "Compare runs",
    "cmp.hint": "Tick runs in the sidebar to compare them.",
    "cmp.metric": "Metric",
    "cmp.clear": "Clear selection",
    "cmp.tableCaption": "Hyperparameters side by side; rows that differ are highlighted.",
    "cmp.hparam": "Hyperparameter",
    "cmp.status": "status",
    "cmp.step": "step",
    "cmp.task": "task",
    "cmp.last": "last {metric}",
    "cmp.best": "best {metric}",
    "err.generic": "Something went wrong: {message}",
    "err.auth": "Not authorized. Open the address with the token that Lernkurve printed when it started.",
    "err.network": "The app does not answer. Is it still running?",
    "disk.full": "Disk full: {n} points waiting. Training goes on; free some space and they are saved.",
  },
  de: {
    "common.close": "Schließen",
    "conn.connecting": "Verbinde…",
    "conn.online": "Live",
    "conn.offline": "Offline",
    "conn.lost": "Verbindung unterbrochen. Neuer Versuch… es geht nichts verloren, die Seite holt alles nach.",
    "nav.newRun": "Neuer Lauf",
    "nav.language": "Sprache",
    "nav.theme": "Farbschema",
    "lang.auto": "Systemsprache",
    "theme.auto": "System",
    "theme.light": "Hell",
    "theme.dark": "Dunkel",
    "runs.title": "Läufe",
    "runs.filter": "Läufe filtern",
    "runs.empty": "Noch keine Läufe. Starte einen mit „Neuer Lauf“.",
    "runs.noMatch": "Kein Lauf passt zum Filter.",
    "runs.compare": "Vergleichen ({n})",
    "runs.compareOne": "{name} vergleichen",
    "runs.stepOf": "Schritt {step} / {total}",
    "runs.step": "Schritt {step}",
    "status.queued": "wartet",
    "status.running": "läuft",
    "status.paused": "pausiert",
    "status.completed": "fertig",
    "status.stopped": "gestoppt",
    "status.failed": "fehlgeschlagen",
    "status.interrupted": "unterbrochen",
    "empty.title": "Wähle einen Lauf oder starte einen neuen",
    "empty.text": "Verlust, Genauigkeit und Lernrate aktualisieren sich live, während ein Lauf trainiert; von hier aus lenkst du ihn.",
    "run.task": "Aufgabe",
    "run.progress": "Fortschritt",
    "run.stepOf": "Schritt {step} von {total}",
    "run.step": "Schritt {step}",
    "run.eta": "noch {time}",
    "run.etaPaused": "pausiert",
    "run.took": "dauerte {time}",
    "run.parent": "· abgezweigt von #{id} bei Schritt {step}",
    "run.delete": "Löschen",
    "run.deleteConfirm": "Den Lauf „{name}“ und alle seine Punkte löschen?",
    "run.deleteForce": "{reason}. Trotzdem löschen?",
    "run.notFound": "Lauf #{id} gibt es nicht (mehr).",
    "ctl.toolbar": "Steuerung des Laufs",
    "ctl.pause": "Pausieren",
    "ctl.resume": "Fortsetzen",
    "ctl.step": "Einzelschritt",
    "ctl.stop": "Stoppen",
    "ctl.checkpoint": "Checkpoint",
    "ctl.hint": "pausiert und setzt fort",
    "export.csv": "CSV",
    "export.csvTitle": "Alle Punkte als CSV herunterladen",
    "export.png": "PNG",
    "export.pngTitle": "Diagramm als PNG speichern",
    "hp.title": "Hyperparameter",
    "hp.apply": "Übernehmen",
    "hp.reset": "Zurücksetzen",
    "hp.fixed": "Beim Start festgelegt",
    "hp.now": "aktuell {value}",
    "hp.range": "{min} bis {max}",
    "hp.applied": "Gesendet. Gilt ab dem nächsten Schritt.",
    "hp.noChange": "Nichts geändert.",
    "hp.finished": "Der Lauf ist beendet; seine Werte stehen fest.",
    "hp.noLive": "Dieser Lauf hat keine Hyperparameter, die sich während des Trainings ändern lassen.",
    "hp.list": "ganze Zahlen, durch Kommas getrennt",
    "hp.lrModeLabel": "Wie eine lr-Änderung wirkt",
    "hp.lrScale": "Skalieren",
    "hp.lrScaleTitle": "Den Zeitplan ab diesem Schritt mit neu ÷ aktuell skalieren",
    "hp.lrOverride": "Festsetzen",
    "hp.lrOverrideTitle": "lr auf diesem Wert festhalten, bis du ihn freigibst",
    "hp.lrRelease": "Freigeben",
    "hp.lrReleaseLabel": "lr freigeben: zurück an den Zeitplan",
    "hp.lrReleaseSent": "Gesendet. Ab dem nächsten Schritt gilt wieder der Zeitplan.",
    "hp.lrPinned": "Festgesetzt auf {value}, bis zur Freigabe.",
    "hp.lrScaled": "Folgt dem Zeitplan ×{factor}.",
    "hp.lrFollows": "Folgt dem Zeitplan.",
    "hp.groups": "Parametergruppen",
    "hp.groupWd": "wd",
    "hp.groupWdTitle": "Weight Decay",
    "hp.groupMomentum": "Momentum",
    "chart.empty": "Noch keine Metriken.",
    "chart.loss": "Verlust",
    "chart.accuracy": "Genauigkeit",
    "chart.lr": "Lernrate",
    "chart.other": "Weitere Metriken",
    "chart.loading": "Lade Verlauf…",
    "chart.smoothing": "Glättung",
    "chart.log": "Log-Skala",
    "chart.xaxis": "X-Achse",
    "chart.xStep": "Schritt",
    "chart.xTime": "Zeit",
    "chart.resetZoom": "Zoom zurücksetzen",
    "chart.zoomHint": "Ziehen zoomt · Umschalt+Ziehen verschiebt · Doppelklick setzt zurück",
    "chart.smoothed": "{label} (geglättet)",
    "chart.toggle": "{label} ein- oder ausblenden",
    "chart.aria": "Diagramm {title}: {series}",
    "chart.stepTitle": "Schritt {step}",
    "chart.elapsed": "Zeit {time}",
    "metric.train_loss": "Trainingsverlust",
    "metric.val_loss": "Validierungsverlust",
    "metric.val_accuracy": "Validierungsgenauigkeit",
    "metric.lr": "Lernrate",
    "ev.hparams": "{changes}",
    "ev.pause": "Pausiert",
    "ev.resume": "Fortgesetzt",
    "ev.step": "Einzelschritt",
    "ev.stop": "Gestoppt",
    "ev.checkpoint": "Checkpoint gespeichert",
    "ev.fork": "Abgezweigt",
    "ev.error": "Fehler: {message}",
    "ev.diverged": "Divergiert: {key} = {value}",
    "ev.note": "Notiz: {text}",
    "ev.other": "{kind}",
    "events.title": "Ereignisse",
    "ev.lrPinned": "festgesetzt",
    "ev.lrReleased": "freigegeben",
    "events.empty": "Noch keine Ereignisse.",
    "events.atStep": "Schritt {step}",
    "ckpt.title": "Checkpoints",
    "ckpt.empty": "Noch keine Checkpoints.",
    "ckpt.fork": "Abzweigen",
    "ckpt.forkLabel": "Einen neuen Lauf vom Checkpoint bei Schritt {step} abzweigen",
    "ckpt.at": "Schritt {step}",
    "boundary.title": "Entscheidungsgrenze",
    "boundary.step": "Schritt {step}",
    "boundary.waiting": "Warte auf den ersten Schnappschuss…",
    "boundary.aria": "Entscheidungsgrenze des Klassifikators bei Schritt {step}: {classes} Klassen",
    "new.title": "Neuer Lauf",
    "new.task": "Aufgabe",
    "new.name": "Name",
    "new.namePlaceholder": "optional",
    "new.hparams": "Hyperparameter",
    "new.submit": "Lauf starten",
    "new.cancel": "Abbrechen",
    "new.live": "während des Trainings änderbar",
    "fork.title": "„{name}“ ab Schritt {step} abzweigen",
    "fork.submit": "Lauf abzweigen",
    "cmp.title": "Läufe vergleichen",
    "cmp.hint": "Hake Läufe in der Seitenleiste an, um sie zu vergleichen.",
    "cmp.metric": "Metrik",
    "cmp.clear": "Auswahl leeren",
    "cmp.tableCaption": "Hyperparameter nebeneinander; abweichende Zeilen sind hervorgehoben.",
    "cmp.hparam": "Hyperparameter",
    "cmp.status": "Status",
    "cmp.step": "Schritt",
    "cmp.task": "Aufgabe",
    "cmp.last": "letzter Wert {metric}",
    "cmp.best": "bester Wert {metric}",
    "err.generic": "Etwas ist schiefgegangen: {message}",
    "err.auth": "Nicht berechtigt. Öffne die Adresse mit dem Token, die Lernkurve beim Start ausgegeben hat.",
    "err.network": "Die App antwortet nicht. Läuft sie noch?",
    "disk.full": "Festplatte voll: {n} Punkte warten. Das Training läuft weiter; mach Platz frei, dann werden sie gespeichert.",
    // Texts the server sends for the built-in tasks, by hparam or task name.
    "help.lr": "Lernrate",
    "help.momentum": "SGD-Momentum (Adam: beta1)",
    "help.weight_decay": "L2-Strafterm",
    "help.batch_size": "Beispiele pro Schritt, ab dem nächsten Batch",
    "help.delay_ms": "Pause nach jedem Schritt, um einen schnellen Lauf genau zu verfolgen",
    "help.hidden": "Größen der verdeckten Schichten",
    "help.optimizer": "Optimierer",
    "help.epochs": "Durchläufe durch die Trainingsdaten",
    "help.seed": "Startwert des Zufallsgenerators",
    "task.spiral.title": "Spirale",
    "task.spiral.description": "Drei ineinander verschlungene 2-D-Spiralen, klassifiziert von einem kleinen MLP.",
    "task.digits.title": "Ziffern",
    "task.digits.description": "Handgeschriebene 8×8-Ziffern (UCI), klassifiziert von einem MLP.",
  },
};

const listeners = new Set();
let choice = "auto";
let lang = "en";

function systemLanguage() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export function language() {
  return lang;
}

export function languageChoice() {
  return choice;
}

/** The text for key in the current language, with {name} placeholders filled from params. */
export function t(key, params = {}) {
  const text = TEXTS[lang][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** A translation that only some languages have (of texts the server sends), else null. */
export function optional(key) {
  return TEXTS[lang][key] ?? null;
}

/** Fill every data-i18n* attribute below root with the current language. */
export function apply(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    const params = {};
    for (const [name, value] of Object.entries(el.dataset)) {
      if (name.startsWith("i18n") && name.length > 4 && !/^i18n(AriaLabel|Placeholder|Title)$/.test(name)) {
        params[name.slice(4).toLowerCase()] = value;
      }
    }
    el.textContent = t(el.dataset.i18n, params);
  }
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.setAttribute("title", t(el.dataset.i18nTitle));
  }
}

/** Pick "en", "de" or "auto" (system); remembers the choice and re-renders everything. */
export function setLanguage(next) {
  choice = LANGUAGES.includes(next) ? next : "auto";
  try {
    if (choice === "auto") localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // Storage may be disabled; the choice then lasts for this page only.
  }
  lang = choice === "auto" ? systemLanguage() : choice;
  document.documentElement.lang = lang;
  apply();
  for (const fn of listeners) fn(lang);
}

export function onLanguageChange(fn) {
  listeners.add(fn);
}

export function init() {
  let saved = null;
  try {
    saved = localStorage.getItem(STORAGE_KEY);
  } catch {
    saved = null;
  }
  window.addEventListener("languagechange", () => {
    if (choice === "auto") setLanguage("auto");
  });
  setLanguage(saved || "auto");
}
