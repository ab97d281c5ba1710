"""Reading many points at once, on either store: the blocks that hold them, unpacked by numpy.

The ``metrics`` view has a row per point, which on SQLite costs a few function calls a point;
a chart's history, a CSV export or the live stream's next batch read the blocks instead and
unpack them whole (lernkurve.store.liteblocks). PostgreSQL unpacks its arrays in the server
and reads through the view, naming the blocks it needs (lernkurve.store.pgblocks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text

from lernkurve.store import liteblocks, pgblocks
from lernkurve.store.blockcodec import as_list, numpy_or_none
from lernkurve.store.models import Metric
from lernkurve.store.points import is_postgres


@dataclass
class Points:
    """One key's points in id order, as arrays."""

    ids: Any
    steps: Any
    values: Any  # NaN where the value was not finite
    walls: Any

    def __len__(self) -> int:
        return len(self.ids)

    def from_step(self, step: int) -> Points:
        """The points at ``step`` or later (in the same order)."""
        if hasattr(self.steps, "dtype"):
            keep = self.steps >= step
            return Points(self.ids[keep], self.steps[keep], self.values[keep], self.walls[keep])
        points = zip(self.ids, self.steps, self.values, self.walls, strict=True)
        return _plain_points([p for p in points if p[1] >= step])

    def rows(self) -> list[tuple]:
        """[(step, value, wall_time)] with None for what was not finite."""
        values = [None if v != v else v for v in as_list(self.values)]
        return list(zip(as_list(self.steps), values, as_list(self.walls), strict=True))


def read(
    conn,
    run_id: int,
    keys: list[str] | None = None,
    since_id: int = 0,
    upto_id: int | None = None,
    from_step: int | None = None,
) -> dict[str, Points]:
    """{key: Points} of a run's points with since_id < id <= upto_id (all keys by default),
    only those at ``from_step`` or later if given (unpacking only the blocks that reach it)."""
    if is_postgres(conn):
        return _read_view(conn, run_id, keys, since_id, upto_id, from_step)
    where, params = ["run_id = ?", "hi_id > ?"], [run_id, since_id]
    if upto_id is not None:
        where.append("lo_id <= ?")
        params.append(upto_id)
    if from_step is not None:
        where.append("hi_step >= ?")
        params.append(from_step)
    if keys is not None:
        where.append(f"key IN ({','.join('?' * len(keys))})")
        params += keys
    raw = conn.connection.driver_connection
    query = f"SELECT key, {liteblocks.BLOCK_COLUMNS} FROM metric_blocks WHERE {' AND '.join(where)}"
    parts: dict[str, list[tuple]] = {}
    for key, *columns in raw.execute(query, params).fetchall():
        parts.setdefault(key, []).append(liteblocks.decode(tuple(columns)))
    found = {key: _window(pieces, since_id, upto_id) for key, pieces in parts.items()}
    if from_step is None:
        return found
    return {key: points.from_step(from_step) for key, points in found.items()}


def _window(pieces: list[tuple], since_id: int, upto_id: int | None) -> Points:
    np = numpy_or_none()
    if np is None:
        return _window_plain(pieces, since_id, upto_id)
    ids, steps, values, walls = (np.concatenate(column) for column in zip(*pieces, strict=True))
    keep = ids > since_id
    if upto_id is not None:
        keep &= ids <= upto_id
    order = np.argsort(ids[keep], kind="stable")
    return Points(*(column[keep][order] for column in (ids, steps, values, walls)))


def _window_plain(pieces: list[tuple], since_id: int, upto_id: int | None) -> Points:
    high = math.inf if upto_id is None else upto_id
    points = sorted(
        point
        for piece in pieces
        for point in zip(*piece, strict=True)
        if since_id < point[0] <= high
    )
    return _plain_points(points)


def _plain_points(points: list[tuple]) -> Points:
    """(id, step, value, wall) tuples as Points of lists (no numpy)."""
    columns = tuple(list(column) for column in zip(*points, strict=True)) or ([], [], [], [])
    return Points(*columns)


