"""Serve a WSGI app (with Socket.IO websockets) from a background thread, and stop it cleanly."""

from __future__ import annotations

import logging
import socket
import sys
import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, without an error line per timed-out connection (a flood of them
    would be a flood of log lines)."""

    def log_error(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)


def handler_with_timeout(seconds: float | None) -> type[WSGIRequestHandler]:
    """A request handler whose connection closes after ``seconds`` without data.

    Without it a half-open connection (a client that connects and sends nothing) holds one
    thread forever.
    """
    return type("TimedRequestHandler", (QuietRequestHandler,), {"timeout": seconds})


def websocket_idle_timeout(app) -> float | None:
    """Seconds a websocket may stay silent: Engine.IO's ping interval + timeout, and a margin.

    A client's only traffic may be its answer to a ping, so a websocket must not time out as
    a silent HTTP request does (REQUEST_TIMEOUT): Engine.IO means to set this itself, but
    cannot reach the socket through simple-websocket's wrapper.
    """
    socketio = getattr(app, "extensions", {}).get("socketio")
    if socketio is None:
        return None
    eio = socketio.server.eio
    return eio.ping_interval + eio.ping_timeout + 5.0


def for_websockets(app, idle_timeout: float | None):
    """The WSGI app, with websocket upgrades given ``idle_timeout`` and no compression.

    Browsers always offer permessage-deflate and simple-websocket accepts it, so every message
    would be deflated once per client (each connection keeps its own compressor): 14x the
    server's cost of a send (14 -> 197 us for a 1.5 kB `metrics` message, measured with
    wsproto), paid 50 times for 50 clients, to save bytes on loopback where bytes cost nothing.
    """

    def wsgi(environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        sock = environ.get("werkzeug.socket")
        if idle_timeout and sock and environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            sock.settimeout(idle_timeout)
        return app(environ, start_response)

    return wsgi


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound and listening on host:port; OSError (EADDRINUSE ...) when it cannot be.

    Werkzeug's make_server binds by itself and answers a taken port with sys.exit(1), which a
    caller cannot tell from any other exit: bind here, hand Werkzeug the descriptor.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":  # on Windows this would let two servers share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class ServerThread:
    """Werkzeug's threaded server bound at once (port 0 = a free port, read back: no race)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        # Werkzeug logs every request at INFO; a desktop app has no use for that noise.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        handler = handler_with_timeout(app.config.get("REQUEST_TIMEOUT"))
        self._socket = listening_socket(host, port)
        self.server: BaseWSGIServer = make_server(
            host,
            port,
            for_websockets(app, websocket_idle_timeout(app)),
            threaded=True,
            request_handler=handler,
            fd=self._socket.fileno(),
        )
        self.host = host
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll interval
            name="lernkurve-http",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
        return f"http://{host}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._socket.close()  # Werkzeug closed its own duplicate of the descriptor
        self._thread.join(timeout)
