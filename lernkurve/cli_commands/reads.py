"""Reads: ``runs``, ``show``, ``events`` (``export``: export.py)."""

from __future__ import annotations

import argparse

from lernkurve.cli_commands import format as fmt
from lernkurve.cli_commands.client import Api
from lernkurve.cli_commands.context import Context
from lernkurve.cli_commands.parser import run_id
from lernkurve.store.models import STATUSES

RECENT_EVENTS = 10
LOWER_IS_BETTER = ("loss", "err", "perplexity", "ppl")  # else a key's best is its largest


def add(sub, parent: argparse.ArgumentParser) -> None:
    """The read commands' parsers."""
    p = sub.add_parser("runs", parents=[parent], help="list runs, newest first")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--tag")
    p.add_argument("--project", help="a wandb-style project (the tag project:NAME)")
    p.add_argument("--sort", metavar="best:KEY|-best:KEY", type=_sort, help="by a metric's best")
    p.set_defaults(func=runs)
    p = sub.add_parser("show", parents=[parent], help="a run: hparams, status, metrics, events")
    p.add_argument("run", type=run_id)
    p.set_defaults(func=show)
    p = sub.add_parser("events", parents=[parent], help="a run's events")
    p.add_argument("run", type=run_id)
    p.set_defaults(func=events)


def _sort(text: str) -> tuple[str, str]:
    """``best:KEY`` (smallest first) or ``-best:KEY`` (largest first): (key, mode)."""
    kind, _, key = text.partition(":")
    if kind not in ("best", "-best") or not key:
        raise argparse.ArgumentTypeError(f"sort is best:KEY or -best:KEY, got {text!r}")
    return key, "min" if kind == "best" else "max"


def runs(args: argparse.Namespace, ctx: Context) -> None:
    """``runs``: the runs, filtered and sorted."""
    key, mode = args.sort or (None, None)
    found = ctx.api.call("GET", "/runs", tag=args.tag, metric=key, mode=mode)["runs"]
    found = [r for r in found if args.status in (None, r["status"])]
    if args.project is not None:
        found = [r for r in found if f"project:{args.project}" in (r["tags"] or [])]
    if key:
        found = _by_best(found, mode)
    header = ["ID", "STATUS", "STEP", "NAME", "TAGS"] + ([f"BEST {key}"] if key else [])
    rows = [_run_row(r, key) for r in found]
    ctx.emit({"runs": found}, fmt.table(header, rows) if found else "no runs")


def _by_best(found: list[dict], mode: str) -> list[dict]:
    """Runs with a best value first, best first; the others after, newest first."""
    scored = [r for r in found if (r.get("summary") or {}).get("best") is not None]
    scored.sort(key=lambda r: r["summary"]["best"], reverse=mode == "max")
    return scored + [r for r in found if r not in scored]


def _run_row(run: dict, key: str | None) -> list:
    row = [run["id"], run["status"], run["step"], run["name"], ",".join(run["tags"] or [])]
    return row + ([(run.get("summary") or {}).get("best")] if key else [])


def show(args: argparse.Namespace, ctx: Context) -> None:
    """``show RUN``: the run, the last and best value of each key, its recent events."""
    run = ctx.api.run(args.run)
    summaries = key_summaries(ctx.api, args.run)
    recent = ctx.api.call("GET", f"/runs/{args.run}/events")["events"][-RECENT_EVENTS:]
    data = {"run": run, "metrics": summaries, "events": recent}
    ctx.emit(data, _show_lines(run, summaries, recent))


def key_summaries(api: Api, run: int) -> dict[str, dict]:
    """Each key's last and best value with their steps (the best of a loss is its smallest)."""
    from lernkurve.store.queries import metric_keys
    from lernkurve.store.summaries import run_summaries

    db = api.db
    with db.engine.connect() as conn:
        keys = metric_keys(conn, run)
    found = {}
    for key in sorted(keys):
        mode = "min" if any(word in key.lower() for word in LOWER_IS_BETTER) else "max"
        summary = run_summaries(db, [run], key, mode).get(run)
        if summary:
            found[key] = {**summary, "mode": mode}
    return found


def _show_lines(run: dict, summaries: dict, recent: list[dict]) -> list[str]:
    total = f"/{run['total_steps']}" if run.get("total_steps") else ""
    lines = [f"run {run['id']}  {run['name']}  {run['status']}  step {run['step']}{total}"]
    lines.append(f"hparams  {fmt.hparams(run['hparams'] or {})}")
    if run.get("tags"):
        lines.append(f"tags     {', '.join(run['tags'])}")
    if summaries:
        rows = [
            [k, s["last"], s["last_step"], f"{s['mode']} {fmt.number(s['best'])}", s["best_step"]]
            for k, s in summaries.items()
        ]
        lines += ["", *fmt.table(["KEY", "LAST", "AT", "BEST", "AT"], rows)]
    if recent:
        lines += ["", "recent events", *("  " + fmt.event(e) for e in recent)]
    return lines


def events(args: argparse.Namespace, ctx: Context) -> None:
    """``events RUN``: every event of the run, oldest first."""
    found = ctx.api.call("GET", f"/runs/{args.run}/events")["events"]
    ctx.emit({"events": found}, [fmt.event(e) for e in found] or "no events")
