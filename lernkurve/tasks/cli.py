"""A built-in task trained from a terminal: ``lernkurve train --task spiral --lr 0.1`` (the
same as ``python training.py --task spiral --lr 0.1``), watched and steered in the app."""

from __future__ import annotations

import argparse
import sys

from lernkurve.shared.hparams import HParamError, resolve
from lernkurve.shared.taskspecs import TASKS, task_schema, total_steps_for
from lernkurve.store.database import Database
from lernkurve.tasks.worker import train_builtin
from lernkurve.tracking.client import open_database
from lernkurve.tracking.scripts import insert_running


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    lines = [f"  {name}: {spec['description']}" for name, spec in TASKS.items()]
    parser = argparse.ArgumentParser(
        prog="lernkurve train",
        description="Train a built-in task from a terminal, watched and steered in Lernkurve.",
        epilog="tasks:\n"
        + "\n".join(lines)
        + "\n\nhparams (live ones change while training):\n"
        + _hparam_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--name", help="run name shown in the app")
    parser.add_argument("--db", help="database file or SQLAlchemy URL (default as the app)")
    for key, spec in task_schema("spiral").items():
        parser.add_argument(
            f"--{key.replace('_', '-')}", dest=key, type=_arg_type(spec), help=spec.get("help")
        )
    return parser.parse_args(argv)


def _arg_type(spec: dict):
    if spec["type"] == "int_list":
        return lambda text: [int(part) for part in text.split(",")]
    return {"float": float, "int": int}.get(spec["type"], str)


def _hparam_help() -> str:
    rows = []
    for key, spec in task_schema("spiral").items():
        span = spec.get("choices") or f"{spec.get('min')}..{spec.get('max')}"
        rows.append(
            f"  --{key.replace('_', '-'):<14} {spec['type']:<9} {span!s:<22} "
            f"{'live' if spec.get('live') else 'fixed'}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Train one built-in task in this process until it ends."""
    args = parse_args(argv)
    schema = task_schema(args.task)
    given = {k: v for k, v in vars(args).items() if k in schema and v is not None}
    try:
        hparams = resolve(schema, given)
    except HParamError as err:
        print(f"training.py: {err.message}", file=sys.stderr)
        return 2
    database = open_database(args.db)
    row = create_builtin_row(database, args.task, args.name or args.task, hparams)
    print(f"run {row.id} ({args.task}) training; watch and steer it in Lernkurve")
    run = train_builtin(database, row, None)
    print(f"run {row.id} ended: {run.status}")
    return 0 if run.status in ("completed", "stopped") else 1


def create_builtin_row(database: Database, task: str, name: str, hparams: dict):
    """A built-in run this terminal trains itself."""
    config = {"schema": task_schema(task)}
    return insert_running(database, name, task, hparams, config, total_steps_for(task, hparams))


if __name__ == "__main__":
    sys.exit(main())
