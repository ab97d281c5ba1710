"""Lernkurve's server: REST API, Socket.IO stream and the dashboard page.

Headless: ``lernkurve serve`` or ``python webserver.py [--host 127.0.0.1] [--port N] [--db
PATH|URL] [--token T]``; the desktop app serves the same app inside a native window.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading

from flask import Flask, make_response, render_template, request
from flask_socketio import SocketIO
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from lernkurve import __version__
from lernkurve.api import bp as api_bp
from lernkurve.api import json_http_error
from lernkurve.db import Database
from lernkurve.decide_api import bp as decide_bp
from lernkurve.paths import resource_root
from lernkurve.schema import SchemaTooNew
from lernkurve.security import (
    OLD_COOKIE_PREFIX,
    SecurityMiddleware,
    init_security,
    is_loopback_name,
    token_ok,
)
from lernkurve.server import ServerThread
from lernkurve.sockets import register_socket_events
from lernkurve.streamer import Streamer
from lernkurve.tbimport_api import bp as tbimport_bp
from lernkurve.worker import Worker

ROOT = resource_root()  # templates/ and static/
DEFAULTS = {
    "DATABASE": None,  # None: LERNKURVE_DB, else the file in the user's data directory
    "TOKEN": None,  # None: LERNKURVE_TOKEN, else a fresh random token per launch
    "START_WORKER": True,  # train built-in runs in this process
    "CHECKPOINT_DIR": None,  # None: with the database (lernkurve.checkpoints)
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "STREAM_INTERVAL": 0.025,
    # An HTTP connection that sends nothing for this long is closed (half-open connections
    # would hold a thread each forever). Websockets get their own idle limit, Engine.IO's
    # ping interval + timeout + 5 s (lernkurve.server), so a slow reader keeps its stream.
    "REQUEST_TIMEOUT": 60.0,
}


class AppState:
    """What one app instance owns: its database, streamer and (optionally) worker."""

    def __init__(self, app: Flask, socketio: SocketIO) -> None:
        config = app.config
        self.db = Database(config["DATABASE"])
        check_writable(self.db)
        self.streamer = Streamer(socketio, self.db, config["STREAM_INTERVAL"])
        self.worker = Worker(self.db, config["CHECKPOINT_DIR"]) if config["START_WORKER"] else None
        self.started = False

    def start(self) -> AppState:
        """Start the stream (it also sweeps dead runs to `interrupted`) and the worker."""
        if not self.started:
            self.started = True
            self.streamer.start()
            if self.worker is not None:
                self.worker.start()
        return self

    def shutdown(self, timeout: float = 1.5) -> None:
        """Stop running built-in runs (they end as `stopped`) and the stream."""
        if self.started and self.worker is not None:
            self.worker.stop(timeout)
        self.streamer.stop()
        self.db.dispose()


def check_writable(db: Database) -> None:
    """Fail at start, not at the first click, on a file that cannot be written."""
    if not db.is_sqlite:
        return
    with db.engine.begin() as conn:  # rewrites the header's value unchanged: a real write
        version = int(conn.exec_driver_sql("PRAGMA user_version").scalar())
        conn.exec_driver_sql(f"PRAGMA user_version = {version}")


def start_app(app: Flask) -> Flask:
    """Start the app's threads (stream, worker): create_app only configures."""
    app.extensions["lernkurve"].start()
    return app


def create_app(config: dict | None = None) -> Flask:
    """Build the app; ``config`` overrides DEFAULTS (tests pass a temp database and token).

    Nothing runs yet: ``start_app(app)`` (serve() does it) starts the stream and the worker.
    """
    app = Flask(
        __name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static")
    )
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    app.config["TOKEN"] = (
        app.config["TOKEN"] or os.environ.get("LERNKURVE_TOKEN") or secrets.token_urlsafe(24)
    )
    app.json.sort_keys = False
    init_security(app)
    app.register_blueprint(api_bp)
    app.register_blueprint(tbimport_bp)
    app.register_blueprint(decide_bp)
    app.register_error_handler(HTTPException, json_http_error)
    socketio = SocketIO(app, async_mode="threading")
    app.wsgi_app = SecurityMiddleware(app.wsgi_app)  # outside Socket.IO's own middleware
    app.extensions["lernkurve"] = state = AppState(app, socketio)
    register_pages(app)
    register_socket_events(socketio, app, state.streamer)
    return app


def register_pages(app: Flask) -> None:
    @app.get("/")
    def index():
        """The page holds no secret: it takes ``?token=`` into sessionStorage by itself."""
        token = request.args.get("token")
        if token is not None and not token_ok(app, token):
            return render_template("locked.html"), 401
        response = make_response(render_template("index.html", version=__version__))
        response.headers["Cache-Control"] = "no-store"  # its address may carry the token
        for name in request.cookies:
            if name.startswith(OLD_COOKIE_PREFIX):  # sent to every port: gone for good
                response.delete_cookie(name)
        return response


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


def serve(app: Flask, host: str, port: int, announce=print) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop runs and the server cleanly."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the URL: a signal right after it
        signal.signal(sig, lambda *_: done.set())  # must stop cleanly, not kill
    server = ServerThread(app, host, port)  # bound first: a taken port starts nothing
    start_app(app)
    server.start()
    announce(f"Lernkurve is running at {server.base_url}/?token={app.config['TOKEN']}")
    announce("Press Ctrl-C to stop.")
    sys.stdout.flush()
    while not done.wait(0.05):
        pass
    app.extensions["lernkurve"].shutdown()
    server.stop()


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
        app = create_app({"DATABASE": args.db, "TOKEN": args.token})
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
