"""The tables, as SQLAlchemy models: runs, their points, commands, events, checkpoints,
snapshots, chart buckets. On PostgreSQL ``metrics`` is a view over blocks of points
(lernkurve.store.pgblocks) with the same columns."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Statuses a run can be in; the first three are "live" (a process is driving it).
LIVE_STATUSES = ("queued", "running", "paused")


FINISHED_STATUSES = ("completed", "stopped", "failed", "interrupted")


STATUSES = LIVE_STATUSES + FINISHED_STATUSES


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
    """One point, as the ``metrics`` view shows it: on both stores points live in blocks of a
    run's key (lernkurve.store.liteblocks, lernkurve.store.pgblocks) and the view has a row
    per point. Readers that need many points read the blocks (lernkurve.store.blockreads)."""

    __tablename__ = "metrics"

    # The id is the stream cursor: rows with id > cursor are new (64-bit on both stores).
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(100))
    step: Mapped[int] = mapped_column(STEP)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # NaN is stored as NULL
    wall_time: Mapped[float] = mapped_column(Float)


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
