"""What the writer thread drains: one run's unwritten log calls and records, and its row.

The training thread appends to ``points`` (log calls) and ``outbox`` (events, snapshots,
checkpoints, acks); the process's writer (lernkurve.tracking.writer) takes them, writes them
and puts back what a failed write could not store. A RunBuffer is all the writer knows of a
run: its id and database, this small interface, and where the app's commands go.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from itertools import accumulate
from operator import itemgetter
from typing import Any, Protocol


class Inbox(Protocol):
    """Where the writer hands a run's commands (lernkurve.tracking.commands)."""

    def receive(self, command_id: int, kind: str, payload: dict) -> None: ...

    def non_finite(self, step: int, key: str, value: float) -> None: ...


class NoInbox:
    """A run that takes no commands (a trial's child run)."""

    def receive(self, command_id: int, kind: str, payload: dict) -> None:
        pass

    def non_finite(self, step: int, key: str, value: float) -> None:
        pass


def _drain(queue: deque, limit: int | None = None) -> list:
    count = len(queue) if limit is None else min(limit, len(queue))
    return [queue.popleft() for _ in range(count)]


class RunBuffer:
    """One run's unwritten points and records; ``row()`` says what its runs row holds now."""

    pending_limit = 1 << 62  # log calls that may wait unwritten; the writer sets the figure

    def __init__(self, db: Any, run_id: int, row: Callable[[], dict], inbox: Inbox) -> None:
        self.db = db
        self.id = run_id
        self.points: deque = deque()  # (step, wall_time, {key: value}) log calls
        self.outbox: deque = deque()  # (kind, item): event, snapshot, checkpoint, ack
        self.ended: dict[str, Any] = {"ended_at": None, "error": None}
        self.gone = False  # the row was deleted in the app: nothing is kept any more
        self.float32 = False  # values stored as float32 (init(precision="float32"))
        self._row = row
        self._inbox = inbox

    def add(self, kind: str, item: dict) -> None:
        """A record for the writer: ``event``, ``snapshot``, ``checkpoint``, ``ack`` or a
        trial child's ``trial_start``."""
        self.outbox.append((kind, item))

    def end(self, ended_at: float, error: str | None) -> None:
        """Set before the run's final status: the writer commits them together."""
        self.ended = {"ended_at": ended_at, "error": error}

    # -- the writer's side ----------------------------------------------------------------------

    def take_pending(self, max_points: int | None = None) -> dict:
        """What to write now: log calls up to ``max_points`` points, the records, the row."""
        row = {**self._row(), **self.ended}  # the row first: a run's end sets ended first
        points = _drain(self.points, max_points)  # a call holds one point or more
        if max_points is not None:
            self._cut(points, max_points)
        more = bool(self.points)
        return {"points": points, "outbox": _drain(self.outbox), "row": row, "more": more}

    def _cut(self, calls: list, max_points: int) -> None:
        """Keep the calls up to the one that reaches ``max_points`` points; put the rest
        back in front (counted in C: the writer's time is the training loop's, the GIL)."""
        sizes = accumulate(map(len, map(itemgetter(2), calls)))
        keep = bisect_left(list(sizes), max_points) + 1
        if keep < len(calls):
            self.points.extendleft(reversed(calls[keep:]))
            del calls[keep:]

    def give_back(self, batch: dict) -> None:
        """Put a batch whose write failed back in front, so nothing is lost."""
        self.points.extendleft(reversed(batch["points"]))
        self.outbox.extendleft(reversed(batch["outbox"]))

    def pending_points(self) -> deque:
        return self.points

    def pending_point_count(self) -> int:
        """About how many points wait unwritten (log calls times the first call's scalars)."""
        queue = self.points
        try:
            return len(queue) * len(queue[0][2])
        except IndexError:  # emptied meanwhile
            return 0

    def drop_oldest(self, count: int) -> list:
        """Remove the ``count`` oldest unwritten log calls (the database refuses them)."""
        return _drain(self.points, count)

    def forget_pending(self, gone: bool = False) -> None:
        """Discard what waits; a gone run also keeps nothing it logs from now on."""
        if gone:
            self.gone = True
            self.points = deque(maxlen=0)
            self.outbox = deque(maxlen=0)
        self.points.clear()
        self.outbox.clear()

    def receive_command(self, command_id: int, kind: str, payload: dict) -> None:
        self._inbox.receive(command_id, kind, payload)

    def on_non_finite(self, step: int, key: str, value: float) -> None:
        self._inbox.non_finite(step, key, value)
