"""The composition root: the web server (lernkurve.web) joined with the built-in tasks'
worker (lernkurve.tasks), which neither imports. ``python webserver.py``, ``lernkurve serve``.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import logging
import os
import sys
import threading

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from lernkurve.store import servers
from lernkurve.store.database import Database
from lernkurve.store.migrate import SchemaTooNew
from lernkurve.tasks.worker import Worker
from lernkurve.web.app import create_app, serve, start_app
from lernkurve.web.security import is_loopback_name
from lernkurve.web.server import ServerThread


def build_app(config: dict | None = None) -> Flask:
    """The app with its worker: built-in runs queued in the database train in this process
    (``"START_WORKER": False`` in ``config``: they wait for another trainer)."""
    config = dict(config or {})
    worker = Worker if config.pop("START_WORKER", True) else None
    return create_app(config, worker)


_background: dict[str, tuple[str, str]] = {}  # database URL -> (base URL, token)
_running: dict[str, functools.partial] = {}  # database URL -> what stops its server
_background_lock = threading.Lock()


def serve_in_background(db: str | None = None) -> tuple[str, str]:
    """Serve the app for ``db`` from daemon threads of this process (a notebook's kernel) on
    127.0.0.1, a free port, once per database; (base URL, token). Recorded for other processes
    (lernkurve.store.servers); stopped, its built-in runs as `stopped`, when the process exits."""
    url = Database.url_for(db)
    with _background_lock:
        if url not in _background:
            app = build_app({"DATABASE": url})
            server = ServerThread(app, "127.0.0.1", 0)
            start_app(app)
            server.start()
            token = app.config["TOKEN"]
            servers.write(url, server.base_url, token)
            stop = functools.partial(_stop_background, app, server, url)
            atexit.register(stop)
            _running[url] = stop
            _background[url] = (server.base_url, token)
        return _background[url]


def stop_background(db: str | None = None) -> None:
    """Stop the app serve_in_background serves for ``db`` (tests; the process's exit does)."""
    url = Database.url_for(db)
    with _background_lock:
        entry = _running.pop(url, None)
        _background.pop(url, None)
    if entry is not None:
        atexit.unregister(entry)
        entry()


def _stop_background(app: Flask, server: ServerThread, url: str) -> None:
    servers.remove(url, app.config["TOKEN"])
    app.extensions["lernkurve"].shutdown()
    server.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lernkurve serve", description="Serve Lernkurve headless, for any browser."
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument(
        "--db",
        help="database file or SQLAlchemy URL (default: LERNKURVE_DB, "
        "else lernkurve.db in the user's data directory)",
    )
    parser.add_argument("--token", help="access token (default: LERNKURVE_TOKEN, else random)")
    args = parser.parse_args(argv)
    if not is_loopback_name(args.host):
        parser.error("--host must be a loopback address: the app has no other protection")
    args.host = args.host.strip("[]")
    return args


def database_problem(err: Exception) -> str:
    """One line for a database that cannot be opened: the driver's words, not a traceback."""
    reason = getattr(err, "orig", None) or err
    if isinstance(reason, FileExistsError):  # mkdir of the folders on the way met a file
        return f"not a folder: {reason.filename}"
    text = getattr(reason, "strerror", None) or str(reason)
    filename = getattr(reason, "filename", None)
    return f"{text}: {filename}" if filename else text.splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        app = build_app({"DATABASE": args.db, "TOKEN": args.token})
    except (SQLAlchemyError, OSError, SchemaTooNew) as err:
        where = args.db or "the default database"
        print(f"lernkurve: cannot open {where}: {database_problem(err)}", file=sys.stderr)
        return 1
    try:
        serve(app, args.host, args.port)
    except OSError as err:
        print(
            f"lernkurve: cannot serve on {args.host}:{args.port}: {err.strerror}", file=sys.stderr
        )
        return 1
    return 0


def exit_now(code: int) -> None:
    """Exit without Python's module teardown (about 0.4 s here): by now the runs have stopped,
    the database is closed and the server is down; only the output wants flushing."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
