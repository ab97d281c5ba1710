"""The database both sides talk through: an engine and sessions for one URL (SQLite by default),
its short write transactions, and the fast paths that write points and chart buckets."""

from __future__ import annotations

import functools
import itertools
import math
import operator
import os
import uuid
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import sessionmaker

from lernkurve.shared.paths import user_data_dir
from lernkurve.store import liteblocks, pgblocks
from lernkurve.store.migrate import migrate
from lernkurve.store.models import Base, Meta, RunRow, now
from lernkurve.store.sqlite import BUSY_TIMEOUT_MS, begin_immediate, sqlite_pragmas

DB_FILENAME = "lernkurve.db"


def resolve_url(value: str | os.PathLike | None = None) -> str:
    """Turn a path, a SQLAlchemy URL or nothing (LERNKURVE_DB, then the default file) into a URL."""
    value = value or os.environ.get("LERNKURVE_DB")
    if not value:
        return f"sqlite:///{user_data_dir() / DB_FILENAME}"
    text = os.fspath(value)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def shown_url(url: str) -> str:
    """A database URL fit for a message: the file's path for SQLite, no password otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


# Merge a batch's buckets into the stored ones (every SET sees the old row's values).
_UPSERT_BUCKETS = """
INSERT INTO metric_buckets (run_id, key, bucket, lo_step, lo_value, hi_step, hi_value, wall_time)
VALUES {values}
ON CONFLICT (run_id, key, bucket) DO UPDATE SET
  lo_step = CASE WHEN excluded.lo_value < lo_value THEN excluded.lo_step ELSE lo_step END,
  lo_value = min(lo_value, excluded.lo_value),
  hi_step = CASE WHEN excluded.hi_value > hi_value THEN excluded.hi_step ELSE hi_step END,
  hi_value = max(hi_value, excluded.hi_value),
  wall_time = max(wall_time, excluded.wall_time)
"""


_UPSERT_BUCKETS_PG = """
INSERT INTO metric_buckets AS b (run_id, key, bucket, lo_step, lo_value, hi_step, hi_value,
  wall_time)
SELECT * FROM unnest(%s::int[], %s::varchar[], %s::int8[], %s::int8[], %s::float8[], %s::int8[],
  %s::float8[], %s::float8[])
ON CONFLICT (run_id, key, bucket) DO UPDATE SET
  lo_step = CASE WHEN excluded.lo_value < b.lo_value THEN excluded.lo_step ELSE b.lo_step END,
  lo_value = least(b.lo_value, excluded.lo_value),
  hi_step = CASE WHEN excluded.hi_value > b.hi_value THEN excluded.hi_step ELSE b.hi_step END,
  hi_value = greatest(b.hi_value, excluded.hi_value),
  wall_time = greatest(b.wall_time, excluded.wall_time)
"""


RUN_ROWS_LOCK = 7311  # PostgreSQL advisory lock class: a run's new ids become visible in order


INSERT_CHUNK = 2000  # rows a statement: 10,000 parameters, well under SQLite's limit


@functools.lru_cache(maxsize=64)
def _upsert_sql(rows: int) -> str:
    return _UPSERT_BUCKETS.format(values=",".join(["(?,?,?,?,?,?,?,?)"] * rows))


_SET_LAST_METRIC_ID = text("UPDATE runs SET last_metric_id = :last WHERE id = :id")


_LOCK_RUN = text("SELECT pg_advisory_xact_lock(:kind, :run_id)")


def _execute_in_chunks(connection, sql_for, rows: list[tuple], chunk: int) -> None:
    """Run one multi-row statement per chunk of rows, not one sqlite3 step per row.

    executemany releases and retakes the GIL around every row; with a busy training thread
    each retake can wait a whole switch interval (5 ms).
    """
    cursor = connection.connection.driver_connection.cursor()
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        cursor.execute(sql_for(len(part)), [value for row in part for value in row])


def rows_as_columns(rows) -> dict[str, tuple]:
    """(run_id, key, step, value, wall_time) rows of one run as {key: (steps, values, walls)}
    lists, each key's points in their order (None becomes NaN)."""
    grouped: dict[str, tuple[list, list, list]] = {}
    for _, key, step, value, wall in rows:
        column = grouped.get(key)
        if column is None:
            column = grouped[key] = ([], [], [])
        column[0].append(step)
        column[1].append(math.nan if value is None else value)
        column[2].append(wall)
    return grouped


def _close_on_checkin(dbapi_connection, record) -> None:
    if dbapi_connection is not None:
        record.invalidate()  # closes it: its pool has been disposed, nobody takes it again


def close_engine(engine: Engine) -> None:
    """Close an engine's idle connections now, those in use when they are handed back, and
    from then on every connection when it is handed back (the engine still works, unpooled).

    ``Engine.dispose`` alone leaves a connection that a thread holds (a streamer's tick, say)
    in the old pool when it comes back, and pools the one a last tick after it opens: open
    until the garbage collector finds them.
    """
    pool = engine.pool
    engine.dispose()
    for each in (pool, engine.pool):
        if not event.contains(each, "checkin", _close_on_checkin):
            event.listen(each, "checkin", _close_on_checkin)


