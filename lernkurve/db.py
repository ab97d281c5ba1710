"""The one thing webserver and training share: the database (SQLAlchemy 2, SQLite by default)."""

from __future__ import annotations

import functools
import itertools
import operator
import os
import random
import socket
import sqlite3
import time
import uuid
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Engine,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    false,
    make_url,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from lernkurve import pgblocks
from lernkurve.paths import user_data_dir
from lernkurve.schema import migrate

data_dir = user_data_dir  # the name scripts and older code use

DB_FILENAME = "lernkurve.db"

# Statuses a run can be in; the first three are "live" (a process is driving it).
LIVE_STATUSES = ("queued", "running", "paused")
FINISHED_STATUSES = ("completed", "stopped", "failed", "interrupted")
STATUSES = LIVE_STATUSES + FINISHED_STATUSES


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


def now() -> float:
    """Wall-clock time as stored in every *_at / wall_time column (Unix seconds)."""
    return time.time()


# Steps are 64-bit: a step may count samples or tokens (SQLite's INTEGER is 64-bit already).
STEP = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    def to_dict(self) -> dict[str, Any]:
        """The row as {column: value}, as the API answers it."""
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    hparams: Mapped[dict] = mapped_column(JSON, default=dict)
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    step: Mapped[int] = mapped_column(STEP, default=0)
    total_steps: Mapped[int | None] = mapped_column(STEP, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    heartbeat_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Points the run's process holds because the database refused them (disk full); else NULL.
    pending: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tags: Mapped[list | None] = mapped_column(JSON, nullable=True, default=list)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)  # Markdown, from the page
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    parent_step: Mapped[int | None] = mapped_column(STEP, nullable=True)
    # The newest metric id of this run, set in the transaction that commits it: every point of
    # the run up to it is visible (one process writes a run's points, one batch after another).
    last_metric_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), nullable=True
    )


class Metric(Base):
    """One point. On PostgreSQL ``metrics`` is a view over blocks of points (pgblocks)."""

    __tablename__ = "metrics"

    # The id is the stream cursor: rows with id > cursor are new. SQLite's INTEGER PRIMARY
    # KEY is its 64-bit rowid; PostgreSQL's is 64-bit too (block id << 16 plus the place).
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(100))
    step: Mapped[int] = mapped_column(STEP)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # NaN is stored as NULL
    wall_time: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        # SQLite only (PostgreSQL: a view): there a run's points go with explicit deletes
        # (delete_points: the app's delete, the writer's missing runs).
        ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE").ddl_if(dialect="sqlite"),
        Index("ix_metrics_run_key_step", "run_id", "key", "step"),
    )


class Command(Base):
    __tablename__ = "commands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    applied_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(STEP)
    wall_time: Mapped[float] = mapped_column(Float, default=now)
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)

    # A run's newest rows by index on both stores (the stream reads them per run).
    __table_args__ = (Index("ix_events_run_id_id", "run_id", "id"),)


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(STEP)
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    # Written by Lernkurve itself (its retention may delete it), not by a framework.
    managed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # One checkpoint per run and step: a second save at a step replaces the first.
    __table_args__ = (Index("ux_checkpoints_run_step", "run_id", "step", unique=True),)


class MetricBucket(Base):
    """Min and max of one key over 2**BUCKET_SHIFT consecutive steps, kept as points arrive.

    A chart of a million-point run reads these few thousand rows instead of every point.
    """

    __tablename__ = "metric_buckets"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    bucket: Mapped[int] = mapped_column(STEP, primary_key=True)
    lo_step: Mapped[int | None] = mapped_column(STEP, nullable=True)
    lo_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    hi_step: Mapped[int | None] = mapped_column(STEP, nullable=True)
    hi_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    wall_time: Mapped[float | None] = mapped_column(Float, nullable=True)


BUCKET_SHIFT = 6  # 64 steps a bucket

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


