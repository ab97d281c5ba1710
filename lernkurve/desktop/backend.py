"""The app and its server, built and started in a thread while the window comes up."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path

from lernkurve.store import servers


class Backend:
    """Build the Flask app, serve it on 127.0.0.1 (a free port), and stop it cleanly."""

    def __init__(self, config: dict, port_file: Path | None = None) -> None:
        self.config = config
        self.port_file = port_file
        self.app = None
        self.server = None
        self.error: BaseException | None = None
        self.ready_at: float | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._start, name="lernkurve-backend", daemon=True)

    def start(self) -> Backend:
        self._thread.start()
        return self

    def _start(self) -> None:
        try:
            from lernkurve.launch import build_app
            from lernkurve.web.app import start_app
            from lernkurve.web.server import ServerThread

            self.app = build_app(self.config)
            server = self._bind(ServerThread)
            start_app(self.app)
            self.server = server.start()
            servers.write(self._database(), self.server.base_url, self.token)  # for notebooks
            self.ready_at = time.time()
        except BaseException as exc:  # noqa: BLE001 - reported to the window and the exit code
            self.error = exc
        finally:
            self._ready.set()

    def _bind(self, server_thread):
        """Bind last launch's port again if it is free, else any free port (port 0).

        The page's origin includes the port, and the browser keeps local storage (theme,
        language) per origin: the same port keeps them. Binding either succeeds or fails at
        once, so there is no window for a race, as there would be with check-then-bind.
        """
        last = self._last_port()
        if last:
            try:
                return server_thread(self.app, "127.0.0.1", last)
            except OSError:
                pass
        server = server_thread(self.app, "127.0.0.1", 0)
        if self.port_file is not None:
            # A read-only data directory only costs the remembered port.
            with contextlib.suppress(OSError):
                self.port_file.write_text(json.dumps({"port": server.port}))
        return server

    def _last_port(self) -> int | None:
        try:
            port = json.loads(self.port_file.read_text())["port"]
        except (AttributeError, OSError, ValueError, KeyError, TypeError):
            return None
        return port if isinstance(port, int) and 1024 <= port <= 65535 else None

    def _database(self) -> str:
        return self.app.extensions["lernkurve"].db.url

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server listens or failed; True when it listens."""
        self._ready.wait(timeout)
        return self.server is not None

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def token(self) -> str:
        return self.app.config["TOKEN"]

    @property
    def window_url(self) -> str:
        """The first page: it keeps the token in sessionStorage and drops it from the address."""
        return f"{self.base_url}/?token={self.token}"

    def stop(self, timeout: float = 1.5) -> None:
        """End running built-in runs (as `stopped`), the stream, the server and the database."""
        self._ready.wait(10)
        if self.server is not None:
            servers.remove(self._database(), self.token)
        if self.app is not None:
            state = self.app.extensions["lernkurve"]
            state.shutdown(timeout=timeout)
        if self.server is not None:
            self.server.stop()
        if self.app is not None:
            self.app.extensions["lernkurve"].db.dispose()
