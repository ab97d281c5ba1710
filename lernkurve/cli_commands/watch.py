"""``metrics RUN [KEYS...] [--since STEP] [--follow]``: a run's points, or tail -f for them."""

from __future__ import annotations

import argparse
import json
import time

from lernkurve.cli_commands.context import Context
from lernkurve.cli_commands.parser import run_id
from lernkurve.store.models import FINISHED_STATUSES

POLL_SECONDS = 0.5


def add(sub, parent: argparse.ArgumentParser) -> None:
    """The metrics command's parser."""
    p = sub.add_parser("metrics", parents=[parent], help="a run's points (--follow: as they come)")
    p.add_argument("run", type=run_id)
    p.add_argument("keys", nargs="*", metavar="KEY")
    p.add_argument("--since", type=int, default=None, metavar="STEP", help="from this step on")
    p.add_argument("--follow", "-f", action="store_true", help="print new points until it ends")
    p.set_defaults(func=metrics)


def metrics(args: argparse.Namespace, ctx: Context) -> None:
    """Print the run's points; with --follow keep printing new ones until the run ends."""
    since_id = _print_new(args, ctx, 0, whole=not args.follow)
    if not args.follow:
        return
    try:
        while True:
            ended = ctx.api.run(args.run)["status"] in FINISHED_STATUSES
            since_id = _print_new(args, ctx, since_id)
            if ended:  # read once more after it ended: its last points came before the status
                return
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return  # Ctrl-C ends a tail, as it does tail -f's


def _print_new(args: argparse.Namespace, ctx: Context, since_id: int, whole: bool = False) -> int:
    """Print the points after ``since_id``; the id to read on from."""
    keys = ",".join(args.keys) or None
    answer = ctx.api.call("GET", f"/runs/{args.run}/metrics", keys=keys, since_id=since_id)
    points = _points(answer["series"], args.since)
    if whole and ctx.json:
        ctx.emit({"run_id": args.run, "points": points, "last_id": answer["last_id"]}, "")
    else:
        for point in points:
            line = json.dumps(point) if ctx.json else _line(point)
            print(line, flush=True)
    return answer["last_id"] or since_id


def _points(series: dict, since: int | None) -> list[dict]:
    """The series' points in step order, from step ``since`` on."""
    points = [
        {"step": step, "key": key, "value": value, "wall_time": wall}
        for key, rows in series.items()
        for step, value, wall in rows
        if since is None or step >= since
    ]
    return sorted(points, key=lambda p: (p["step"], p["key"]))


def _line(point: dict) -> str:
    value = point["value"]
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)
    return f"{point['step']}\t{point['key']}\t{shown}"
