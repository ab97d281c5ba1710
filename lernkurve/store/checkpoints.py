"""Checkpoint files: where a database's live (with that database, never shared with another),
what they take on disk, which a fork still starts from, and removing them."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from lernkurve.shared.paths import user_data_dir
from lernkurve.store.database import Database
from lernkurve.store.models import LIVE_STATUSES, RunRow

# A folder is removed whole only when its name says it is a checkpoint (HF's checkpoint-N).
CHECKPOINT_FOLDER = re.compile(r"checkpoint|\.ckpt$", re.IGNORECASE)


class NotRemoved(OSError):
    """A checkpoint path that was left where it is; ``code`` says why, as the API answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def checkpoint_root(db: Database) -> Path:
    """``<file>.checkpoints/`` beside an SQLite file; else a data-dir folder keyed by the db's id.

    Two databases never share a file: run 1 of a.db and run 1 of b.db differ by folder.
    """
    return folder_of(db, "checkpoints")


def folder_of(db: Database, kind: str) -> Path:
    """``<file>.<kind>/`` beside an SQLite file; else ``<data dir>/<kind>/db-<the db's id>``."""
    url = make_url(db.url)
    if db.is_sqlite and url.database and url.database != ":memory:":
        return Path(f"{url.database}.{kind}")
    return user_data_dir() / kind / f"db-{db.instance_id()}"


def fork_sources(connection, parent_id: int | None = None) -> set[str]:
    """The checkpoint paths forks start from (a fork's config names it); only the forks of
    ``parent_id`` if given."""
    query = select(RunRow.config)
    if parent_id is not None:
        query = query.where(RunRow.parent_id == parent_id)
    configs = connection.execute(query).scalars()
    return {c["resume_from"] for c in configs if isinstance(c, dict) and c.get("resume_from")}


def in_use(connection) -> dict[str, str]:
    """Checkpoint paths a live fork still starts from, each with the reason in words."""
    rows = connection.execute(
        select(RunRow.id, RunRow.status, RunRow.config)
        .where(RunRow.status.in_(LIVE_STATUSES))
        .order_by(RunRow.id.desc())  # the oldest fork is named
    ).all()
    return {
        config["resume_from"]: f"run {run_id} ({status}) is a fork that starts from this checkpoint"
        for run_id, status, config in rows
        if isinstance(config, dict) and config.get("resume_from")
    }


def disk_size(path: str) -> int | None:
    """A checkpoint's bytes on disk: its file, or all files of its folder; None if not here."""
    where = Path(path)
    if not path or not where.is_absolute():
        return None  # relative to some script's folder, not to ours
    try:
        if not where.is_dir():
            return where.stat().st_size
    except OSError:
        return None
    total = 0
    for folder, _, files in os.walk(where):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we count
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def remove_path(path: str) -> None:
    """Delete a checkpoint's file, or its folder when the folder is named as one (Hugging
    Face's ``checkpoint-N``, Lightning's ``*.ckpt``); a file already gone is fine. NotRemoved
    when it stays."""
    where = Path(path)
    if not path or not where.is_absolute():
        return  # not ours to find: the row goes, nothing on disk is touched
    try:
        if where.is_dir() and not where.is_symlink():
            if not CHECKPOINT_FOLDER.search(where.name):
                raise NotRemoved(
                    "not_a_checkpoint_folder",
                    f"{path} is a folder whose name does not say checkpoint; remove it yourself",
                )
            shutil.rmtree(where)
        else:
            where.unlink(missing_ok=True)
    except NotRemoved:
        raise
    except OSError as err:
        raise NotRemoved("checkpoint_not_removed", f"could not remove {path}: {err}") from err


def remove_files(paths: list[str] | set[str]) -> None:
    """Delete checkpoint files, and a ``run-<id>`` folder once it is empty; a file already gone
    is fine, and one that cannot be removed is left (its row is gone either way)."""
    for path in map(Path, paths):
        try:
            path.unlink(missing_ok=True)
            if path.parent.name.startswith("run-") and not any(path.parent.iterdir()):
                path.parent.rmdir()
        except OSError:
            pass
