"""One writer per process and database: moves every live run's points there, in order.

- Points wait in memory (``Run.log`` only appends) until the writer thread writes them in
  short transactions of at most Database.batch_points rows, taking SQLite's write lock fairly
  (``Database.write``), so neither other processes nor the server wait long for it.
- Bounded memory: at most PENDING_BYTES of unwritten points per process. While the database
  takes writes but more slowly than the loop logs, ``Run.log`` waits for the writer at the
  bound (backpressure): the loop slows down, memory does not grow, nothing is dropped. While
  the database refuses writes (disk full), the loop goes on; past the bound the oldest
  unwritten points are dropped and counted, and a ``data_loss`` event with the count is
  written once writing works again, which it retries by itself.
- A heartbeat thread beats every run's row in its own tiny transaction every
  HEARTBEAT_EVERY seconds, so a large batch never delays a beat; while the disk is full it
  also records how many points wait (``runs.pending``) when it can.
- On PostgreSQL the points go in as blocks, one COPY a run and batch (lernkurve.store.pgblocks), and
  writers of different runs share no lock: each run's new rows become visible in id order
  (Database.order_run_rows), which is all the stream's per-run cursors need.
- A run's final status goes into the transaction that commits its last point.
- A run whose row was deleted in the app is dropped with one line on stderr; its loop goes on.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time

from sqlalchemy import bindparam, select, text, update

from lernkurve.store.checkpoints import remove_files
from lernkurve.store.columns import columns_of
from lernkurve.store.database import Database
from lernkurve.store.models import (
    Event,
    RunRow,
    now,
)
from lernkurve.store.points import delete_points
from lernkurve.store.processes import process_identity
from lernkurve.store.sqlite import is_disk_full, is_locked
from lernkurve.tracking.batches import (
    entry_bytes,
    hold_final_status,
    is_foreign_key,
    write_outbox,
)
from lernkurve.tracking.buffer import RunBuffer
from lernkurve.tracking.diskfull import Loss, free_reserve, make_reserve, reserve_path
from lernkurve.tracking.heartbeat import Heartbeat, beat_rows

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.05
RETRY_INTERVAL = 0.5  # while the database refuses writes
BATCH_POLL = 0.004  # how often a waiting batch looks for the lock; beats look 4x as often
# Unwritten points a process may hold (LERNKURVE_PENDING_MB overrides the 128 MiB).
PENDING_BYTES = int(float(os.environ.get("LERNKURVE_PENDING_MB", "128")) * 2**20)
ENTRY_BYTES = 400  # memory of one log call until a batch has been measured
RELIEF = 0.75  # backpressure holds the loop until the backlog is below this share of the bound
FINISH_GRACE = 10.0  # seconds finish() waits for a refusing database before it gives up

_UPDATE_RUN = text(
    "UPDATE runs SET status = :status, step = :step, total_steps = :total_steps, "
    "hparams = :hparams, ended_at = :ended_at, error = :error, heartbeat_at = :beat, "
    "pending = NULL WHERE id = :id"
)
_CLOSE_COMMANDS = text(
    "UPDATE commands SET applied_at = :at WHERE run_id = :run_id AND applied_at IS NULL"
)
_PENDING_COMMANDS = text(
    "SELECT id, run_id, kind, payload FROM commands "
    "WHERE applied_at IS NULL AND run_id IN :ids ORDER BY id"
).bindparams(bindparam("ids", expanding=True))
_PENDING_COMMANDS_OF = text(
    "SELECT id, run_id, kind, payload FROM commands "
    "WHERE applied_at IS NULL AND run_id = :id ORDER BY id"
)
_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()


def register(run: RunBuffer) -> Writer:
    """Hand a run to the process's writer for its database, starting one if there is none."""
    with _writers_lock:
        writer = _writers.get(run.db.url)
        if writer is None or not writer.is_alive():
            writer = _writers[run.db.url] = Writer(run.db)
            writer.start()
        writer.register(run)
        return writer


