"""One writer thread per process and database: flushes every live run, reads its commands.

Every ~50 ms the writer drains each registered run's in-memory points and outbox into one
transaction (one executemany for the points), writes the run's row (status, step, hparams,
heartbeat), then reads the commands the UI left for those runs and hands them to the runs.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from database import BUCKET_SHIFT, Checkpoint, Command, Database, Event, Snapshot
from database import Run as RunRow

if TYPE_CHECKING:
    from lernkurve.run import Run

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.05
_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()


def register(run: Run) -> Writer:
    """Hand a run to the process's writer for its database, starting one if there is none."""
    with _writers_lock:
        writer = _writers.get(run.db.url)
        if writer is None or not writer.is_alive():
            writer = _writers[run.db.url] = Writer(run.db)
            writer.start()
        writer.register(run)
        return writer


def expand_points(run_id: int, points: list[tuple]) -> tuple[list[tuple], list[tuple], dict]:
    """Turn (step, wall_time, {key: value}) entries into metric rows.

    Also returns the non-finite values (for divergence) and each key's min/max per
    2**BUCKET_SHIFT steps (for fast history charts), gathered in the same pass.
    """
    rows, bad, buckets = [], [], {}
    for step, wall_time, scalars in points:
        bucket = step >> BUCKET_SHIFT
        for key, value in scalars.items():
            value = float(value)
            if not math.isfinite(value):
                bad.append((step, key, value))
                rows.append((run_id, key, step, None, wall_time))  # JSON has no NaN/inf
                continue
            rows.append((run_id, key, step, value, wall_time))
            agg = buckets.get((key, bucket))
            if agg is None:
                buckets[key, bucket] = [step, value, step, value, wall_time]
                continue
            if value < agg[1]:
                agg[0], agg[1] = step, value
            elif value > agg[3]:
                agg[2], agg[3] = step, value
            agg[4] = wall_time
    return rows, bad, buckets


class Writer(threading.Thread):
    def __init__(self, db: Database, interval: float = FLUSH_INTERVAL) -> None:
        super().__init__(name="lernkurve-writer", daemon=True)
        self.db = db
        self.interval = interval
        self._runs: dict[int, Run] = {}
        self._lock = threading.Lock()  # one flush at a time: the process's single writer
        self._wake = threading.Event()
        self.last_error: BaseException | None = None

    def register(self, run: Run) -> None:
        with self._lock:
            self._runs[run.id] = run
        self._wake.set()

    def unregister(self, run: Run) -> None:
        """Flush the run one last time and forget it."""
        self.flush(only=run)
        with self._lock:
            self._runs.pop(run.id, None)

    def run(self) -> None:
        while not self._retire_if_idle():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - keep writing; the data is kept for retry
                if self.last_error is None:
                    log.exception("lernkurve writer: flush failed, will retry")
                self.last_error = exc
                time.sleep(self.interval)

    def _retire_if_idle(self) -> bool:
        """End the thread when no run is left; the next run starts a fresh writer."""
        with _writers_lock, self._lock:
            if self._runs:
                return False
            if _writers.get(self.db.url) is self:
                del _writers[self.db.url]
            return True

    def flush(self, only: Run | None = None) -> None:
        """Write what the runs have gathered and deliver their new commands."""
        with self._lock:
            runs = [only] if only is not None else list(self._runs.values())
            if not runs:
                return
            batches = [run.take_pending() for run in runs]
            try:
                self._write(runs, batches)
            except Exception:
                for run, batch in zip(runs, batches, strict=True):
                    run.give_back(batch)
                raise
            self._deliver_commands(runs)

    def _write(self, runs: list[Run], batches: list[dict]) -> None:
        with self.db.engine.begin() as conn:
            for run, batch in zip(runs, batches, strict=True):
                rows, bad, buckets = expand_points(run.id, batch["points"])
                self.db.insert_metrics(conn, rows)
                self.db.upsert_buckets(conn, run.id, buckets)
                for step, key, value in bad:
                    run.on_non_finite(step, key, value)
                self._write_outbox(conn, run.id, batch["outbox"])
                conn.execute(update(RunRow).where(RunRow.id == run.id).values(**batch["row"]))

    def _write_outbox(self, conn, run_id: int, outbox: list[tuple]) -> None:
        for kind, item in outbox:
            if kind == "event":
                conn.execute(Event.__table__.insert().values(run_id=run_id, **item))
            elif kind == "checkpoint":
                conn.execute(Checkpoint.__table__.insert().values(run_id=run_id, **item))
            elif kind == "snapshot":
                conn.execute(Snapshot.__table__.insert().values(run_id=run_id, **item))
            elif kind == "ack":
                conn.execute(
                    update(Command).where(Command.id == item["id"]).values(applied_at=item["at"])
                )

    def _deliver_commands(self, runs: list[Run]) -> None:
        ids = [run.id for run in runs]
        query = (
            select(Command)
            .where(Command.run_id.in_(ids), Command.applied_at.is_(None))
            .order_by(Command.id)
        )
        with self.db.Session() as session:
            commands = session.scalars(query).all()
        by_id = {run.id: run for run in runs}
        for command in commands:
            by_id[command.run_id].receive_command(command.id, command.kind, command.payload)
