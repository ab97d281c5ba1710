"""Where a run's media files (images a script logs) live: beside its database, as its
checkpoints do (lernkurve.store.checkpoints), in a folder of their own."""

from __future__ import annotations

import shutil
from pathlib import Path

from lernkurve.store.checkpoints import folder_of
from lernkurve.store.database import Database

# The names of a run's media files (PNG); the routes that serve them accept no others.
FILE_NAME = r"[A-Za-z0-9._-]+\.png"


def media_root(db: Database) -> Path:
    """``<file>.media/`` beside an SQLite file; else a data-dir folder keyed by the db's id."""
    return folder_of(db, "media")


def run_media_dir(db: Database, run_id: int) -> Path:
    """The folder of one run's media files (not created here)."""
    return media_root(db) / f"run-{run_id}"


def remove_media(db: Database, run_ids: list[int]) -> None:
    """Delete these runs' media folders (their runs are gone)."""
    for run_id in run_ids:
        shutil.rmtree(run_media_dir(db, run_id), ignore_errors=True)