class Writer(threading.Thread):
    def __init__(self, db: Database, interval: float = FLUSH_INTERVAL) -> None:
        super().__init__(name="lernkurve-writer", daemon=True)
        self.db = db
        self.interval = interval
        self._runs: dict[int, RunBuffer] = {}
        self._lock = threading.Lock()  # one flush at a time: the process's single writer
        self._wake = threading.Event()
        self._drained = threading.Condition()  # notified after every flush
        self._rows_written: dict[int, tuple] = {}  # run id -> row state written last
        self._losses: dict[int, Loss] = {}
        self._suspects: set[int] = set()  # runs whose row a beat did not find
        self._entry_bytes = ENTRY_BYTES
        self._heartbeat = Heartbeat(self)
        self._reserve = reserve_path(db)
        self.failure: str | None = None  # why the database refuses writes now; None: it takes them
        self.last_error: BaseException | None = None

    def start(self) -> None:
        make_reserve(self._reserve)
        super().start()
        self._heartbeat.start()

    def wake(self) -> None:
        """Flush now rather than at the next tick (a run has a large backlog)."""
        self._wake.set()

    def register(self, run: RunBuffer) -> None:
        with self._lock:
            self._runs[run.id] = run
            self._set_limits()
        self._record_process(run)
        self._wake.set()

    def _record_process(self, run: RunBuffer) -> None:
        """Put this process's pid and host into the run's config (the server's liveness test)
        and beat once: the run is alive from here on, however busy the lock is."""
        try:
            with self.db.write() as conn:
                config = conn.execute(select(RunRow.config).where(RunRow.id == run.id)).scalar()
                config = {**(config if isinstance(config, dict) else {}), **process_identity()}
                values = {"config": config, "heartbeat_at": now()}  # a first beat, lock held
                conn.execute(update(RunRow).where(RunRow.id == run.id).values(**values))
        except Exception:  # noqa: BLE001 - liveness then rests on the heartbeat alone
            log.warning("lernkurve: could not record run %s's process", run.id, exc_info=True)

    def _set_limits(self) -> None:
        """Share the process's bound among its runs, in log calls (the hot path counts them)."""
        calls = max(1000, PENDING_BYTES // (self._entry_bytes * max(1, len(self._runs))))
        for run in self._runs.values():
            run.pending_limit = calls

    def backpressure(self, run: RunBuffer) -> None:
        """Run.log reached the bound: wait while the writer makes room, never while it fails."""
        if self.failure is not None:
            self._trim_if_free(run)
            return
        self._wake.set()
        relief = run.pending_limit * RELIEF
        with self._drained:
            while (
                len(run.pending_points()) > relief
                and self.failure is None
                and run.id in self._runs
                and self.is_alive()
            ):
                self._drained.wait(0.1)

    def _trim_if_free(self, run: RunBuffer) -> None:
        """While writes fail, hold the run at its bound from the training thread too (unless
        a flush is under way: it trims when it fails), so a fast loop cannot overshoot."""
        if self._lock.acquire(blocking=False):
            try:
                self._trim(run)
            finally:
                self._lock.release()

    def _trim(self, run: RunBuffer) -> None:
        """Drop the oldest unwritten points beyond the bound, counting them."""
        over = len(run.pending_points()) - run.pending_limit
        if over > 0:
            self._loss(run).add(run.drop_oldest(over))

    def unregister(self, run: RunBuffer) -> None:
        """Flush everything the run still holds and forget it; never raises for a full disk."""
        self._flush_to_end(run)
        try:
            with self.db.write() as conn:  # requests that came after the last step
                conn.execute(_CLOSE_COMMANDS, {"run_id": run.id, "at": time.time()})
        except Exception:  # noqa: BLE001 - unread requests of an ended run change nothing
            log.debug("lernkurve: could not close run %s's commands", run.id, exc_info=True)
        with self._lock:
            self._runs.pop(run.id, None)
            self._rows_written.pop(run.id, None)
            self._losses.pop(run.id, None)
            self._set_limits()
        self._wake.set()

    def _flush_to_end(self, run: RunBuffer) -> None:
        give_up_at = None
        while True:
            try:
                if not self.flush(only=run):
                    return
                give_up_at = None
            except Exception as exc:  # noqa: BLE001 - retried, then given up with a count
                give_up_at = give_up_at or time.monotonic() + FINISH_GRACE
                if time.monotonic() >= give_up_at:
                    self._give_up(run, exc)
                    return
                time.sleep(self.interval)

    def _give_up(self, run: RunBuffer, exc: BaseException) -> None:
        with self._lock:
            left = run.pending_points()
            lost = sum(len(scalars) for _, _, scalars in left) + self._loss(run).points
            run.forget_pending()
        reason = "disk full" if is_disk_full(exc) else str(exc).splitlines()[0]
        print(
            f"lernkurve: run {run.id} ended but {lost} points could not be saved ({reason})",
            file=sys.stderr,
            flush=True,
        )

    def run(self) -> None:
        backlog = False
        while not self._retire_if_idle():
            if not backlog:
                self._wake.wait(self.interval)
            self._wake.clear()
            try:
                backlog = self.flush()
            except Exception:  # noqa: BLE001 - keep writing; the data is kept for retry
                backlog = False
                time.sleep(RETRY_INTERVAL if self.failure else self.interval)

    def _retire_if_idle(self) -> bool:
        """End the thread when no run is left; the next run starts a fresh writer."""
        with _writers_lock, self._lock:
            if self._runs:
                return False
            if _writers.get(self.db.url) is self:
                del _writers[self.db.url]
            self._heartbeat.stopped.set()
            return True

    def flush(self, only: RunBuffer | None = None) -> bool:
        """Write what the runs have gathered and deliver their new commands.

        Returns True when a run has more waiting than one flush takes.
        """
        with self._lock:
            self._drop_missing(set(self._suspects))
            runs = [only] if only is not None else list(self._runs.values())
            runs = [run for run in runs if not run.gone]
            if not runs:
                return False
            share = max(1000, self.db.batch_points // len(runs))
            batches = [hold_final_status(run.take_pending(share)) for run in runs]
            self._measure(batches)
            try:
                commands = self._write(runs, batches)
            except Exception as exc:
                for run, batch in zip(runs, batches, strict=True):
                    run.give_back(batch)
                if is_foreign_key(exc) and self._drop_missing({run.id for run in runs}):
                    return True  # the others' points go in with the next flush
                self._note_failure(exc)
                raise
            self._note_success()
            self._deliver_commands([run for run in runs if not run.gone], commands)
        with self._drained:
            self._drained.notify_all()
        return any(batch["more"] for batch in batches)

    def _measure(self, batches: list[dict]) -> None:
        """Learn what one log call costs in memory, to express the bound in log calls."""
        sample = next((batch["points"][0] for batch in batches if batch["points"]), None)
        if sample is not None:
            size = entry_bytes(sample)
            if abs(size - self._entry_bytes) > self._entry_bytes // 4:
                self._entry_bytes = size
                self._set_limits()

    def _note_failure(self, exc: BaseException) -> None:
        self.last_error = exc
        if is_locked(exc):
            return  # busy, not refusing: the loop waits (backpressure) rather than lose points
        reason = "disk full" if is_disk_full(exc) else str(exc).splitlines()[0]
        if is_disk_full(exc):
            free_reserve(self._reserve)
        if self.failure is None:
            log.warning(
                "lernkurve: cannot write to the database (%s); the run goes on, its points "
                "wait in memory (up to %g MB, then the oldest are dropped and counted)",
                reason,
                round(PENDING_BYTES / 2**20, 1),
            )
        self.failure = reason
        for run in self._runs.values():
            self._trim(run)

    def _note_success(self) -> None:
        self.last_error = None
        if self.failure is not None:
            log.warning("lernkurve: writing to the database again")
            self.failure = None
            make_reserve(self._reserve)

    def _loss(self, run: RunBuffer) -> Loss:
        return self._losses.setdefault(run.id, Loss())

    def _drop_missing(self, run_ids: set[int]) -> bool:
        """Drop the runs among these whose row is gone (deleted in the app); True if any."""
        if not run_ids:
            return False
        with self.db.engine.connect() as conn:
            found = set(conn.execute(select(RunRow.id).where(RunRow.id.in_(run_ids))).scalars())
        self._suspects -= run_ids
        gone = [self._runs[rid] for rid in run_ids - found if rid in self._runs]
        for run in gone:
            run.forget_pending(gone=True)
            self._runs.pop(run.id, None)
            self._rows_written.pop(run.id, None)
            self._losses.pop(run.id, None)
            print(
                f"lernkurve: run {run.id} was deleted in the app; its points are no longer "
                "saved (the script goes on)",
                file=sys.stderr,
                flush=True,
            )
        if gone:
            self._delete_points_of([run.id for run in gone])
        return bool(gone)

    def _delete_points_of(self, run_ids: list[int]) -> None:
        """Points a batch committed after its run's row was deleted (PostgreSQL keeps no
        foreign key from metrics to runs, for speed)."""
        try:
            with self.db.write() as conn:
                delete_points(conn, run_ids)
        except Exception:  # noqa: BLE001 - a few unreachable rows; the run is gone either way
            log.debug("lernkurve: could not delete points of deleted runs", exc_info=True)

    def _needs_write(self, run_id: int, batch: dict, state: tuple) -> bool:
        """Points, events, lost points to report or a changed row; otherwise skip the run."""
        return bool(
            batch["points"]
            or batch["outbox"]
            or self._losses.get(run_id)
            or self._rows_written.get(run_id) != state
        )

    def _write(self, runs: list[RunBuffer], batches: list[dict]) -> list[tuple] | None:
        """Write the batches in one transaction; the runs' new commands read in it (None
        when there was nothing to write: no transaction)."""
        work = []
        for run, batch in zip(runs, batches, strict=True):
            row = batch["row"]
            state = (row["status"], row["step"], row["total_steps"], repr(row["hparams"]))
            state += (row["ended_at"],)
            if self._needs_write(run.id, batch, state):
                # Made before the lock is taken: the lock is held only for the writes.
                work.append((run, batch, state, columns_of(batch["points"], run.float32)))
        if not work:
            return None
        missing, let_go = set(), []
        with self.db.write(poll=BATCH_POLL) as conn:
            self.db.order_run_rows(conn, [run.id for run, *_ in work])
            for run, _, _, columns in work:
                self.db.upsert_buckets(conn, run.id, columns.buckets)
            beat = now()  # with the lock held: a batch that lands is a beat too
            for run, batch, _, columns in work:
                self.db.insert_columns(conn, run.id, columns.keys)
                let_go += write_outbox(conn, run.id, batch["outbox"])
                loss = self._losses.get(run.id)
                if loss is not None:
                    event = loss.event(self.failure or "disk full")
                    conn.execute(Event.__table__.insert().values(run_id=run.id, **event))
                row = {**batch["row"], "hparams": json.dumps(batch["row"]["hparams"])}
                row.update(id=run.id, beat=beat)
                if self.db.execute_text(conn, _UPDATE_RUN, row).rowcount == 0:
                    missing.add(run.id)
            commands = self._pending_commands(conn, [run.id for run in runs])
        remove_files(let_go)  # once their rows are gone for good
        for run, _, state, columns in work:
            self._rows_written[run.id] = state
            self._losses.pop(run.id, None)
            for step, key, value in columns.bad:
                run.on_non_finite(step, key, value)
        self._drop_missing(missing)
        return commands

    def _pending_commands(self, conn, run_ids: list[int]) -> list[tuple]:
        """(id, run_id, kind, payload) of the runs' commands not applied yet, in order."""
        if len(run_ids) == 1:  # the usual case, and a statement the driver keeps prepared
            return self.db.execute_text(conn, _PENDING_COMMANDS_OF, {"id": run_ids[0]}).fetchall()
        return conn.execute(_PENDING_COMMANDS, {"ids": run_ids}).all()

    def _deliver_commands(self, runs: list[RunBuffer], commands: list[tuple] | None) -> None:
        """Hand the runs their new commands (read now when the flush wrote nothing)."""
        by_id = {run.id: run for run in runs}
        if not by_id:
            return
        if commands is None:
            with self.db.engine.connect() as conn:
                commands = self._pending_commands(conn, list(by_id))
        for command_id, run_id, kind, payload in commands:
            if run_id not in by_id:
                continue  # dropped in this flush (its row is gone)
            if isinstance(payload, str):  # SQLite hands JSON back as text through text()
                payload = json.loads(payload)
            by_id[run_id].receive_command(command_id, kind, payload or {})

    # -- the heartbeat thread -------------------------------------------------------------------

    def beat(self) -> None:
        """Stamp every run's heartbeat (and, while writes fail, its waiting points)."""
        runs = [run for run in list(self._runs.values()) if not run.gone]
        if runs:
            self._suspects |= beat_rows(self.db, runs, self.failure == "disk full")
        if self._suspects:
            self._wake.set()
