"""Which local app server serves a database: one small record per database in the data dir.

A server writes ``servers/<hash of the database URL>.json`` (its address, token and process
id; readable by the user only, as the token is a secret) when it starts serving and removes it
when it stops, so another process of the user (a notebook's kernel) can find it, not start a
second one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import psutil

from lernkurve.shared.paths import user_data_dir

FOLDER = "servers"


def record_path(database_url: str) -> Path:
    """Where the record of the server for ``database_url`` lies."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:20]
    return user_data_dir() / FOLDER / f"{digest}.json"


def write(database_url: str, base_url: str, token: str) -> Path | None:
    """Record that this process serves ``database_url`` at ``base_url`` (None: not writable)."""
    path = record_path(database_url)
    record = {"database": database_url, "url": base_url, "token": token, "pid": os.getpid()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(record, out)
        os.replace(path.with_suffix(".tmp"), path)
    except OSError:  # a read-only data directory only costs finding this server
        return None
    return path


def read(database_url: str) -> dict | None:
    """The record of a live process serving ``database_url``, or None."""
    try:
        record = json.loads(record_path(database_url).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("database") != database_url:
        return None
    pid = record.get("pid")
    if not isinstance(pid, int) or not psutil.pid_exists(pid):
        return None
    if not isinstance(record.get("url"), str) or not isinstance(record.get("token"), str):
        return None
    return record


def remove(database_url: str, token: str) -> None:
    """Remove the record if it still names the server with ``token`` (not a newer one)."""
    path = record_path(database_url)
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if json.loads(path.read_text()).get("token") == token:
            path.unlink()
