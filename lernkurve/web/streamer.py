"""One streamer for all clients: new database rows become Socket.IO messages.

Every tick it reads, for each watched run, the metrics, events and snapshots with
``cursor < id <= newest`` and emits them to the room ``run:<id>``; every few ticks it emits
changed runs and a script's new alerts (``wandb.alert``: note events by "alert") to everyone
and marks runs whose process vanished (stale heartbeat) as ``interrupted``. Subscribing
replays what a client missed under the same lock, so every point reaches a client exactly once.

The cursors are per run: a run's rows become visible in id order (one process writes a run's
points; ``Database.order_run_rows``), while the rows of different runs may commit in any
order (PostgreSQL writers share no lock). ``newest`` comes from the run's row
(``last_metric_id``, set with the points) and the (run, id) indexes of events and snapshots.

Nothing one room or client does can stop the stream: each phase of a tick and each emit is
guarded on its own, and failures are logged at most once per kind every few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict

from flask_socketio import SocketIO, join_room, leave_room
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import OperationalError

from lernkurve.store.blockreads import points_between
from lernkurve.store.database import Database
from lernkurve.store.models import (
    LIVE_STATUSES,
    Event,
    Metric,
    RunRow,
    Snapshot,
    now,
)
from lernkurve.store.processes import process_alive
from lernkurve.store.queries import clean
from lernkurve.store.sqlite import is_locked
from lernkurve.store.trialrows import end_children

log = logging.getLogger(__name__)

BATCH_ROWS = 20_000
RUNS_EVERY = 0.2  # seconds between looks at the runs table
MAX_ID = 2**63 - 1  # a room name outside SQLite's integers would make every query raise
LOG_EVERY = 10.0  # seconds between two logs of the same failure
LIVENESS_EVERY = 0.5
# A live run whose heartbeat (beaten every 0.5 s, apart from metric writes) is older than this
# is `interrupted` unless its process is known to live: with the sweep every 0.5 s a dead
# process is marked within 3.5 s of its last beat.
HEARTBEAT_TIMEOUT = 3.0
ALERT_LOOKBACK = 1000  # event ids an alert look goes back (a late commit on PostgreSQL)
SWEEP_LOCK_WAIT = 0.25  # the sweep waits this long for the write lock, else looks again later


TABLES = {"metric": Metric, "event": Event, "snapshot": Snapshot}


def newest_ids_query(run_ids: list[int]):
    """Per run: its newest metric, event and snapshot ids (one row lookup, two index seeks)."""
    newest = {
        name: select(func.max(model.id)).where(model.run_id == RunRow.id).scalar_subquery()
        for name, model in (("event", Event), ("snapshot", Snapshot))
    }
    return select(RunRow.id, RunRow.last_metric_id, newest["event"], newest["snapshot"]).where(
        RunRow.id.in_(run_ids)
    )


def room(run_id: int) -> str:
    return f"run:{run_id}"


def point(row: tuple) -> list:
    point_id, key, step, value, wall_time = row
    return [point_id, key, step, clean(value), wall_time]


class ThrottledLog:
    """Log each message at most once every ``every`` seconds, counting the rest."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY) -> None:
        self.logger, self.every = logger, every
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = defaultdict(int)

    def exception(self, message: str) -> None:
        self._log(self.logger.exception, message)

    def warning(self, message: str) -> None:
        self._log(self.logger.warning, message)

    def _log(self, emit, message: str) -> None:
        clock = time.monotonic()
        if clock - self._last.get(message, -self.every) < self.every:
            self._skipped[message] += 1
            return
        self._last[message] = clock
        skipped = self._skipped.pop(message, 0)
        emit("%s%s", message, f" ({skipped} more since)" if skipped else "")


def run_of_room(name) -> int | None:
    """The run id of a room named ``run:<id>``, or None for any other room."""
    if not isinstance(name, str) or not name.startswith("run:") or not name[4:].isdigit():
        return None
    run_id = int(name[4:])
    return run_id if 0 < run_id <= MAX_ID else None