def _read_view(conn, run_id, keys, since_id, upto_id, from_step) -> dict[str, Points]:
    import numpy as np

    where = [Metric.run_id == run_id, *pgblocks.id_window(since_id, upto_id)]
    if from_step is not None:
        where += [Metric.step >= from_step, *pgblocks.step_window(from_step, None)]
    if keys is not None:
        where.append(Metric.key.in_(keys))
    query = select(Metric.key, Metric.id, Metric.step, Metric.value, Metric.wall_time).where(*where)
    grouped: dict[str, list[tuple]] = {}
    for key, *point in conn.execute(query.order_by(*pgblocks.in_id_order())).all():
        grouped.setdefault(key, []).append(point)
    result = {}
    for key, points in grouped.items():
        ids, steps, values, walls = zip(*points, strict=True)
        values = np.array([np.nan if v is None else v for v in values], np.float64)
        result[key] = Points(np.array(ids), np.array(steps), values, np.array(walls))
    return result


def points_between(conn, run_id: int, after: int, upto: int, limit: int) -> list[tuple]:
    """The run's first ``limit`` points with after < id <= upto, in id order, as
    (id, key, step, value, wall_time) tuples (None for what was not finite)."""
    rows = []
    for key, points in read(conn, run_id, None, after, upto).items():
        ids = as_list(points.ids)
        rows += zip(ids, [key] * len(ids), *zip(*points.rows(), strict=True), strict=True)
    rows.sort(key=lambda row: row[0])
    return rows[:limit]


def next_points(conn, run_id: int, after: int, count: int) -> list[tuple]:
    """The run's next ``count`` points after id ``after``, in id order, as (id, key, step,
    value, wall_time) tuples: a cursor through a whole run, a window of ids at a time (a
    window that holds none of the run's points widens: ids are shared by every run)."""
    if is_postgres(conn):
        query = (
            select(Metric.id, Metric.key, Metric.step, Metric.value, Metric.wall_time)
            .where(Metric.run_id == run_id, *pgblocks.id_window(after))
            .order_by(*pgblocks.in_id_order())
            .limit(count)
        )
        return [tuple(row) for row in conn.execute(query)]
    newest, span = newest_id(conn, run_id), count
    while newest is not None and after < newest:
        upto = min(after + span, newest)
        rows = points_between(conn, run_id, after, upto, count)
        if rows:
            return rows
        after, span = upto, span * 2
    return []


_NEWEST_SQLITE = text("SELECT max(hi_id) FROM metric_blocks WHERE run_id = :run_id")


def newest_id(conn, run_id: int) -> int | None:
    """The run's highest point id (None: no points)."""
    if is_postgres(conn):
        query = select(Metric.id).where(Metric.run_id == run_id)
        return conn.execute(query.order_by(Metric.id.desc()).limit(1)).scalar()
    return conn.execute(_NEWEST_SQLITE, {"run_id": run_id}).scalar()


_BLOCKS_BEFORE = (
    f"SELECT hi_step, {liteblocks.BLOCK_COLUMNS} FROM metric_blocks"
    " WHERE run_id = ? AND key = ? AND lo_step < ? ORDER BY hi_step DESC LIMIT ? OFFSET ?"
)
PAGE = 8  # blocks read at a time, newest first


def last_before(conn, run_id: int, key: str, step: int) -> float | None:
    """The finite value of ``key`` at the highest step below ``step`` (None: none)."""
    if is_postgres(conn):
        query = (
            select(Metric.value)
            .where(Metric.run_id == run_id, Metric.key == key, Metric.value.is_not(None))
            .where(Metric.step < step, *pgblocks.step_window(None, step))
            .order_by(Metric.step.desc())
            .limit(1)
        )
        found = conn.execute(query).scalar()
        return None if found is None else float(found)
    raw = conn.connection.driver_connection
    best: tuple[int, float] | None = None
    offset = 0
    while rows := raw.execute(_BLOCKS_BEFORE, (run_id, key, step, PAGE, offset)).fetchall():
        for hi_step, *columns in rows:
            if best is not None and hi_step < best[0]:
                return best[1]  # every block from here on ends below the best found
            _, steps, values, _ = liteblocks.decode(tuple(columns))
            found = _last_before(as_list(steps), as_list(values), step)
            if found is not None and (best is None or found[0] > best[0]):
                best = found
        offset += PAGE
    return None if best is None else best[1]


def _last_before(steps: list, values: list, step: int) -> tuple[int, float] | None:
    """(step, value) of a block's finite point at its highest step below ``step`` (the last
    such point logged at that step)."""
    best = None
    for at, value in zip(steps, values, strict=True):
        if at < step and value == value and (best is None or at >= best[0]):
            best = (at, value)
    return best
