"""SIGINT and SIGTERM, delivered to a callback in a plain thread.

Qt's event loop keeps the main thread in C++, where Python signal handlers only run when some
Python code happens to run. The C-level handler always writes the signal number to the wakeup
fd at once, though, so a thread blocked on that fd hears every signal immediately.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class SignalWatcher:
    """Call ``callback(signum)`` from a watcher thread for each SIGINT/SIGTERM the process gets."""

    def __init__(self, callback: Callable[[int], None], signals=SIGNALS) -> None:
        self._callback = callback
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous = {sig: signal.signal(sig, _ignore) for sig in signals}
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="lernkurve-signals", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            try:
                data = self._reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                self._callback(signum)

    def close(self) -> None:
        """Put the previous handlers back (main thread only) and end the watcher."""
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._writer.close()  # the reader sees EOF, the thread returns
        self._thread.join(1.0)
        self._reader.close()


def _ignore(signum, frame) -> None:
    """The Python-level handler: nothing to do, the watcher thread has already acted."""