def is_postgres(connection) -> bool:
    """Is this connection (or session) to PostgreSQL?"""
    bind = connection if hasattr(connection, "dialect") else connection.get_bind()
    return bind.dialect.name == "postgresql"


_DELETE_BLOCKS = "DELETE FROM metric_blocks WHERE run_id = ANY(:run_ids)"
# A block that straddles the step keeps its points before it, in their order.
_CUT_BLOCKS = """
UPDATE metric_blocks b SET steps = k.steps, vals = k.vals, walls = k.walls,
  lo_step = k.lo_step, hi_step = k.hi_step
FROM (
  SELECT c.id, array_agg(p.step ORDER BY p.n) AS steps, array_agg(p.value ORDER BY p.n) AS vals,
    array_agg(p.wall ORDER BY p.n) AS walls, min(p.step) AS lo_step, max(p.step) AS hi_step
  FROM metric_blocks c
  CROSS JOIN LATERAL unnest(c.steps, c.vals, c.walls) WITH ORDINALITY AS p(step, value, wall, n)
  WHERE c.run_id = ANY(:run_ids) AND c.hi_step >= :step AND p.step < :step
  GROUP BY c.id
) k
WHERE b.id = k.id
"""


def delete_points(connection, run_ids: list[int], from_step: int | None = None) -> None:
    """Delete these runs' points, or only those at or after ``from_step``, on either store."""
    if not is_postgres(connection):
        where = [Metric.run_id.in_(run_ids)]
        if from_step is not None:
            where.append(Metric.step >= from_step)
        connection.execute(delete(Metric).where(*where))
        return
    params = {"run_ids": list(run_ids), "step": from_step}
    if from_step is None:
        connection.execute(text(_DELETE_BLOCKS), params)
        return
    connection.execute(text(_DELETE_BLOCKS + " AND lo_step >= :step"), params)
    connection.execute(text(_CUT_BLOCKS), params)


def steps_between(connection, low: int, high: int | None = None) -> list:
    """Conditions for points with low <= step < high, on either store (PostgreSQL: only the
    blocks that can hold them are unpacked)."""
    where = [Metric.step >= low] if high is None else [Metric.step >= low, Metric.step < high]
    if is_postgres(connection):
        where += pgblocks.step_window(low, high)
    return where


def edge_blocks(connection, run_id: int, key: str, edge: str) -> list:
    """PostgreSQL: conditions that keep only the blocks holding a key's "first" or "last"
    step; none on SQLite, whose (run_id, key, step) index finds it."""
    return pgblocks.edge_window(connection, run_id, key, edge) if is_postgres(connection) else []


def rebuild_buckets_from(session, run_id: int, step: int) -> None:
    """Drop the min/max buckets from ``step`` on and rebuild the one it cuts, from its points."""
    bucket = step >> BUCKET_SHIFT
    table = MetricBucket.__table__
    session.execute(table.delete().where(table.c.run_id == run_id, table.c.bucket >= bucket))
    low = bucket << BUCKET_SHIFT
    rows = session.execute(
        select(Metric.key, Metric.step, Metric.value, Metric.wall_time)
        .where(Metric.run_id == run_id, Metric.value.is_not(None))
        .where(*steps_between(session, low, step))
        .order_by(Metric.id)
    ).all()
    merged: dict[str, list] = {}
    for key, at, value, wall in rows:
        agg = merged.setdefault(key, [at, value, at, value, wall])
        if value < agg[1]:
            agg[0], agg[1] = at, value
        if value > agg[3]:
            agg[2], agg[3] = at, value
        agg[4] = max(agg[4], wall)
    for key, (lo_step, lo, hi_step, hi, wall) in merged.items():
        session.add(
            MetricBucket(
                run_id=run_id,
                key=key,
                bucket=bucket,
                lo_step=lo_step,
                lo_value=lo,
                hi_step=hi_step,
                hi_value=hi,
                wall_time=wall,
            )
        )


