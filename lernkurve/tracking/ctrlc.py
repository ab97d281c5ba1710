"""Ctrl-C while a run saves its last points: a second one says so instead of cutting the save
short (a terminal and a wrapper such as ``timeout`` both send one); a third quits."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ctrl_c_waits(message: str) -> Iterator[None]:
    """Within: the first SIGINT prints ``message`` and is otherwise ignored; the next one
    raises KeyboardInterrupt as usual. Only in the main thread, and only over Python's own
    handler (a handler the script set stays in charge)."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def once_more(_signum, _frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(message, file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, once_more)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
