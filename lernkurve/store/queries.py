"""Read-side queries the webserver answers with: metric series (downsampled), CSV rows."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator

from sqlalchemy import Integer, String, bindparam, func, literal_column, select, text

from lernkurve.store import pgblocks
from lernkurve.store.database import Database
from lernkurve.store.models import Metric, RunRow
from lernkurve.store.points import is_postgres

CSV_CHUNK = 50_000


RANGE_SCAN_MAX = 200_000  # ids a read by primary key may walk; past that, the run's index


def unindexed(column):
    """``+column``: SQLite then leaves that column's indexes aside."""
    return literal_column(f"+{column.table.name}.{column.name}", Integer)


def run_column(after: int, upto: int):
    """metrics.run_id for a read of ids in (after, upto].

    With an index on run_id SQLite walks all of a run's points (~0.2 s for a million) even
    for the last few; a short window of recent ids is read by primary key instead. A whole
    history (after 0) or a long window still goes through the run's index.
    """
    short = after > 0 and upto - after <= RANGE_SCAN_MAX
    return unindexed(Metric.run_id) if short else Metric.run_id


def clean(value: float | None) -> float | None:
    """JSON has no NaN or infinity: they travel as null."""
    return value if value is not None and math.isfinite(value) else None


def last_metric_id(db: Database, run_id: int) -> int:
    """The run's newest metric id: every point of the run up to it is committed and a client
    that subscribes from it gets each later point once (its row's ``last_metric_id``, or for
    points written around the writer the run's own newest id)."""
    newest = select(func.max(Metric.id)).where(Metric.run_id == run_id).scalar_subquery()
    query = select(func.coalesce(RunRow.last_metric_id, newest)).where(RunRow.id == run_id)
    with db.engine.connect() as conn:
        return conn.execute(query).scalar() or 0


# Distinct keys by hopping through the (run_id, key, step) index: one seek per key, where
# SELECT DISTINCT would walk every point of the run.
_KEYS_SQL = text("""
WITH RECURSIVE k(key) AS (
  SELECT min(key) FROM metrics WHERE run_id = :run_id
  UNION ALL
  SELECT (SELECT min(key) FROM metrics WHERE run_id = :run_id AND key > k.key)
  FROM k WHERE k.key IS NOT NULL
)
SELECT key FROM k WHERE key IS NOT NULL
""")


_KEYS_SQL_PG = text(_KEYS_SQL.text.replace("FROM metrics", "FROM metric_blocks"))


def metric_keys(conn, run_id: int) -> list[str]:
    query = _KEYS_SQL_PG if is_postgres(conn) else _KEYS_SQL
    return list(conn.execute(query, {"run_id": run_id}).scalars())


def ids_between(conn, since_id: int, last_id: int | None = None) -> list:
    """Conditions for points with since_id < id <= last_id (PostgreSQL: block by block)."""
    if is_postgres(conn):
        return pgblocks.id_window(since_id, last_id)
    where = [Metric.id > since_id]
    return where if last_id is None else [*where, Metric.id <= last_id]


def metric_series(
    db: Database,
    run_id: int,
    keys: list[str] | None = None,
    since_id: int = 0,
    max_points: int | None = None,
) -> dict:
    """``{"series": {key: [[step, value, wall_time], ...]}, "last_id": n}`` for one run.

    ``last_id`` is read first and bounds every query, so a client that subscribes with it
    gets each later point exactly once. A handful of queries for all keys together, not a few
    per key: a request naming many keys stays fast.
    """
    last_id = last_metric_id(db, run_id)
    with db.engine.connect() as conn:
        keys = keys or metric_keys(conn, run_id)
        found: dict[str, list[tuple]] = {}
        if max_points and since_id == 0:
            found = _from_buckets(conn, run_id, keys, max_points)
        rest = [key for key in keys if key not in found]
        counts = _counts(conn, run_id, rest, since_id, last_id)
        whole = [key for key in rest if not max_points or counts.get(key, 0) <= max_points]
        found.update(_all_points(conn, run_id, whole, since_id, last_id))
        taken = set(whole)  # a set: with 10,000 keys a list lookup alone costs a third of a second
        for key in rest:
            if key not in taken:
                bounds = (run_id, key, since_id, last_id)
                found[key] = _downsampled(conn, db.is_sqlite, *bounds, max_points)
    series = {
        key: [[step, clean(value), wall] for step, value, wall in found.get(key, [])]
        for key in keys
    }
    return {"series": series, "last_id": last_id}


def _window(conn, run_id: int, key: str, since_id: int, last_id: int):
    return (Metric.run_id == run_id, Metric.key == key, *ids_between(conn, since_id, last_id))


def _in_window(conn, run_id: int, keys: list[str], since_id: int, last_id: int):
    """Whole histories through the (run_id, key, step) index; later points by id range."""
    return (
        run_column(since_id, last_id) == run_id,
        Metric.key.in_(keys),
        *ids_between(conn, since_id, last_id),
    )


def _counts(conn, run_id, keys, since_id, last_id) -> dict[str, int]:
    if not keys:
        return {}
    query = (
        select(Metric.key, func.count())
        .where(*_in_window(conn, run_id, keys, since_id, last_id))
        .group_by(Metric.key)
    )
    return dict(conn.execute(query).all())


