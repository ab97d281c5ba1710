"""SQLite keeps points in blocks too: a row per run, key and writer batch, the columns packed
(lernkurve.store.blockcodec): about 10 bytes a point where a row per point took 56.

``metrics`` is a view with a row per point and the same columns as on PostgreSQL
(lernkurve.store.pgblocks), so every reader reads the same. SQLite has no arrays: the view
counts through a block with ``json_each`` over a list of n zeros and reads each point in
place with functions this module registers on every connection Lernkurve opens (``lk_int``,
``lk_value``, ``lk_wall``); another program's connection can call ``register`` to read it.
A point keeps its id when blocks are merged or cut: ids are stored per block (evenly spaced
ids cost nothing; a slow run's small blocks take its next points in, so their id ranges
overlap other keys' blocks), and ``block_lo_id``/``block_hi_id`` let a query name the blocks holding
an id window, ``block_lo``/``block_hi`` those holding a step window: the planner cannot see
through the functions on its own. Inserting into the view makes a one-point block.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from lernkurve.store import blockcodec as codec

# n zeros as a JSON list: json_each then yields 0..n-1 as its ``key``, one row per point.
_COUNT = "'[' || substr(replace(hex(zeroblob(b.n)), '00', '0,'), 1, 2 * b.n - 1) || ']'"

CREATE = [
    """
    CREATE TABLE metric_blocks (
      id INTEGER PRIMARY KEY,
      run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      key VARCHAR(100) NOT NULL,
      n INTEGER NOT NULL,
      lo_id INTEGER NOT NULL,
      hi_id INTEGER NOT NULL,
      lo_step INTEGER NOT NULL,
      hi_step INTEGER NOT NULL,
      wall0 REAL NOT NULL,
      ids BLOB NOT NULL,
      steps BLOB NOT NULL,
      vals BLOB NOT NULL,
      walls BLOB NOT NULL
    )
    """,
    "CREATE INDEX ix_metric_blocks_run_key_hi ON metric_blocks (run_id, key, hi_step)",
    "CREATE INDEX ix_metric_blocks_run_hi_id ON metric_blocks (run_id, hi_id)",
    "CREATE INDEX ix_metric_blocks_run_key_id ON metric_blocks (run_id, key, id)",
    "CREATE INDEX ix_metric_blocks_hi_id ON metric_blocks (hi_id)",
    f"""
    CREATE VIEW metrics AS
    SELECT lk_int(b.ids, b.lo_id, j.key) AS id, b.run_id AS run_id, b.key AS key,
           lk_int(b.steps, b.lo_step, j.key) AS step, lk_value(b.vals, j.key) AS value,
           lk_wall(b.walls, b.wall0, j.key) AS wall_time,
           b.id AS block_id, b.lo_step AS block_lo, b.hi_step AS block_hi,
           b.lo_id AS block_lo_id, b.hi_id AS block_hi_id
    FROM metric_blocks b, json_each({_COUNT}) j
    """,
    """
    CREATE TRIGGER metrics_insert INSTEAD OF INSERT ON metrics
    BEGIN
      INSERT INTO metric_blocks
        (run_id, key, n, lo_id, hi_id, lo_step, hi_step, wall0, ids, steps, vals, walls)
      SELECT NEW.run_id, NEW.key, 1, point.id, point.id, NEW.step, NEW.step, NEW.wall_time,
             lk_pack_int(point.id), lk_pack_int(NEW.step), lk_pack_value(NEW.value),
             lk_pack_wall(NEW.wall_time)
      FROM (SELECT coalesce(NEW.id, (SELECT max(hi_id) FROM metric_blocks) + 1, 1) AS id)
        AS point;
    END
    """,
]

DROP = ["DROP TRIGGER metrics_insert", "DROP VIEW metrics", "DROP TABLE metric_blocks"]


def register(connection: sqlite3.Connection) -> None:
    """The functions the ``metrics`` view and its insert trigger call."""
    deterministic = {"deterministic": True}
    connection.create_function("lk_int", 3, codec.int_at, **deterministic)
    connection.create_function("lk_value", 2, codec.value_at, **deterministic)
    connection.create_function("lk_wall", 3, codec.wall_at, **deterministic)
    connection.create_function("lk_pack_int", 1, _pack_one_int, **deterministic)
    connection.create_function("lk_pack_value", 1, _pack_one_value, **deterministic)
    connection.create_function("lk_pack_wall", 1, _pack_one_wall, **deterministic)


def _pack_one_int(value: int) -> bytes:
    return codec.pack_ints([value])[2]


def _pack_one_value(value: float | None) -> bytes:
    return codec.pack_values([float("nan") if value is None else value])


def _pack_one_wall(value: float) -> bytes:
    return codec.pack_walls([value])[1]


def create(connection) -> None:
    """Make the blocks table, the ``metrics`` view over it and the view's insert trigger."""
    from sqlalchemy import text

    for statement in CREATE:
        connection.execute(text(statement))


