"""Lernkurve as a desktop app: ``python desktop.py`` (or the one-file executable).

The server runs in a thread on 127.0.0.1 (last launch's port if it is free, else any free
port: bound, then read back, before anyone is told); the dashboard shows in a pywebview window
on Qt. Closing the window, SIGINT or SIGTERM stop the
running built-in runs (each ends as `stopped`), the stream and the server, then the process
exits 0. Without a display the same app is served headless and its URL printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable
from urllib.parse import urlsplit

from lernkurve.desktop.backend import Backend
from lernkurve.desktop.signals import SignalWatcher
from lernkurve.desktop.window import (
    BACKGROUND,
    MIN_SIZE,
    READY_JS,
    SIZE,
    TITLE,
    configure_qt_environment,
    error_html,
    install_link_policy,
    keep_profile_in,
    loading_html,
)
from lernkurve.shared.paths import has_display, icon_path, user_data_dir, webview_storage_dir

# When this process began: the launcher of the one-file build passes its own start time on.
STARTED = float(os.environ.pop("LERNKURVE_LAUNCHED_AT", "") or time.time())
READY_TIMEOUT = 60.0
STARTUP_LOG = bool(os.environ.get("LERNKURVE_STARTUP_LOG"))  # benchmarks/bench_startup.py
# The one-file launcher's splash screen, left up for us to close once the window shows.
_SPLASH_FD = os.environ.pop("LERNKURVE_SPLASH_FD", None)


def note(event: str, at: float | None = None) -> None:
    """With LERNKURVE_STARTUP_LOG set, print when (``at``, else now) a start-up step was done."""
    if STARTUP_LOG:
        print(f"Lernkurve: {event} after {(at or time.time()) - STARTED:.2f} s", flush=True)


def close_launch_splash() -> None:
    """Close the launcher's splash (it goes when its socket says goodbye or closes)."""
    global _SPLASH_FD
    fd, _SPLASH_FD = _SPLASH_FD, None
    if fd and fd.isdigit():
        with contextlib.suppress(OSError):
            sock = socket.socket(fileno=int(fd))
            sock.sendall(b"\x04")  # pyi_splash's end of transmission
            sock.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lernkurve", description="Watch and steer PyTorch training live, in a native window."
    )
    parser.add_argument(
        "--db", help="database file or SQLAlchemy URL (default: LERNKURVE_DB, else the data dir)"
    )
    parser.add_argument("--token", help="access token (default: LERNKURVE_TOKEN, else random)")
    parser.add_argument(
        "--headless", action="store_true", help="serve for a browser instead of opening a window"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port when headless (default 0: any free port)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, on_ready: Callable | None = None) -> int:
    """Run the app until its window closes (or a signal comes); return the exit code.

    ``on_ready(window, backend)`` runs in a thread once the dashboard is usable (tests drive
    the window from there).
    """
    args = parse_args(argv)
    if getattr(sys, "frozen", False):
        # The executable leaves numpy out (bundle.EXCLUDES); torch only warns, nothing needs it.
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    config = {"DATABASE": args.db, "TOKEN": args.token}
    if not args.headless and not has_display():
        print(
            "lernkurve: no display (DISPLAY and WAYLAND_DISPLAY are unset), "
            "so no window: serving headless, open the URL below in a browser.",
            file=sys.stderr,
            flush=True,
        )
        args.headless = True
    if not args.headless and not window_toolkit_installed():
        print(
            'lernkurve: the window needs the desktop extra (pip install "lernkurve[desktop]"): '
            "serving headless, open the URL below in a browser.",
            file=sys.stderr,
            flush=True,
        )
        args.headless = True
    if args.headless:
        return serve_headless(config, args.port)
    return DesktopApp(config, on_ready).run()


def window_toolkit_installed() -> bool:
    """pywebview and its Qt backend: an optional extra when installed with pip."""
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("webview", "qtpy"))


