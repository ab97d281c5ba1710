"""``tag``, ``note``, ``rm``: a run's tags and note (any run), and its removal (ended runs)."""

from __future__ import annotations

import argparse

from lernkurve.cli_commands.context import Context
from lernkurve.cli_commands.parser import run_id


def add(sub, parent: argparse.ArgumentParser) -> None:
    """The parsers of tag, note and rm."""
    p = sub.add_parser("tag", parents=[parent], help="add tags to a run (--remove: take off)")
    p.add_argument("run", type=run_id)
    p.add_argument("tags", nargs="+", metavar="TAG")
    p.add_argument("--remove", action="store_true")
    p.set_defaults(func=tag)
    p = sub.add_parser("note", parents=[parent], help="set a run's note (Markdown)")
    p.add_argument("run", type=run_id)
    p.add_argument("text", metavar="TEXT")
    p.set_defaults(func=note)
    p = sub.add_parser("rm", parents=[parent], help="remove an ended run, its points and files")
    p.add_argument("run", type=run_id)
    p.add_argument("--force", action="store_true", help="even if its process may still live")
    p.set_defaults(func=remove)


def tag(args: argparse.Namespace, ctx: Context) -> None:
    """``tag RUN TAG...``: PATCH the run's tags with these added (or, --remove, taken off)."""
    tags = list(ctx.api.run(args.run).get("tags") or [])
    if args.remove:
        tags = [t for t in tags if t not in args.tags]
    else:
        tags += [t for t in args.tags if t not in tags]
    row = ctx.api.call("PATCH", f"/runs/{args.run}", {"tags": tags})
    ctx.emit(row, f"run {args.run}: tags {', '.join(row['tags']) or '(none)'}")


def note(args: argparse.Namespace, ctx: Context) -> None:
    """``note RUN TEXT``: PATCH the run's note."""
    row = ctx.api.call("PATCH", f"/runs/{args.run}", {"notes": args.text})
    ctx.emit(row, f"run {args.run}: note set ({len(row['notes'] or '')} characters)")


def remove(args: argparse.Namespace, ctx: Context) -> None:
    """``rm RUN``: DELETE the run; refused (as the API does) while its process may live."""
    ctx.api.call("DELETE", f"/runs/{args.run}", force="1" if args.force else None)
    ctx.emit({"deleted": args.run}, f"run {args.run} removed")