BLOCK_COLUMNS = "n, lo_id, lo_step, wall0, ids, steps, vals, walls"
_NEXT_ID = "SELECT coalesce(max(hi_id), 0) + 1 FROM metric_blocks"
_INSERT = """
INSERT INTO metric_blocks
  (run_id, key, n, lo_id, hi_id, lo_step, hi_step, wall0, ids, steps, vals, walls)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_INSERT_AS = _INSERT.replace("(run_id,", "(id, run_id,").replace("VALUES (", "VALUES (?, ")


MERGE_BELOW = 128  # a run's newest block of a key with fewer points takes the next ones in

_SMALL_BLOCK = (
    f"SELECT id, {BLOCK_COLUMNS} FROM metric_blocks"
    " WHERE run_id = ? AND key = ? ORDER BY id DESC LIMIT 1"
)
_UPDATE = """
UPDATE metric_blocks SET run_id = ?, key = ?, n = ?, lo_id = ?, hi_id = ?, lo_step = ?,
  hi_step = ?, wall0 = ?, ids = ?, steps = ?, vals = ?, walls = ? WHERE id = ?
"""


def write_columns(raw: sqlite3.Connection, run_id: int, columns: dict[str, tuple]) -> int:
    """Store one run's {key: (steps, values, walls)} arrays with the next ids in order (a
    key's points consecutive); returns the last id. A key's points go into its newest block
    while that holds fewer than MERGE_BELOW (a run that logs a point a flush would otherwise
    make a block a point), else into a block of their own. Runs inside the caller's write
    transaction, which holds SQLite's one write lock: nobody else draws ids meanwhile."""
    next_id = raw.execute(_NEXT_ID).fetchone()[0]
    rows = []
    for key, (steps, values, walls) in columns.items():
        count = len(steps)
        if not count:
            continue
        ids = range(next_id, next_id + count)
        next_id += count
        newest = _small_newest(raw, run_id, key) if count < MERGE_BELOW else None
        if newest is None:
            rows.append(block_row(run_id, key, ids, steps, values, walls))
            continue
        merged = [
            codec.as_list(old) + codec.as_list(new)
            for old, new in zip(decode(newest[1:]), (ids, steps, values, walls), strict=True)
        ]
        raw.execute(_UPDATE, (*block_row(run_id, key, *merged), newest[0]))
    raw.executemany(_INSERT, rows)
    return next_id - 1


def _small_newest(raw: sqlite3.Connection, run_id: int, key: str) -> tuple | None:
    """The run's newest block of ``key`` (id, then BLOCK_COLUMNS) if it can take more."""
    newest = raw.execute(_SMALL_BLOCK, (run_id, key)).fetchone()
    return newest if newest is not None and newest[1] < MERGE_BELOW else None


