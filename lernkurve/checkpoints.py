"""Where a database's checkpoint files live: with that database, never shared with another."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from lernkurve.db import Database, data_dir


def checkpoint_root(db: Database) -> Path:
    """``<file>.checkpoints/`` beside an SQLite file; else a data-dir folder keyed by the db's id.

    Two databases never share a file: run 1 of a.db and run 1 of b.db differ by folder.
    """
    url = make_url(db.url)
    if db.is_sqlite and url.database and url.database != ":memory:":
        return Path(url.database + ".checkpoints")
    return data_dir() / "checkpoints" / f"db-{db.instance_id()}"


def remove_files(paths: list[str]) -> None:
    """Delete checkpoint files, and a ``run-<id>`` folder once it is empty; a file already gone
    is fine, and one that cannot be removed is left (its row is gone either way)."""
    for path in map(Path, paths):
        try:
            path.unlink(missing_ok=True)
            if path.parent.name.startswith("run-") and not any(path.parent.iterdir()):
                path.parent.rmdir()
        except OSError:
            pass
