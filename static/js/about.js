// The run's "About" panel: what it was started with (config.context, captured at init):
// command line, working directory, git commit and dirty flag, versions, host and devices.
import { optional, t } from "./i18n.js";

// The built-in tasks (lernkurve/shared/taskspecs.py TASKS): trained by the app itself, they have
// no script, command line or repository to record.
const BUILTIN_TASKS = new Set(["spiral", "digits"]);

/** Quote one argument the way a POSIX shell would need it, so the line can be copied. */
export function shellQuote(arg) {
  const text = String(arg);
  if (text && /^[\w@%+=:,./-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, "'\\''")}'`;
}

export class AboutPanel {
  constructor() {
    this.list = document.getElementById("about-list");
    this.empty = document.getElementById("about-empty");
    this.run = null;
  }

  show(run) {
    this.run = run;
    const context = run?.config?.context;
    const rows = context ? this.rows(context) : [];
    this.list.replaceChildren(
      ...rows.flatMap(([key, value, extra, title]) => {
        const dt = document.createElement("dt");
        dt.textContent = t(`about.${key}`);
        const dd = document.createElement("dd");
        dd.dataset.about = key;
        const code = document.createElement("code");
        code.className = "about-value";
        code.textContent = value;
        code.title = title ?? value;
        dd.append(code);
        if (extra) dd.append(" ", extra);
        return [dt, dd];
      }),
    );
    this.list.hidden = !rows.length;
    this.empty.hidden = rows.length > 0;
    this.empty.textContent = this.emptyText(run);
  }

  /** What to say when a run recorded no context: for a built-in task, what it is instead. */
  emptyText(run) {
    if (!run || !BUILTIN_TASKS.has(run.task) || run.config?.script) return t("about.empty");
    const version = document.querySelector(".app-version")?.textContent.trim() || "";
    const task = optional(`task.${run.task}.title`) ?? run.task;
    return t("about.builtin", { task, version });
  }

  rows(ctx) {
    const rows = [];
    if (ctx.app) {
      const task = ctx.task ? (optional(`task.${ctx.task}.title`) ?? ctx.task) : null;
      rows.push(["app", task ? t("about.appTask", { app: ctx.app, task }) : ctx.app]);
    }
    if (Array.isArray(ctx.argv) && ctx.argv.length) rows.push(["command", ctx.argv.map(shellQuote).join(" ")]);
    if (ctx.cwd) rows.push(["cwd", ctx.cwd]);
    if (ctx.git && ctx.git.commit) {
      const badge = document.createElement("span");
      badge.className = `badge ${ctx.git.dirty ? "text-bg-warning" : "text-bg-success"}`;
      badge.dataset.dirty = String(Boolean(ctx.git.dirty));
      badge.textContent = t(ctx.git.dirty ? "about.dirty" : "about.clean");
      badge.title = t(ctx.git.dirty ? "about.dirtyTitle" : "about.cleanTitle");
      const branch = ctx.git.branch ? ` (${ctx.git.branch})` : "";
      rows.push(["git", `${String(ctx.git.commit).slice(0, 12)}${branch}`, badge, String(ctx.git.commit)]);
    }
    const versions = [
      ctx.python && `Python ${ctx.python}`,
      ctx.torch && `torch ${ctx.torch}`,
      `CUDA ${ctx.cuda || t("about.none")}`,
    ].filter(Boolean);
    if (ctx.python || ctx.torch) rows.push(["versions", versions.join(" · ")]);
    if (ctx.host) rows.push(["host", ctx.host]);
    if (Array.isArray(ctx.devices) && ctx.devices.length) rows.push(["devices", ctx.devices.join(", ")]);
    return rows;
  }

  refreshLanguage() {
    if (this.run) this.show(this.run);
  }
}