def _all_points(conn, run_id, keys, since_id, last_id) -> dict[str, list[tuple]]:
    if not keys:
        return {}
    query = (
        select(Metric.key, Metric.step, Metric.value, Metric.wall_time)
        .where(*_in_window(conn, run_id, keys, since_id, last_id))
        .order_by(Metric.key, Metric.step, Metric.id)
    )
    points: dict[str, list[tuple]] = {}
    for key, step, value, wall in conn.execute(query).all():  # one fetchall, not a fetch a row
        points.setdefault(key, []).append((step, value, wall))
    return points


_BUCKETS_SQL = """
SELECT step, {agg}(value), wall_time FROM metrics
WHERE run_id = :run_id AND key = :key AND id > :since_id AND id <= :last_id
GROUP BY (step - :low) * :buckets / :span
"""


def _downsampled(conn, is_sqlite, run_id, key, since_id, last_id, max_points) -> list[tuple]:
    """Min/max buckets over the step range: at most max_points points, extremes kept."""
    window = select(func.min(Metric.step), func.max(Metric.step)).where(
        *_window(conn, run_id, key, since_id, last_id)
    )
    low, high = conn.execute(window).one()
    params = {
        "run_id": run_id,
        "key": key,
        "since_id": since_id,
        "last_id": last_id,
        "low": low,
        "buckets": max(1, max_points // 2),
        "span": high - low + 1,
    }
    if not is_sqlite:
        rows = _all_points(conn, run_id, [key], since_id, last_id).get(key, [])
        return _downsample_in_python(rows, params)
    # SQLite returns the bare columns (step, wall_time) of the row holding the min / max.
    points = set()
    for agg in ("min", "max"):
        points.update(conn.execute(text(_BUCKETS_SQL.format(agg=agg)), params).all())
    return sorted(points, key=lambda row: row[0])


_BUCKET_RANGES = text("""
SELECT key, count(*), min(bucket), max(bucket) FROM metric_buckets
WHERE run_id = :run_id AND key IN :keys GROUP BY key
""").bindparams(bindparam("keys", expanding=True, type_=String))  # typed: an empty list too

# One row per group of buckets: the lowest (or highest) point in it. SQLite gives the bare
# columns (step, wall_time) of the row that holds the one min() / max().
_MERGED_BUCKETS = [
    text(f"""
SELECT {step}, {agg}({value}), wall_time FROM metric_buckets
WHERE run_id = :run_id AND key = :key GROUP BY (bucket - :first) * :groups / :span
""")
    for step, agg, value in (("lo_step", "min", "lo_value"), ("hi_step", "max", "hi_value"))
]


# PostgreSQL has no bare columns: DISTINCT ON keeps each group's first row in that order.
_MERGED_BUCKETS_PG = [
    text(f"""
SELECT DISTINCT ON (g) {step}, {value}, wall_time FROM (
  SELECT (bucket - CAST(:first AS bigint)) * CAST(:groups AS bigint) / CAST(:span AS bigint)
    AS g, {step}, {value}, wall_time
  FROM metric_buckets WHERE run_id = :run_id AND key = :key AND {value} IS NOT NULL
) AS grouped ORDER BY g, {value} {order}
""")
    for step, value, order in (("lo_step", "lo_value", "ASC"), ("hi_step", "hi_value", "DESC"))
]


def _from_buckets(conn, run_id: int, keys: list[str], max_points: int) -> dict[str, list]:
    """Long keys' whole history from their 64-step buckets (keys of short runs are left out).

    The buckets are kept by the writer as points arrive, and the database merges them into at
    most max_points per key: a million-point key costs two passes over ~16k small rows.
    """
    merged = _MERGED_BUCKETS if conn.dialect.name == "sqlite" else _MERGED_BUCKETS_PG
    groups = max(1, max_points // 2)
    found = {}
    for key, count, first, last in conn.execute(
        _BUCKET_RANGES, {"run_id": run_id, "keys": keys}
    ).all():
        if count * 2 <= max_points:
            continue
        params = {"run_id": run_id, "key": key, "first": first, "groups": groups}
        params["span"] = last - first + 1
        points = set()
        for query in merged:
            points.update(map(tuple, conn.execute(query, params).all()))
        found[key] = sorted(points, key=lambda row: row[0])
    return found


def _downsample_in_python(rows: list[tuple], params: dict) -> list[tuple]:
    buckets: dict[int, list[tuple]] = {}
    for row in rows:
        index = (row[0] - params["low"]) * params["buckets"] // params["span"]
        buckets.setdefault(index, []).append(row)
    points = set()
    for members in buckets.values():
        finite = [r for r in members if r[1] is not None] or members
        points.add(min(finite, key=lambda r: r[1] if r[1] is not None else 0))
        points.add(max(finite, key=lambda r: r[1] if r[1] is not None else 0))
    return sorted(points, key=lambda row: row[0])


def csv_lines(db: Database, run_id: int, chunk: int = CSV_CHUNK) -> Iterator[str]:
    """Every point of a run as CSV (RFC 4180), read in chunks so memory stays flat."""
    buffer = io.StringIO()
    out = csv.writer(buffer)  # quotes keys with commas, quotes, CR or LF; None -> empty

    def drain() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    out.writerow(("step", "key", "value", "wall_time"))
    yield drain()
    after = 0
    while True:
        with db.engine.connect() as conn:
            order = pgblocks.in_id_order() if is_postgres(conn) else [Metric.id]
            query = (
                select(Metric.id, Metric.step, Metric.key, Metric.value, Metric.wall_time)
                .where(Metric.run_id == run_id, *ids_between(conn, after))
                .order_by(*order)
                .limit(chunk)
            )
            rows = conn.execute(query).all()
        if not rows:
            return
        out.writerows(row[1:] for row in rows)
        yield drain()
        after = rows[-1][0]
