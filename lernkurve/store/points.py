"""A run's points on either store: log calls turned into rows and bucket extremes, which rows a
step window takes, deleting a run's points or its tail, and the chart buckets rebuilt after a
cut."""

from __future__ import annotations

from sqlalchemy import select, text

from lernkurve.store import liteblocks, pgblocks
from lernkurve.store.columns import MAX_KEY, columns_of, stored_key  # noqa: F401 - callers' names
from lernkurve.store.models import BUCKET_SHIFT, Metric, MetricBucket


def expand_points(run_id: int, points: list[tuple]) -> tuple[list[tuple], list[tuple], dict]:
    """(step, wall_time, {key: value}) entries as metric rows, with the non-finite values (for
    divergence) and each key's min/max per 2**BUCKET_SHIFT steps (for fast history charts).
    The writer stores the columns themselves (lernkurve.store.columns); rows are for callers
    that want them."""
    columns = columns_of(points)
    return columns.rows(run_id), columns.bad, columns.buckets


def driver_connection(connection):
    """The DB-API connection under a SQLAlchemy connection or session."""
    if not hasattr(connection, "dialect"):
        connection = connection.connection()
    return connection.connection.driver_connection


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
        liteblocks.delete_points(driver_connection(connection), run_ids, from_step)
        return
    params = {"run_ids": list(run_ids), "step": from_step}
    if from_step is None:
        connection.execute(text(_DELETE_BLOCKS), params)
        return
    connection.execute(text(_DELETE_BLOCKS + " AND lo_step >= :step"), params)
    connection.execute(text(_CUT_BLOCKS), params)


def steps_between(connection, low: int, high: int | None = None) -> list:
    """Conditions for points with low <= step < high, on either store (only the blocks that
    can hold them are unpacked)."""
    where = [Metric.step >= low] if high is None else [Metric.step >= low, Metric.step < high]
    return where + pgblocks.step_window(low, high)


def edge_blocks(connection, run_id: int, key: str, edge: str) -> list:
    """Conditions that keep only the blocks holding a key's "first" or "last" step."""
    return pgblocks.edge_window(connection, run_id, key, edge)


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


def delete_points_after(connection, run_id: int, mark: int | None) -> tuple[int, int] | None:
    """Delete a run's points written after the point ``mark`` (all of them when None): the
    lowest and highest step deleted, None when there were none. (PostgreSQL: a writer's
    batch is whole blocks, so the blocks after the mark's are exactly the points after it.)"""
    if not is_postgres(connection):
        return liteblocks.delete_after_id(driver_connection(connection), run_id, mark or 0)
    where = "run_id = :run_id AND id > :after"
    params = {"run_id": run_id, "after": -1 if mark is None else mark >> pgblocks.BLOCK_BITS}
    low, high = connection.execute(
        text(f"SELECT min(lo_step), max(hi_step) FROM metric_blocks WHERE {where}"), params
    ).one()
    if low is None:
        return None
    connection.execute(text(f"DELETE FROM metric_blocks WHERE {where}"), params)
    return int(low), int(high)


def rebuild_buckets(connection, run_id: int, low: int, high: int) -> dict:
    """The chart buckets covering steps low..high recomputed from the run's points (after a
    delete anywhere in them): the old ones deleted, the new ones returned for upsert."""
    first, last = low >> BUCKET_SHIFT, high >> BUCKET_SHIFT
    table = MetricBucket.__table__
    connection.execute(
        table.delete().where(
            table.c.run_id == run_id, table.c.bucket >= first, table.c.bucket <= last
        )
    )
    lo_step, hi_step = first << BUCKET_SHIFT, (last + 1) << BUCKET_SHIFT
    rows = connection.execute(
        select(Metric.key, Metric.step, Metric.value, Metric.wall_time)
        .where(Metric.run_id == run_id, Metric.value.is_not(None))
        .where(*steps_between(connection, lo_step, hi_step))
        .order_by(Metric.id)
    ).all()
    return columns_of([(step, wall, {key: value}) for key, step, value, wall in rows]).buckets
