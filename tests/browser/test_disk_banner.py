"""The disk-full banner in real Chromium: fed by the runs' `pending`, gone once it clears."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from lernkurve.store.models import RunRow, now
from lernkurve.store.processes import process_identity

pytestmark = pytest.mark.browser


def set_pending(db, run_id: int, pending: int | None) -> None:
    """What a script's writer records while the disk is full (and clears when it writes again)."""
    with db.write() as conn:
        values = {"pending": pending, "heartbeat_at": now()}
        conn.execute(update(RunRow).where(RunRow.id == run_id).values(**values))


def test_the_banner_says_how_many_points_wait_while_the_disk_is_full(dashboard):
    db = dashboard.server.app.extensions["lernkurve"].db
    run = db.insert_run(  # a script run of this (live) process: never swept to `interrupted`
        name="full", task="script", status="running", config=process_identity(), heartbeat_at=now()
    )
    banner = dashboard.page.locator("#disk-banner")
    set_pending(db, run.id, 1234)
    banner.filter(has_text="Disk full: 1,234 points waiting").wait_for()
    set_pending(db, run.id, None)
    banner.wait_for(state="hidden")
