"""SQLite's side of the store: its pragmas, a fair way to take its write lock, and how its
errors read (busy, disk full)."""

from __future__ import annotations

import random
import sqlite3
import time

BUSY_TIMEOUT_MS = 10_000


def sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked"/"busy": another connection holds the write lock."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def is_disk_full(exc: BaseException) -> bool:
    """The database (or its journal) could not grow: the disk or a quota is full."""
    text = str(exc).lower()
    return "disk is full" in text or "no space left" in text or "quota" in text


def begin_immediate(raw: sqlite3.Connection, timeout: float, poll: float) -> None:
    """Take SQLite's write lock, looking for it about every ``poll`` seconds.

    SQLite's own busy handler sleeps up to 100 ms between looks, so a waiter can starve
    while other processes hand the lock back and forth; looking this often finds the gaps
    (and whoever looks more often, e.g. a heartbeat, tends to get them first).
    """
    deadline = time.monotonic() + timeout
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_locked(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(poll * random.uniform(0.5, 1.5))
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
