"""The training side of the app: claims queued built-in runs and trains each in a thread."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy import select, update

from lernkurve.shared.taskspecs import TASKS, task_schema
from lernkurve.store.database import Database
from lernkurve.store.models import Command, RunRow, now
from lernkurve.tracking.context import builtin_context
from lernkurve.tracking.run import Run

log = logging.getLogger(__name__)


def claim(db: Database, run_id: int) -> bool:
    """Atomically move a queued run to running; False if someone else took it first."""
    stamp = now()
    with db.engine.begin() as conn:
        result = conn.execute(
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.status == "queued")
            .values(status="running", started_at=stamp, heartbeat_at=stamp)
        )
    return result.rowcount == 1


def train_builtin(db: Database, row: RunRow, checkpoint_dir: Path | None) -> Run:
    """Train one claimed built-in run to its end in the calling thread."""
    run = Run(
        db,
        row.id,
        row.hparams,
        step=row.step or 0,
        total_steps=row.total_steps,
        checkpoint_dir=checkpoint_dir,
    )
    run.schema = (row.config or {}).get("schema") or task_schema(row.task)
    run.load_recipe((row.config or {}).get("recipe"))
    try:
        from lernkurve.tasks.trainer import Trainer  # torch loads here, not at server start

        # After torch is whole: another run's thread may be importing it right now.
        run.buffer.add("config", {"context": builtin_context(row.task)})  # the About panel

        Trainer(run, row.task, resume_from=(row.config or {}).get("resume_from")).train()
        run.finish()
    except Exception as exc:  # noqa: BLE001 - any failure of the task is the run's failure
        run.fail(exc)
    return run


class Worker:
    """Polls the database for queued built-in runs; each claimed run trains in its own thread."""

    def __init__(self, db: Database, checkpoint_dir: Path | None = None, poll: float = 0.1):
        self.db = db
        self.checkpoint_dir = checkpoint_dir
        self.poll = poll
        self._stop = threading.Event()
        self._threads: dict[int, threading.Thread] = {}
        self._thread = threading.Thread(target=self._loop, name="lernkurve-worker", daemon=True)

    def start(self) -> Worker:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self._claim_queued()
            except Exception:  # noqa: BLE001 - a busy database must not kill the worker
                log.exception("lernkurve worker: polling for queued runs failed")

    def _claim_queued(self) -> None:
        query = select(RunRow).where(RunRow.status == "queued", RunRow.task.in_(list(TASKS)))
        with self.db.Session() as session:
            rows = session.scalars(query.order_by(RunRow.id)).all()
        for row in rows:
            if not self._stop.is_set() and claim(self.db, row.id):
                self._start_thread(row)

    def _start_thread(self, row: RunRow) -> None:
        thread = threading.Thread(
            target=train_builtin,
            args=(self.db, row, self.checkpoint_dir),
            name=f"lernkurve-run-{row.id}",
            daemon=True,
        )
        self._threads[row.id] = thread
        thread.start()

    def _ask_to_stop(self, run_ids: list[int], timeout: float) -> None:
        if not run_ids:
            return
        stamp = now()
        with self.db.write(timeout=timeout) as conn:
            for run_id in run_ids:
                conn.execute(
                    Command.__table__.insert().values(
                        run_id=run_id,
                        kind="stop",
                        payload={"reason": "app closing"},
                        created_at=stamp,
                    )
                )

    def active(self) -> list[int]:
        return [rid for rid, thread in self._threads.items() if thread.is_alive()]

    def stop(self, timeout: float = 1.5) -> None:
        """Stop claiming, ask every running run to stop, wait for them to end as `stopped`."""
        self._stop.set()
        self._thread.join(timeout)  # no claim can start a run after this
        try:
            self._ask_to_stop(self.active(), timeout)
        except Exception:  # noqa: BLE001 - a full disk must not keep the app from closing
            log.warning("lernkurve worker: could not ask the runs to stop", exc_info=True)
        deadline = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