def block_row(run_id: int, key: str, ids: Any, steps: Any, values: Any, walls: Any) -> tuple:
    """The values of one metric_blocks row (for _INSERT) holding these points in this order."""
    lo_id, hi_id, id_blob = codec.pack_ints(ids)
    lo_step, hi_step, step_blob = codec.pack_ints(steps)
    wall0, wall_blob = codec.pack_walls(walls)
    value_blob = codec.pack_values(values)
    return (
        run_id,
        key,
        len(steps),
        lo_id,
        hi_id,
        lo_step,
        hi_step,
        wall0,
        id_blob,
        step_blob,
        value_blob,
        wall_blob,
    )


def decode(row: tuple) -> tuple[Any, Any, Any, Any]:
    """(ids, steps, values, walls) arrays of a block row read with ``BLOCK_COLUMNS``."""
    n, lo_id, lo_step, wall0, ids, steps, vals, walls = row
    return (
        codec.unpack_ints(ids, lo_id, n),
        codec.unpack_ints(steps, lo_step, n),
        codec.unpack_values(vals, n),
        codec.unpack_walls(walls, wall0, n),
    )


def delete_points(raw: sqlite3.Connection, run_ids: list[int], from_step: int | None) -> None:
    """Delete these runs' blocks, or only their points at or after ``from_step``: a block that
    straddles the step keeps the points before it, with their ids, in their order."""
    marks = ",".join("?" * len(run_ids))
    if from_step is None:
        raw.execute(f"DELETE FROM metric_blocks WHERE run_id IN ({marks})", run_ids)
        return
    where = f"run_id IN ({marks}) AND hi_step >= ?"
    straddling = raw.execute(
        f"SELECT id, run_id, key, {BLOCK_COLUMNS} FROM metric_blocks WHERE {where} AND lo_step < ?",
        [*run_ids, from_step, from_step],
    ).fetchall()
    raw.execute(f"DELETE FROM metric_blocks WHERE {where}", [*run_ids, from_step])
    for block_id, run_id, key, *columns in straddling:
        kept = _before(decode(tuple(columns)), from_step)
        raw.execute(_INSERT_AS, (block_id, *block_row(run_id, key, *kept)))


def _before(columns: tuple, step: int) -> tuple:
    """A block's (ids, steps, values, walls) of its points before ``step``."""
    ids, steps, values, walls = columns
    if isinstance(steps, list):  # decoded without numpy
        keep = [i for i, s in enumerate(steps) if s < step]
        return tuple([column[i] for i in keep] for column in columns)
    kept = steps < step
    return ids[kept], steps[kept], values[kept], walls[kept]


def delete_after_id(raw: sqlite3.Connection, run_id: int, mark: int) -> tuple[int, int] | None:
    """Delete a run's points with ids above ``mark`` (a merged block keeps those at or below
    it); the lowest and highest step deleted, None when there were none."""
    blocks = raw.execute(
        f"SELECT id, key, {BLOCK_COLUMNS} FROM metric_blocks WHERE run_id = ? AND hi_id > ?",
        (run_id, mark),
    ).fetchall()
    deleted: list[int] = []
    for block_id, key, *columns in blocks:
        ids, steps, values, walls = (codec.as_list(c) for c in decode(tuple(columns)))
        keep = [i for i, point in enumerate(ids) if point <= mark]
        deleted += [step for i, step in enumerate(steps) if ids[i] > mark]
        raw.execute("DELETE FROM metric_blocks WHERE id = ?", (block_id,))
        if keep:
            kept = ([column[i] for i in keep] for column in (ids, steps, values, walls))
            raw.execute(_INSERT_AS, (block_id, *block_row(run_id, key, *kept)))
    return (min(deleted), max(deleted)) if deleted else None


def id_window(after: int, upto: int | None = None) -> list:
    """Conditions on the view for points with after < id <= upto, naming their blocks."""
    from sqlalchemy import literal_column

    where = [literal_column("metrics.id") > after, literal_column("metrics.block_hi_id") > after]
    if upto is not None:
        where += [
            literal_column("metrics.id") <= upto,
            literal_column("metrics.block_lo_id") <= upto,
        ]
    return where
