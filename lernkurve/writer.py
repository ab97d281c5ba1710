"""One writer thread per process and database: flushes every live run, reads its commands.

Every ~50 ms the writer drains each registered run's in-memory points and outbox into one
transaction (one executemany for the points), writes the run's row (status, step, hparams,
heartbeat), then reads the commands the UI left for those runs and hands them to the runs.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text, update

from database import BUCKET_SHIFT, Checkpoint, Command, Database, Event, Snapshot

if TYPE_CHECKING:
    from lernkurve.run import Run

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.05
MAX_KEY = 100  # metrics.key is VARCHAR(100)
BATCH_ENTRIES = 20_000  # log calls a run hands over per flush: bounds one transaction
HEARTBEAT_EVERY = 1.0  # a run's row is rewritten at least this often, changed or not

_UPDATE_RUN = text(
    "UPDATE runs SET status = :status, step = :step, total_steps = :total_steps, "
    "hparams = :hparams, heartbeat_at = :heartbeat_at, ended_at = :ended_at, error = :error "
    "WHERE id = :id"
)
_CLOSE_COMMANDS = text(
    "UPDATE commands SET applied_at = :at WHERE run_id = :run_id AND applied_at IS NULL"
)
_PENDING_COMMANDS = text(
    "SELECT id, run_id, kind, payload FROM commands "
    "WHERE applied_at IS NULL AND run_id IN :ids ORDER BY id"
).bindparams(bindparam("ids", expanding=True))
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
            try:
                value = float(value)
            except (TypeError, ValueError):
                # One bad value must not block the batch (and every run's points with it).
                log.warning(
                    "lernkurve: %s=%r at step %s is not a number; dropped", key, value, step
                )
                continue
            key = str(key)[:MAX_KEY]
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
        self._rows_written: dict[int, tuple] = {}  # run id -> (row state, time written)
        self.last_error: BaseException | None = None

    def wake(self) -> None:
        """Flush now rather than at the next tick (a run has a large backlog)."""
        self._wake.set()

    def register(self, run: Run) -> None:
        with self._lock:
            self._runs[run.id] = run
        self._wake.set()

    def unregister(self, run: Run) -> None:
        """Flush everything the run still holds and forget it."""
        while self.flush(only=run):
            pass
        with self.db.engine.begin() as conn:  # requests that came after the last step
            conn.execute(_CLOSE_COMMANDS, {"run_id": run.id, "at": time.time()})
        with self._lock:
            self._runs.pop(run.id, None)
            self._rows_written.pop(run.id, None)

    def run(self) -> None:
        backlog = False
        while not self._retire_if_idle():
            if not backlog:
                self._wake.wait(self.interval)
            self._wake.clear()
            try:
                backlog = self.flush()
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

    def flush(self, only: Run | None = None) -> bool:
        """Write what the runs have gathered and deliver their new commands.

        Returns True when a run has more waiting than one flush takes.
        """
        with self._lock:
            runs = [only] if only is not None else list(self._runs.values())
            if not runs:
                return False
            batches = [run.take_pending(BATCH_ENTRIES) for run in runs]
            try:
                self._write(runs, batches)
            except Exception:
                for run, batch in zip(runs, batches, strict=True):
                    run.give_back(batch)
                raise
            self._deliver_commands(runs)
            return any(batch["more"] for batch in batches)

    def _needs_write(self, run_id: int, batch: dict, state: tuple) -> bool:
        """Points, events, a changed row or a due heartbeat; otherwise the flush skips the run."""
        last = self._rows_written.get(run_id)
        beat_due = last is None or batch["row"]["heartbeat_at"] - last[1] >= HEARTBEAT_EVERY
        return bool(batch["points"] or batch["outbox"] or beat_due or last[0] != state)

    def _write(self, runs: list[Run], batches: list[dict]) -> None:
        work = []
        for run, batch in zip(runs, batches, strict=True):
            row = batch["row"]
            state = (
                row["status"],
                row["step"],
                row["total_steps"],
                repr(row["hparams"]),
                row["ended_at"],
            )
            if self._needs_write(run.id, batch, state):
                work.append((run, batch, state))
        if not work:
            return
        with self.db.engine.begin() as conn:
            if not self.db.is_sqlite:
                # Other processes write too: make ids become visible in id order, or the
                # streamer's cursor would pass a lower id that commits later.
                conn.execute(text("SELECT pg_advisory_xact_lock(7311)"))
            for run, batch, _ in work:
                rows, bad, buckets = expand_points(run.id, batch["points"])
                self.db.insert_metrics(conn, rows)
                self.db.upsert_buckets(conn, run.id, buckets)
                for step, key, value in bad:
                    run.on_non_finite(step, key, value)
                self._write_outbox(conn, run.id, batch["outbox"])
                row = {**batch["row"], "hparams": json.dumps(batch["row"]["hparams"]), "id": run.id}
                conn.execute(_UPDATE_RUN, row)
        for run, batch, state in work:
            self._rows_written[run.id] = (state, batch["row"]["heartbeat_at"])

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
        by_id = {run.id: run for run in runs}
        with self.db.engine.connect() as conn:
            commands = conn.execute(_PENDING_COMMANDS, {"ids": list(by_id)}).all()
        for command_id, run_id, kind, payload in commands:
            if isinstance(payload, str):  # SQLite hands JSON back as text through text()
                payload = json.loads(payload)
            by_id[run_id].receive_command(command_id, kind, payload or {})
