"""Which process drives a run, and whether it still lives: kept in the run's config so that the
server (or a resuming script) can tell a dead run from a busy one."""

from __future__ import annotations

import os
import socket
from typing import Any

import psutil


def process_identity() -> dict[str, Any]:
    """Who drives a run: pid, host and the process's creation time, kept in its config."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "pid_created": psutil.Process(pid).create_time(),
    }


def process_alive(config: dict | None) -> bool | None:
    """Is the process named in a run's config still there? None: cannot tell from here."""
    config = config if isinstance(config, dict) else {}
    pid, host = config.get("pid"), config.get("host")
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return None  # another machine, or an older row
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False  # it has ended; its parent has not reaped it yet
        created = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists, owned by someone else
    recorded = config.get("pid_created")  # rows from before it was kept have none
    return not isinstance(recorded, int | float) or abs(created - recorded) < 0.5  # pid reused?