class Snapshot(Base):
    """A small structured picture of a run at a step (e.g. the spiral's decision boundary)."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(STEP)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    wall_time: Mapped[float] = mapped_column(Float, default=now)

    # A run's newest rows by index on both stores (the stream reads them per run).
    __table_args__ = (Index("ix_snapshots_run_id_id", "run_id", "id"),)


class Meta(Base):
    """Facts about the database itself, such as its own id (checkpoint folders are keyed by it)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


metrics_table = Metric.__table__


BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked"/"busy": another connection holds the write lock."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def is_disk_full(exc: BaseException) -> bool:
    """The database (or its journal) could not grow: the disk or a quota is full."""
    text = str(exc).lower()
    return "disk is full" in text or "no space left" in text or "quota" in text


def _begin_immediate(raw: sqlite3.Connection, timeout: float, poll: float) -> None:
    """Take SQLite's write lock, looking for it about every ``poll`` seconds.

    SQLite's own busy handler sleeps up to 100 ms between looks, so a waiter can starve
    while other processes hand the lock back and forth; looking this often finds the gaps
    (and whoever looks more often, e.g. a heartbeat, tends to get them first).
    """
    deadline = time.monotonic() + timeout
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_locked(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(poll * random.uniform(0.5, 1.5))
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def process_identity() -> dict[str, Any]:
    """Who drives a run: pid, host and the process's creation time, kept in its config."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "pid_created": psutil.Process(pid).create_time(),
    }


def process_alive(config: dict | None) -> bool | None:
    """Is the process named in a run's config still there? None: cannot tell from here."""
    config = config if isinstance(config, dict) else {}
    pid, host = config.get("pid"), config.get("host")
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return None  # another machine, or an older row
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False  # it has ended; its parent has not reaped it yet
        created = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists, owned by someone else
    recorded = config.get("pid_created")  # rows from before it was kept have none
    return not isinstance(recorded, int | float) or abs(created - recorded) < 0.5  # pid reused?


RUN_ROWS_LOCK = 7311  # PostgreSQL advisory lock class: a run's new ids become visible in order
INSERT_CHUNK = 2000  # rows a statement: 10,000 parameters, well under SQLite's limit


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    values = ",".join(["(?,?,?,?,?)"] * rows)
    return f"INSERT INTO metrics (run_id, key, step, value, wall_time) VALUES {values}"


@functools.lru_cache(maxsize=64)
def _upsert_sql(rows: int) -> str:
    return _UPSERT_BUCKETS.format(values=",".join(["(?,?,?,?,?,?,?,?)"] * rows))


_LAST_ID_SQLITE = text("SELECT last_insert_rowid()")
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
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # Close the pooled connections when this object goes, or at exit, whichever is first
        # (a PostgreSQL connection left to the garbage collector warns, and a server counts it).
        self._closer = weakref.finalize(self, close_engine, self.engine)
        migrate(self, Base.metadata)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        if not self.is_sqlite:
            pgblocks.prepare()

    @staticmethod
    def url_for(value: str | os.PathLike | None = None) -> str:
        return resolve_url(value)

    @contextmanager
    def write(
        self, timeout: float = BUSY_TIMEOUT_MS / 1000, poll: float = 0.001, checkpoint: bool = True
    ):
        """A short write transaction; on SQLite it takes the write lock first (_begin_immediate:
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
                        _begin_immediate(raw, timeout, poll)
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
        """Insert (run_id, key, step, value, wall_time) tuples; each run's ``last_metric_id``
        moves to its newest id in the same transaction."""
        for run_id, group in itertools.groupby(rows, key=operator.itemgetter(0)):
            part = list(group)
            if self.is_sqlite:
                _execute_in_chunks(connection, _insert_sql, part, INSERT_CHUNK)
                last = connection.execute(_LAST_ID_SQLITE).scalar()
            else:
                last = pgblocks.copy_points(connection.connection.driver_connection, run_id, part)
            connection.execute(_SET_LAST_METRIC_ID, {"id": run_id, "last": last})

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
