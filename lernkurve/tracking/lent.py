"""Tensors lent to the process group's worker threads, kept until every thread lets go.

A gloo worker thread holds the tensors of a collective until it drops the work, and dropping
a tensor that Python also knows takes the GIL. A worker that does so after the interpreter
began to shut down aborts the process (SIGABRT, "terminate called without an active
exception"; seen on a loaded machine, where the worker runs late). So every tensor the job
hands to a collective is kept here, and ``settle`` waits, while Python still runs, until no
worker thread holds any of them.
"""

from __future__ import annotations

import time
from typing import Any

SETTLE_TIMEOUT = 5.0  # seconds: a worker only has to be scheduled once to let go
_POLL = 0.001


class Lent:
    """The tensors handed to collectives that a worker thread may still hold."""

    def __init__(self) -> None:
        self._tensors: list[Any] = []

    def add(self, *tensors: Any) -> None:
        """Keep ``tensors`` (just handed to a collective) until no worker holds them."""
        self._tensors = [*self._held(), *tensors]

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        """Wait until no worker thread holds a lent tensor (True), or ``timeout`` s passed."""
        deadline = time.monotonic() + timeout
        while True:
            self._tensors = self._held()
            if not self._tensors:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)

    def _held(self) -> list[Any]:
        # A tensor only Python refers to has one C++ reference, its Python object's.
        return [tensor for tensor in self._tensors if tensor._use_count() > 1]
