"""TensorBoard event files as Lernkurve runs (scalars only, read with TensorBoard's own reader),
so old runs can be compared with new ones; importing the same folder again adds only what is
new::

    python -m lernkurve.tensorboard import LOGDIR [--db PATH|URL]     (or: lernkurve import-tb)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

SOURCE = "tensorboard"  # runs.task of an imported run
TENSORBOARD_PIN = "tensorboard==2.21.0"


def _reader():
    try:
        return importlib.import_module("tensorboard.backend.event_processing.event_accumulator")
    except ImportError as err:
        raise ImportError(
            f"lernkurve.tensorboard import needs tensorboard: pip install {TENSORBOARD_PIN} "
            "(or pip install -r requirements-extras.txt)"
        ) from err


def read_scalars(folder: str | Path) -> dict[str, list[tuple[int, float, float]]]:
    """Every scalar in one run folder's event files: {tag: [(step, wall_time, value)]}."""
    accumulators = _reader()
    from tensorboard.util import tensor_util

    guidance = {accumulators.SCALARS: 0, accumulators.TENSORS: 0}
    acc = accumulators.EventAccumulator(str(folder), size_guidance=guidance)
    acc.Reload()
    tags = acc.Tags()
    scalars = {
        tag: [(e.step, e.wall_time, e.value) for e in acc.Scalars(tag)] for tag in tags["scalars"]
    }
    for tag in tags.get("tensors", []):  # new-style scalars are tensor summaries
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
            continue
        scalars[tag] = [
            (e.step, e.wall_time, float(tensor_util.make_ndarray(e.tensor_proto).item()))
            for e in acc.Tensors(tag)
        ]
    return scalars


def run_folders(logdir: str | Path) -> list[Path]:
    """The folders under ``logdir`` (itself included) that hold event files, sorted."""
    root = Path(logdir)
    found = {p.parent for p in root.rglob("*tfevents*") if p.is_file()}
    return sorted(found)


def import_logdir(logdir: str | Path, db=None) -> list[dict]:
    """Import every run under ``logdir``; again later, only points not imported yet.

    Returns one ``{"run_id", "name", "path", "added", "new"}`` per run folder. ``db``: a
    Database, a path or URL (default: as the app).
    """
    from lernkurve.store.database import Database

    database = db if isinstance(db, Database) else Database(db)
    root = Path(logdir).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {logdir}")
    results = []
    for folder in run_folders(root):
        scalars = read_scalars(folder)
        name = root.name if folder == root else f"{root.name}/{folder.relative_to(root)}"
        results.append(_import_run(database, folder, name, scalars))
    return results


def _import_run(db, folder: Path, name: str, scalars: dict) -> dict:
    from sqlalchemy import select

    from lernkurve.store.models import Metric, RunRow, now
    from lernkurve.store.points import expand_points

    path = str(folder)
    with db.Session() as session:
        existing = [
            row
            for row in session.scalars(select(RunRow).where(RunRow.task == SOURCE))
            if (row.config or {}).get("path") == path
        ]
        row = existing[0] if existing else None
        seen = set()
        if row is not None:
            seen = set(
                session.execute(select(Metric.key, Metric.step).where(Metric.run_id == row.id))
            )
    points = [
        (step, wall, {tag: value})
        for tag, events in sorted(scalars.items())
        for step, wall, value in events
        if (tag, step) not in seen
    ]
    walls = [wall for events in scalars.values() for _, wall, _ in events]
    steps = [step for events in scalars.values() for step, _, _ in events]
    fields = {
        "step": max(steps, default=0),
        "started_at": min(walls, default=None),
        "ended_at": max(walls, default=None),
    }
    if row is None:
        row = db.insert_run(
            name=name,
            task=SOURCE,
            status="completed",
            hparams={},
            config={"source": SOURCE, "path": path, "tags": sorted(scalars)},
            heartbeat_at=now(),
            **fields,
        )
    if points:
        rows, _, buckets = expand_points(row.id, points)
        with db.write() as conn:
            db.insert_metrics(conn, rows)
            db.upsert_buckets(conn, row.id, buckets)
        with db.Session() as session:
            stored = session.get(RunRow, row.id)
            stored.step, stored.ended_at = fields["step"], fields["ended_at"]
            session.commit()
    return {"run_id": row.id, "name": name, "path": path, "added": len(points), "new": not existing}


def main(argv: list[str] | None = None) -> int:
    """``[import] LOGDIR [--db PATH|URL]``: the importer's command line (lernkurve import-tb)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["import"]:  # python -m lernkurve.tensorboard import LOGDIR
        argv = argv[1:]
    parser = argparse.ArgumentParser(
        prog="lernkurve import-tb",
        description="Import TensorBoard event files as Lernkurve runs (scalars only). "
        "Importing the same folder again adds only points not imported yet.",
    )
    parser.add_argument("logdir", help="a TensorBoard log folder (every run below it)")
    parser.add_argument("--db", help="database file or SQLAlchemy URL (default as the app)")
    args = parser.parse_args(argv)
    try:
        results = import_logdir(args.logdir, args.db)
    except (FileNotFoundError, ImportError) as err:
        print(f"lernkurve: {err}", file=sys.stderr)
        return 1
    if not results:
        print(f"lernkurve: no TensorBoard event files under {args.logdir}", file=sys.stderr)
        return 1
    for item in results:
        verb = "imported" if item["new"] else "updated"
        print(f"run {item['run_id']} {item['name']}: {verb}, {item['added']} points added")
    return 0


if __name__ == "__main__":
    sys.exit(main())
