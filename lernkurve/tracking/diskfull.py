"""When the disk is full: a reserve file set aside beside an SQLite database and given up at a
full disk (room for the few small writes that tell the app how many points wait, and keep the
heartbeat going), and the points dropped meanwhile, counted until an event records them."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import make_url

from lernkurve.store.database import Database
from lernkurve.store.models import now

RESERVE_BYTES = 1 << 20


def reserve_path(db: Database) -> Path | None:
    """Where the disk-full reserve of a SQLite file lives (None: not a file database)."""
    name = make_url(db.url).database if db.is_sqlite else None
    return Path(f"{name}-reserve") if name and name != ":memory:" else None


def make_reserve(path: Path | None) -> None:
    """Set the reserve aside (written under another name first: never half a reserve)."""
    if path is None or path.exists():
        return
    partial = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        partial.write_bytes(bytes(RESERVE_BYTES))
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)


def free_reserve(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


class Loss:
    """Points dropped while the database refused them, until a data_loss event records them."""

    def __init__(self) -> None:
        self.points = 0
        self.first_step: int | None = None
        self.last_step: int | None = None

    def add(self, dropped: list[tuple]) -> None:
        self.points += sum(len(scalars) for _, _, scalars in dropped)
        if self.first_step is None:
            self.first_step = dropped[0][0]
        self.last_step = dropped[-1][0]

    def event(self, reason: str) -> dict:
        payload = {
            "points": self.points,
            "reason": reason,
            "first_step": self.first_step,
            "last_step": self.last_step,
        }
        return {"step": self.last_step, "wall_time": now(), "kind": "data_loss", "payload": payload}
