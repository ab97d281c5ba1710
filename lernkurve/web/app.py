"""Lernkurve's server: REST API, Socket.IO stream and the dashboard page (the app factory).

The app trains nothing itself: lernkurve.launch, the composition root, hands it the built-in
tasks' worker. Headless: ``lernkurve serve`` or ``python webserver.py``; the desktop app
serves the same app inside a native window.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, make_response, render_template, request
from flask_socketio import SocketIO
from werkzeug.exceptions import HTTPException

from lernkurve import __version__
from lernkurve.shared.paths import resource_root
from lernkurve.store import servers
from lernkurve.store.database import Database
from lernkurve.web import checkpoints, decide, history, layout, runs, steer, tbimport
from lernkurve.web.pageassets import own_modules
from lernkurve.web.rest import json_http_error
from lernkurve.web.security import (
    OLD_COOKIE_PREFIX,
    SecurityMiddleware,
    init_security,
    token_ok,
)
from lernkurve.web.server import ServerThread
from lernkurve.web.sockets import register_socket_events
from lernkurve.web.streamer import Streamer

ROOT = resource_root()  # templates/ and static/
DEFAULTS = {
    "DATABASE": None,  # None: LERNKURVE_DB, else the file in the user's data directory
    "TOKEN": None,  # None: LERNKURVE_TOKEN, else a fresh random token per launch
    "CHECKPOINT_DIR": None,  # None: with the database (lernkurve.store.checkpoints)
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "MAX_RECIPE_LENGTH": 2 * 1024 * 1024,  # POST /api/runs: a recipe of 10,000 changes fits
    "STREAM_INTERVAL": 0.025,
    # An HTTP connection that sends nothing for this long is closed (half-open connections
    # would hold a thread each forever). Websockets get their own idle limit, Engine.IO's
    # ping interval + timeout + 5 s (lernkurve.web.server), so a slow reader keeps its stream.
    "REQUEST_TIMEOUT": 60.0,
}


# Makes what trains the built-in runs in this process, from the app's database and checkpoint
# folder: an object with start() and stop(timeout) (lernkurve.tasks.worker.Worker).
WorkerFactory = Callable[[Database, Any], Any]


class AppState:
    """What one app instance owns: its database, streamer and (optionally) worker."""

    def __init__(self, app: Flask, socketio: SocketIO, worker: WorkerFactory | None) -> None:
        config = app.config
        self.db = Database(config["DATABASE"])
        check_writable(self.db)
        self.streamer = Streamer(socketio, self.db, config["STREAM_INTERVAL"])
        self.worker = worker(self.db, config["CHECKPOINT_DIR"]) if worker else None
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


def create_app(config: dict | None = None, worker: WorkerFactory | None = None) -> Flask:
    """Build the app; ``config`` overrides DEFAULTS (tests pass a temp database and token);
    ``worker`` makes what trains built-in runs here (none: queued runs wait for a trainer).

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
    for routes in (runs, steer, history, checkpoints, decide, tbimport, layout):
        app.register_blueprint(routes.bp)
    app.register_error_handler(HTTPException, json_http_error)
    socketio = SocketIO(app, async_mode="threading")
    app.wsgi_app = SecurityMiddleware(app.wsgi_app)  # outside Socket.IO's own middleware
    app.extensions["lernkurve"] = state = AppState(app, socketio, worker)
    register_pages(app)
    register_socket_events(socketio, app, state.streamer)
    return app


def register_pages(app: Flask) -> None:
    modules = own_modules(ROOT)

    @app.get("/")
    def index():
        """The page holds no secret: it takes ``?token=`` into sessionStorage by itself."""
        token = request.args.get("token")
        if token is not None and not token_ok(app, token):
            return render_template("locked.html"), 401
        page = render_template("index.html", version=__version__, modules=modules)
        response = make_response(page)
        response.headers["Cache-Control"] = "no-store"  # its address may carry the token
        for name in request.cookies:
            if name.startswith(OLD_COOKIE_PREFIX):  # sent to every port: gone for good
                response.delete_cookie(name)
        return response


def serve(app: Flask, host: str, port: int, announce=print) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop runs and the server cleanly."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the URL: a signal right after it
        signal.signal(sig, lambda *_: done.set())  # must stop cleanly, not kill
    server = ServerThread(app, host, port)  # bound first: a taken port starts nothing
    start_app(app)
    server.start()
    token, database = app.config["TOKEN"], app.extensions["lernkurve"].db.url
    servers.write(database, server.base_url, token)  # a notebook's lernkurve.init finds it
    announce(f"Lernkurve is running at {server.base_url}/?token={token}")
    announce("Press Ctrl-C to stop.")
    sys.stdout.flush()
    try:
        while not done.wait(0.05):
            pass
    finally:
        servers.remove(database, token)
    app.extensions["lernkurve"].shutdown()
    server.stop()