class Database:
    """An engine plus a session factory for one database URL; creates the tables on open."""

    def __init__(self, url: str | os.PathLike | None = None) -> None:
        self.url = resolve_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine: Engine = create_engine(self.url, **self._engine_options())
        if self.is_sqlite:
            event.listen(self.engine, "connect", sqlite_pragmas)
            event.listen(self.engine, "connect", lambda raw, _: liteblocks.register(raw))
        # Close the pooled connections when this object goes, or at exit, whichever is first
        # (a PostgreSQL connection left to the garbage collector warns, and a server counts it).
        self._closer = weakref.finalize(self, close_engine, self.engine)
        migrate(self, Base.metadata)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        pgblocks.prepare()

    @staticmethod
    def url_for(value: str | os.PathLike | None = None) -> str:
        return resolve_url(value)

    @contextmanager
    def write(
        self, timeout: float = BUSY_TIMEOUT_MS / 1000, poll: float = 0.001, checkpoint: bool = True
    ):
        """A short write transaction; on SQLite it takes the write lock first (begin_immediate:
        ``poll`` is how often it looks while another holds it). ``checkpoint=False`` keeps
        SQLite from copying the WAL into the database in this commit (seconds, when it is big):
        a heartbeat must not wait for that."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection if self.is_sqlite else None
            if raw is not None and not checkpoint:
                raw.execute("PRAGMA wal_autocheckpoint=0")
            try:
                with conn.begin():
                    if raw is not None:
                        begin_immediate(raw, timeout, poll)
                    yield conn
            finally:
                if raw is not None and not checkpoint:
                    raw.execute("PRAGMA wal_autocheckpoint=1000")

    def _engine_options(self) -> dict[str, Any]:
        if self.is_sqlite:
            # Several threads (writer, streamer, request handlers) each take a connection.
            return {"connect_args": {"check_same_thread": False, "timeout": 10}}
        return {"pool_pre_ping": True}

    @property
    def batch_points(self) -> int:
        """Rows a writer's transaction takes at most: short on SQLite, where it holds the one
        write lock (~15 ms); larger on PostgreSQL, where a commit costs more than waiting."""
        return 5_000 if self.is_sqlite else 20_000

    def insert_metrics(self, connection, rows: list[tuple]) -> None:
        """Insert (run_id, key, step, value, wall_time) tuples (None or NaN: not finite), a
        block per run and key in their order; see ``insert_columns``."""
        for run_id, group in itertools.groupby(rows, key=operator.itemgetter(0)):
            self.insert_columns(connection, run_id, rows_as_columns(group))

    def insert_columns(self, connection, run_id: int, keys: dict[str, tuple]) -> None:
        """Store one run's {key: (steps, values, walls)} arrays as a block per key; the run's
        ``last_metric_id`` moves to its newest id in the same transaction."""
        if not any(len(steps) for steps, _, _ in keys.values()):
            return
        raw = connection.connection.driver_connection
        if self.is_sqlite:
            last = liteblocks.write_columns(raw, run_id, keys)
        else:
            last = pgblocks.copy_columns(raw, run_id, keys)
        self.execute_text(connection, _SET_LAST_METRIC_ID, {"id": run_id, "last": last})

    def execute_text(self, connection, statement, params: dict) -> Any:
        """Run a ``text()`` statement and return its cursor. On SQLite it goes straight to
        the driver (same connection and transaction): SQLAlchemy's own Python work per call
        is time the writer thread holds the GIL, taken from the training loop."""
        if self.is_sqlite:
            return connection.connection.driver_connection.execute(statement.text, params)
        return connection.execute(statement, params)

    def order_run_rows(self, connection, run_ids) -> None:
        """Make the rows this transaction adds to these runs visible after their lower ids.

        Streams and charts read a run's rows up to an id (``runs.last_metric_id``, a cursor):
        a lower id of the same run committed later would be passed over. On SQLite the write
        lock orders all commits; on PostgreSQL each run has a transaction-scoped advisory lock,
        taken before any of its ids is drawn (in id order: two writers never deadlock). Writers
        of different runs never wait for each other.
        """
        if self.is_sqlite:
            return
        for run_id in sorted(set(run_ids)):
            connection.execute(_LOCK_RUN, {"kind": RUN_ROWS_LOCK, "run_id": run_id})

    def insert_run(self, **fields: Any) -> RunRow:
        """Add one runs row (created now unless given) and return it, committed."""
        row = RunRow(**{"created_at": now(), **fields})
        with self.Session() as session:
            session.add(row)
            session.commit()
        return row

    def upsert_buckets(self, connection, run_id: int, buckets: dict) -> None:
        """Merge {(key, bucket): [lo_step, lo, hi_step, hi, wall]} into metric_buckets."""
        if not buckets:
            return
        rows = [(run_id, key, bucket, *agg) for (key, bucket), agg in buckets.items()]
        if self.is_sqlite:
            _execute_in_chunks(connection, _upsert_sql, rows, INSERT_CHUNK)
        else:  # one statement, the rows as eight arrays
            columns = [list(column) for column in zip(*rows, strict=True)]
            with connection.connection.driver_connection.cursor() as cursor:
                cursor.execute(_UPSERT_BUCKETS_PG, columns)

    def instance_id(self) -> str:
        """This database's own id (a UUID made once, on first use)."""
        with self.Session() as session:
            row = session.get(Meta, "instance_id")
            if row is None:
                session.merge(Meta(key="instance_id", value=uuid.uuid4().hex))
                session.commit()
                row = session.get(Meta, "instance_id")
            return row.value

    def dispose(self) -> None:
        """Close every connection, now or when handed back (a later use opens its own)."""
        close_engine(self.engine)
