"""The heartbeat: every run's row stamped in its own tiny transaction every HEARTBEAT_EVERY
seconds, apart from the points, so a large batch never delays it and a live run is never taken
for dead; while the disk is full it also records how many points wait (``runs.pending``)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import text

from lernkurve.store.database import Database
from lernkurve.store.models import now

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 0.5
_BEAT = text("UPDATE runs SET heartbeat_at = :at, pending = :pending WHERE id = :id")


class Heartbeat(threading.Thread):
    """Beats the writer's runs apart from the metric writes, so a big batch never delays it."""

    def __init__(self, writer: Any) -> None:
        super().__init__(name="lernkurve-heartbeat", daemon=True)
        self.writer = writer
        self.stopped = threading.Event()

    def run(self) -> None:
        failing = False
        while not self.stopped.is_set():
            try:
                self.writer.beat()
                failing = False
            except Exception:  # noqa: BLE001 - the writer reports why writes fail
                if not failing:
                    log.debug("lernkurve heartbeat failed", exc_info=True)
                failing = True
            self.stopped.wait(HEARTBEAT_EVERY)


def beat_rows(db: Database, buffers: list, count_pending: bool) -> set[int]:
    """Stamp the runs' rows now; with ``count_pending`` also their unwritten points. Returns
    the ids whose row was not found (deleted in the app)."""
    missing = set()
    with db.write(checkpoint=False) as conn:
        stamp = now()  # taken with the lock held: the beat is as fresh as its commit
        for buffer in buffers:
            pending = buffer.pending_point_count() if count_pending else None
            found = conn.execute(_BEAT, {"at": stamp, "pending": pending, "id": buffer.id})
            if found.rowcount == 0:
                missing.add(buffer.id)
    return missing
