"""TensorBoard scripts in Lernkurve: a drop-in ``SummaryWriter``, and an importer of event files.

A script that logs to TensorBoard appears in Lernkurve by changing one import::

    from lernkurve.tensorboard import SummaryWriter   # was: from torch.utils.tensorboard import ...

Old TensorBoard runs become Lernkurve runs (scalars only, read with TensorBoard's own reader),
so they can be compared with new ones; importing the same folder again adds only what is new::

    python -m lernkurve.tensorboard import LOGDIR [--db PATH|URL]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import warnings
from datetime import datetime
from pathlib import Path

from lernkurve.plainconfig import flatten

SOURCE = "tensorboard"  # runs.task of an imported run


class SummaryWriter:
    """``torch.utils.tensorboard.SummaryWriter``'s scalar calls, into a Lernkurve run.

    add_scalar, add_scalars, add_hparams, flush and close work as in TensorBoard; any other
    method is accepted and ignored, with one warning. ``writer.run`` is the Lernkurve run.

    The first value logged at a new ``global_step`` marks the end of that step: there the app's
    commands take effect (pause holds the script in that call; with
    ``writer.run.watch(model, optimizer)`` lr changes reach the optimizer from the next step).
    A stop from the app sets ``writer.should_stop``; a loop that checks it ends cleanly.
    """

    def __init__(
        self,
        log_dir: str | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
        *,
        config: dict | None = None,
        live: list[str] | None = None,
        db: str | None = None,
    ) -> None:
        from lernkurve import training

        if log_dir:
            name = os.path.basename(os.path.normpath(log_dir))
        else:  # TensorBoard's own default: runs/<date>_<host><comment>
            name = datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname() + comment
        self.log_dir = log_dir or os.path.join("runs", name)
        self.run = training.init(name=name, config=config or {}, live=live, db=db)
        self._warned = False
        self._closed = False
        self._last_step: int | None = None
        self.should_stop = False

    def _step(self, global_step) -> int:
        if global_step is None:
            return self._last_step or 0
        step = int(global_step)
        if self._last_step is None or step > self._last_step:
            self._last_step = step
            # between this step and the next: the app's commands take effect here
            if not self.run.between_steps(step + 1):
                self.should_stop = True
            self.run.step = step  # the app shows the last step logged
        return step

    def add_scalar(
        self,
        tag: str,
        scalar_value,
        global_step: int | None = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        self.run.log({tag: scalar_value}, step=self._step(global_step))

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: dict,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Each value as ``main_tag/tag``: one chart panel per main tag."""
        values = {f"{main_tag}/{tag}": value for tag, value in tag_scalar_dict.items()}
        self.run.log(values, step=self._step(global_step))

    def add_hparams(
        self,
        hparam_dict: dict,
        metric_dict: dict,
        hparam_domain_discrete: dict | None = None,
        run_name: str | None = None,
        global_step: int | None = None,
    ) -> None:
        """The hparams become the run's values; the metrics are logged at ``global_step``."""
        self.run.hparams.update(flatten(hparam_dict)[0])
        if metric_dict:
            self.run.log(dict(metric_dict), step=self._step(global_step))

    def flush(self) -> None:
        """Nothing to do: Lernkurve writes points every 50 ms on its own."""

    def close(self) -> None:
        """End the run as completed, with every point written."""
        if not self._closed:
            self._closed = True
            self.run.finish()

    def get_logdir(self) -> str:
        return self.log_dir

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            self._closed = True
            self.run.fail(exc)
        self.close()

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def ignored(*args, **kwargs) -> None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"lernkurve.tensorboard.SummaryWriter keeps scalars only: {name} and the "
                    "other non-scalar calls are ignored",
                    UserWarning,
                    stacklevel=2,
                )

        return ignored


# -- importing event files -------------------------------------------------------------------


def _reader():
    from lernkurve.integrations import require

    return require(
        "tensorboard.backend.event_processing.event_accumulator",
        "tensorboard",
        "lernkurve.tensorboard import",
    )


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
    from lernkurve.db import Database
    from lernkurve.training import open_database

    database = db if isinstance(db, Database) else open_database(db)
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

    from lernkurve.db import Metric, RunRow, now
    from lernkurve.writer import expand_points

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
