"""Read-side queries the webserver answers with: metric series (downsampled), CSV rows."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator

from sqlalchemy import String, bindparam, select, text

from lernkurve.store import blockreads, liteblocks, pgblocks
from lernkurve.store.blockcodec import numpy_or_none
from lernkurve.store.database import Database
from lernkurve.store.models import RunRow
from lernkurve.store.points import is_postgres

CSV_CHUNK = 50_000


def clean(value: float | None) -> float | None:
    """JSON has no NaN or infinity: they travel as null."""
    return value if value is not None and math.isfinite(value) else None


def last_metric_id(db: Database, run_id: int) -> int:
    """The run's newest metric id: every point of the run up to it is committed and a client
    that subscribes from it gets each later point once (its row's ``last_metric_id``, or for
    points written around the writer the run's own newest id)."""
    with db.engine.connect() as conn:
        stored = conn.execute(select(RunRow.last_metric_id).where(RunRow.id == run_id)).scalar()
        return stored if stored is not None else blockreads.newest_id(conn, run_id) or 0


# Distinct keys by hopping through the (run_id, key, ...) index of the blocks: one seek per
# key, where SELECT DISTINCT would walk every block of the run.
_KEYS_SQL = text("""
WITH RECURSIVE k(key) AS (
  SELECT min(key) FROM metric_blocks WHERE run_id = :run_id
  UNION ALL
  SELECT (SELECT min(key) FROM metric_blocks WHERE run_id = :run_id AND key > k.key)
  FROM k WHERE k.key IS NOT NULL
)
SELECT key FROM k WHERE key IS NOT NULL
""")


def metric_keys(conn, run_id: int) -> list[str]:
    return list(conn.execute(_KEYS_SQL, {"run_id": run_id}).scalars())


def ids_between(conn, since_id: int, last_id: int | None = None) -> list:
    """Conditions on the view for points with since_id < id <= last_id, block by block."""
    if is_postgres(conn):
        return pgblocks.id_window(since_id, last_id)
    return liteblocks.id_window(since_id, last_id)


def metric_series(
    db: Database,
    run_id: int,
    keys: list[str] | None = None,
    since_id: int = 0,
    max_points: int | None = None,
    since_step: int = 0,
) -> dict:
    """``{"series": {key: [[step, value, wall_time], ...]}, "last_id": n}`` for one run, its
    points from step ``since_step`` on.

    ``last_id`` is read first and bounds every query, so a client that subscribes with it
    gets each later point exactly once. A handful of queries for all keys together, not a few
    per key: a request naming many keys stays fast.
    """
    last_id = last_metric_id(db, run_id)
    with db.engine.connect() as conn:
        keys = keys or metric_keys(conn, run_id)
        found: dict[str, list[tuple]] = {}
        if max_points and since_id == 0 and since_step <= 0:
            found = _from_buckets(conn, run_id, keys, max_points)
        rest = [key for key in keys if key not in found]
        if rest:
            from_step = since_step if since_step > 0 else None
            read = blockreads.read(conn, run_id, rest, since_id, last_id, from_step)
            for key, points in read.items():
                if max_points and len(points) > max_points:
                    points = downsample(points, max_points)
                found[key] = points.rows()
    series = {
        key: [[step, clean(value), wall] for step, value, wall in found.get(key, [])]
        for key in keys
    }
    return {"series": series, "last_id": last_id}


def first_logged_series(
    db: Database, run_ids: list[int], keys: list[str], max_points: int | None = None
) -> dict[int, dict]:
    """For each run that exists: the first of ``keys`` it logged (else the first of them), that
    key's points, every key it logged and its ``last_id`` (the comparison's one request)."""
    with db.engine.connect() as conn:
        found = set(conn.execute(select(RunRow.id).where(RunRow.id.in_(run_ids))).scalars())
        logged = {run_id: metric_keys(conn, run_id) for run_id in run_ids if run_id in found}
    out = {}
    for run_id, run_keys in logged.items():
        key = next((k for k in keys if k in run_keys), keys[0])
        history = metric_series(db, run_id, [key], 0, max_points)
        out[run_id] = {
            "key": key,
            "keys": run_keys,
            "points": history["series"][key],
            "last_id": history["last_id"],
        }
    return out


def downsample(points: blockreads.Points, max_points: int) -> blockreads.Points:
    """Min/max buckets over the step range: at most max_points points, extremes kept (the
    first lowest and first highest finite value of each bucket; a bucket of only non-finite
    values keeps its first point)."""
    np = numpy_or_none()
    if np is None:
        return _downsample_plain(points, max_points)
    steps = points.steps
    low, span = int(steps.min()), int(steps.max()) - int(steps.min()) + 1
    buckets = max(1, max_points // 2)
    index = (steps - low) * buckets // span
    order = np.argsort(index, kind="stable")
    keep = set()
    for group in np.split(order, np.flatnonzero(np.diff(index[order])) + 1):
        values = points.values[group]
        finite = group[~np.isnan(values)]
        if not len(finite):
            keep.add(int(group[0]))
            continue
        keep.add(int(finite[np.argmin(points.values[finite])]))
        keep.add(int(finite[np.argmax(points.values[finite])]))
    chosen = np.array(sorted(keep, key=lambda i: (steps[i], points.ids[i])), dtype=np.int64)
    return blockreads.Points(*(c[chosen] for c in (points.ids, steps, points.values, points.walls)))


def _downsample_plain(points: blockreads.Points, max_points: int) -> blockreads.Points:
    """``downsample`` a point at a time (without numpy)."""
    steps, values = points.steps, points.values
    low, high = min(steps), max(steps)
    span, buckets = high - low + 1, max(1, max_points // 2)
    first: dict[int, int] = {}
    lowest: dict[int, int] = {}
    highest: dict[int, int] = {}
    for i, (step, value) in enumerate(zip(steps, values, strict=True)):
        bucket = (step - low) * buckets // span
        first.setdefault(bucket, i)
        if value != value:
            continue
        if bucket not in lowest or value < values[lowest[bucket]]:
            lowest[bucket] = i
        if bucket not in highest or value > values[highest[bucket]]:
            highest[bucket] = i
    keep = {lowest.get(b, i) for b, i in first.items()} | set(highest.values())
    chosen = sorted(keep, key=lambda i: (steps[i], points.ids[i]))
    columns = (points.ids, steps, values, points.walls)
    return blockreads.Points(*([column[i] for i in chosen] for column in columns))


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


def csv_lines(db: Database, run_id: int, chunk: int = CSV_CHUNK) -> Iterator[str]:
    """Every point of a run as CSV (RFC 4180) in id order, read a chunk at a time so memory
    stays flat."""
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
            rows = blockreads.next_points(conn, run_id, after, chunk)
        if not rows:
            return
        out.writerows(row[2:3] + row[1:2] + row[3:] for row in rows)
        yield drain()
        after = rows[-1][0]