def serve_headless(config: dict, port: int) -> int:
    """The same app without a window, exactly as ``python webserver.py`` serves it."""
    from lernkurve.launch import build_app
    from lernkurve.web.app import serve

    app = build_app(config)
    close_launch_splash()
    try:
        serve(app, "127.0.0.1", port)
    except OSError as err:
        app.extensions["lernkurve"].shutdown()
        print(f"lernkurve: cannot serve on 127.0.0.1:{port}: {err.strerror}", file=sys.stderr)
        return 1
    finally:
        app.extensions["lernkurve"].db.dispose()
    return 0


class DesktopApp:
    """One window over one backend; knows when the dashboard is usable and how to close."""

    def __init__(self, config: dict, on_ready: Callable | None = None) -> None:
        self.backend = Backend(config, port_file=user_data_dir() / "desktop-port.json")
        self.on_ready = on_ready
        self.window = None
        self.exit_code = 0
        self._quit = threading.Event()

    def run(self) -> int:
        configure_qt_environment()
        self.backend.start()  # builds the app while Qt loads below
        import webview

        install_link_policy(self._is_app_url)
        storage = webview_storage_dir()
        keep_profile_in(storage)
        webview.settings["ALLOW_DOWNLOADS"] = True  # CSV and PNG exports get a save dialog
        self.window = webview.create_window(
            TITLE,
            html=loading_html(),
            width=SIZE[0],
            height=SIZE[1],
            min_size=MIN_SIZE,
            background_color=BACKGROUND,
            text_select=True,
        )
        self.window.events.shown += close_launch_splash
        self.window.events.shown += lambda: note("window shown")
        watcher = SignalWatcher(lambda signum: self.close())
        try:
            webview.start(
                self._drive,
                gui="qt",
                private_mode=False,
                storage_path=str(storage),
                icon=str(icon_path()),
            )
        finally:
            self.backend.stop()
            watcher.close()
        return 1 if self.backend.error is not None else self.exit_code

    def close(self) -> None:
        """Close the window from any thread (a signal, a test); the exit follows from there."""
        self._quit.set()
        if self.window is not None and self.window.events.shown.is_set():
            self.window.destroy()

    def _is_app_url(self, url: str) -> bool:
        server = self.backend.server
        if server is None:
            return False
        parts = urlsplit(url)
        return parts.scheme == "http" and parts.netloc == f"{server.host}:{server.port}"

    def _drive(self) -> None:
        """In pywebview's thread: load the dashboard once the server listens, note readiness."""
        window = self.window
        window.events.shown.wait(READY_TIMEOUT)
        if self._quit.is_set():
            window.destroy()
            return
        if not self.backend.wait(READY_TIMEOUT):
            message = f"{type(self.backend.error).__name__}: {self.backend.error}"
            print(f"lernkurve: cannot start: {message}", file=sys.stderr, flush=True)
            window.load_html(error_html(message))
            return
        print(f"Lernkurve is running at {self.backend.base_url}/", flush=True)
        note("server listening", self.backend.ready_at)
        window.load_url(self.backend.window_url)
        if not self._wait_usable():
            return
        elapsed = time.time() - STARTED
        print(f"Lernkurve: dashboard ready after {elapsed:.2f} s", flush=True)
        threading.Thread(target=_warm_up_torch, name="lernkurve-warm-up", daemon=True).start()
        if self.on_ready is not None:
            self.on_ready(self.window, self.backend)

    def _wait_usable(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._quit.is_set() and time.monotonic() < deadline:
            try:
                # run_js, not evaluate_js: the page's CSP forbids the eval() the latter wraps.
                if self.window.run_js(READY_JS) is True:
                    return True
            except Exception:  # noqa: BLE001 - the page may be between loads
                pass
            time.sleep(0.05)
        return False


def exit_now(code: int) -> None:
    """Leave at once, skipping Python's teardown of every module.

    Runs, server, database and window are closed by then; unloading torch and Qt module by
    module would only add a second or more between closing the window and the process ending.
    """
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()  # a windowed build may have no console streams
    os._exit(code)


def _warm_up_torch() -> None:
    """Import torch now that the window is up, so the first run starts without the wait."""
    time.sleep(0.5)
    # A run that needs torch reports a failing import itself.
    with contextlib.suppress(Exception):
        import lernkurve.tasks.trainer  # noqa: F401 - imports torch