class Streamer:
    def __init__(self, socketio: SocketIO, db: Database, interval: float = 0.025) -> None:
        self.socketio = socketio
        self.db = db
        self.interval = interval
        self.lock = threading.Lock()
        self._started = False
        self._stop = threading.Event()
        self._runs_seen: dict[int, tuple] = {}
        self._runs_looked_at: float | None = None  # wall time of the last good look at runs
        self._next_runs = self._next_liveness = 0.0
        # Watched run -> {"metric": id, "event": id, "snapshot": id}: the newest ids its room
        # has been sent (a run nobody watches has none; a new watcher starts it afresh).
        self.cursors: dict[int, dict[str, int]] = {}
        self._alerts_after: int | None = None  # the newest event id looked at for alerts
        self._alerts_sent: set[int] = set()  # alerts emitted within the look-back
        self.failures = ThrottledLog(log)

    def start(self) -> None:
        """Start the background loop (once; later calls do nothing)."""
        with self.lock:
            if self._started:
                return
            self._started = True
        self._task = self.socketio.start_background_task(self._loop)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the loop and wait for its last tick (its connection goes back before the
        app disposes of the database)."""
        self._stop.set()
        task = getattr(self, "_task", None)
        if task is not None and task is not threading.current_thread():
            task.join(timeout)

    def _newest(self, run_ids: list[int]) -> dict[int, dict[str, int]]:
        """Each run's newest metric, event and snapshot ids, in one cheap query."""
        if not run_ids:
            return {}
        with self.db.engine.connect() as conn:
            rows = conn.execute(newest_ids_query(run_ids)).all()
        return {run: dict(zip(TABLES, (i or 0 for i in ids), strict=True)) for run, *ids in rows}

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def tick(self) -> None:
        """One round; a failing phase (a locked database, say) is logged, the others still run."""
        self._guarded("rows", self._stream_rows)
        clock = time.monotonic()
        if clock >= self._next_liveness:
            self._next_liveness = clock + LIVENESS_EVERY
            self._guarded("liveness", mark_interrupted, self.db)
        if clock >= self._next_runs:
            self._next_runs = clock + RUNS_EVERY
            self._guarded("runs", self._emit_changed_runs)
            self._guarded("alerts", self._emit_alerts)

    def _guarded(self, phase: str, work, *args) -> None:
        try:
            work(*args)
        except Exception:  # noqa: BLE001 - one failing phase must not end the stream
            self.failures.exception(f"lernkurve streamer: {phase} failed")

    def _stream_rows(self) -> None:
        with self.lock:
            watched = set(self.watched_runs())
            for run_id in set(self.cursors) - watched:
                del self.cursors[run_id]
            newest = self._newest([run_id for run_id in watched if run_id in self.cursors])
            for run_id, ids in newest.items():
                self._stream_run(run_id, ids)

    def _stream_run(self, run_id: int, newest: dict[str, int]) -> None:
        """Send a watched run's room its rows past its cursors, up to ``newest``: at most one
        batch of points a tick, so a long backlog of one run never holds up the others."""
        cursors = self.cursors[run_id]
        if newest["metric"] > cursors["metric"]:
            self._emit_metrics(run_id, newest["metric"])
        for name in ("event", "snapshot"):
            if newest[name] > cursors[name]:
                self._emit_rows(run_id, name, newest[name])

    def emit(self, message: str, payload: dict, to: str | None = None) -> None:
        """Emit to one room or client (or all); a failure there is logged, never raised."""
        try:
            self.socketio.emit(message, payload, to=to)
        except Exception:  # noqa: BLE001 - one broken room must not stop the others
            self.failures.exception(f"lernkurve streamer: emitting {message} failed")

    def watched_runs(self) -> list[int]:
        """Runs at least one client subscribed to (their rooms have members)."""
        rooms = self.socketio.server.manager.rooms.get("/", {})
        watched = (run_of_room(name) for name, members in list(rooms.items()) if members)
        return [run_id for run_id in watched if run_id is not None]

    def _emit_metrics(self, run_id: int, upto: int) -> None:
        """Send the room one batch of the run's points past its cursor, up to ``upto``."""
        cursors = self.cursors[run_id]
        rows = self._points_between(run_id, cursors["metric"], upto)
        if rows:
            points = [point(row) for row in rows]
            self.emit("metrics", {"run_id": run_id, "points": points}, to=room(run_id))
        cursors["metric"] = rows[-1][0] if len(rows) >= BATCH_ROWS else upto

    def _emit_rows(self, run_id: int, name: str, upto: int) -> None:
        model, cursors = TABLES[name], self.cursors[run_id]
        query = (
            select(model)
            .where(model.run_id == run_id, model.id > cursors[name], model.id <= upto)
            .order_by(model.id)
        )
        with self.db.Session() as session:
            rows = session.scalars(query).all()
        for row in rows:
            self.emit(name, row.to_dict(), to=room(run_id))
        cursors[name] = upto

    def _emit_changed_runs(self) -> None:
        look = now()
        # Ended since the last look, however long a busy machine held this loop up (else a run
        # created and ended meanwhile would never be heard of), less a writer's commit delay.
        since = min(look, self._runs_looked_at or look) - 2 * RUNS_EVERY - LIVENESS_EVERY
        wanted = [RunRow.status.in_(LIVE_STATUSES), RunRow.ended_at >= since]
        # A run last seen live whose end committed long after its ended_at (a writer held up
        # by load or a locked database): its end must still reach the clients.
        seen_live = [i for i, state in self._runs_seen.items() if state[0] in LIVE_STATUSES]
        if seen_live:
            wanted.append(RunRow.id.in_(seen_live))
        query = select(RunRow.__table__).where(or_(*wanted))
        with self.db.engine.connect() as conn:
            runs = [dict(row) for row in conn.execute(query).mappings()]
        self._runs_looked_at = look
        for gone in set(seen_live) - {run["id"] for run in runs}:  # deleted meanwhile
            del self._runs_seen[gone]
        for run in runs:
            state = (
                run["status"],
                run["step"],
                run["total_steps"],
                repr(run["hparams"]),
                run["error"],
                run.get("pending"),  # points a process holds while the disk is full
                run["name"],
                repr(run.get("tags")),
                run.get("notes"),
            )
            if self._runs_seen.get(run["id"]) != state:
                self._runs_seen[run["id"]] = state
                self.emit("run", run)

    def _emit_alerts(self) -> None:
        """A script's alerts since the last look, to everyone (the page shows each once). It
        looks back ALERT_LOOKBACK event ids (on PostgreSQL a lower id may commit after a
        higher one); the first look only notes what is there: old alerts are not news."""
        first = self._alerts_after is None
        with self.db.engine.connect() as conn:
            if first:
                self._alerts_after = conn.execute(select(func.max(Event.id))).scalar() or 0
            query = (
                select(Event.__table__)
                .where(Event.id > self._alerts_after - ALERT_LOOKBACK, Event.kind == "note")
                .order_by(Event.id)
            )
            notes = [dict(row) for row in conn.execute(query).mappings()]
        for note in notes:
            if (note["payload"] or {}).get("by") != "alert" or note["id"] in self._alerts_sent:
                continue
            self._alerts_sent.add(note["id"])
            if not first:
                self.emit("alert", note)
        if notes:
            self._alerts_after = max(self._alerts_after, notes[-1]["id"])
        low = self._alerts_after - ALERT_LOOKBACK
        self._alerts_sent = {i for i in self._alerts_sent if i > low}

    def subscribe(self, sid: str, run_id: int, since_id: int | None) -> None:
        """Join a run's room; replay its points with since_id < id <= cursor first.

        ``since_id`` is the ``last_id`` of the client's history (REST): the run's points up to
        it are the client's already.
        """
        with self.lock:
            newest = self._newest([run_id]).get(run_id) or dict.fromkeys(TABLES, 0)
            cursors = self.cursors.get(run_id)
            if cursors is None:  # the first watcher: the room's stream starts where it is
                start = newest["metric"] if since_id is None else min(since_id, newest["metric"])
                join_room(room(run_id), sid=sid)  # first: a client gone meanwhile leaves no cursor
                self.cursors[run_id] = {**newest, "metric": start}
                return
            if since_id is not None and since_id > cursors["metric"]:
                # The client is ahead of the room: bring the room up to since_id first, so
                # nothing reaches this client twice.
                upto = min(since_id, newest["metric"])
                while cursors["metric"] < upto:
                    self._emit_metrics(run_id, upto)
            join_room(room(run_id), sid=sid)
            if since_id is None:
                return
            after = since_id
            while True:
                rows = self._points_between(run_id, after, cursors["metric"])
                if not rows:
                    break
                points = [point(row) for row in rows]
                self.emit("metrics", {"run_id": run_id, "points": points}, to=sid)
                after = rows[-1][0]

    def _points_between(self, run_id: int, after: int, upto: int) -> list[tuple]:
        """(id, key, step, value, wall_time) of the run's next points, in id order."""
        with self.db.engine.connect() as conn:
            return points_between(conn, run_id, after, upto, BATCH_ROWS)

    def unsubscribe(self, sid: str, run_id: int) -> None:
        leave_room(room(run_id), sid=sid)


def mark_interrupted(db: Database, timeout: float = HEARTBEAT_TIMEOUT) -> int:
    """Runs whose process is gone become `interrupted`.

    Gone: no heartbeat for ``timeout`` seconds and, where the run's config names a process on
    this machine, that process has ended (a stopped or starved process keeps its run).
    """
    stamp = now()
    stale = (RunRow.status.in_(("running", "paused")), RunRow.heartbeat_at < stamp - timeout)
    with db.engine.connect() as conn:  # look first: an UPDATE would take the write lock
        rows = conn.execute(select(RunRow.id, RunRow.config).where(*stale)).all()
    dead = [run_id for run_id, config in rows if process_alive(config) is not True]
    if not dead:
        return 0
    try:
        with db.write(timeout=SWEEP_LOCK_WAIT) as conn:
            result = conn.execute(
                update(RunRow)
                .where(RunRow.id.in_(dead), *stale)
                .values(status="interrupted", ended_at=stamp)
            )
            # a dead run's trial children end with it: none is left waiting for good
            end_children(conn, dead, "interrupted", "the run's process ended")
    except OperationalError as exc:
        if not is_locked(exc):
            raise
        return 0  # writers are busy: the next sweep looks again, the stream goes on
    return result.rowcount
