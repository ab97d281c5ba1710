"""PostgreSQL keeps points in blocks: one row per run, key and batch, the points as arrays.

One row per point costs PostgreSQL ~8.5 us of server time (heap, two B-trees, WAL): 117k
points/s at most from one process, whatever the client does. A block of a few thousand points
costs about what one point did, so the store takes what the training process can send.

What readers see does not change: ``metrics`` is a view with a row per point and the columns
of SQLite's table. A point's id is ``block id << 16`` plus its place in the block, so ids grow
with commits exactly as before (the stream's cursors, ``runs.last_metric_id``). Inserting into
the view makes a one-point block (a trigger). The view's ``block_id``, ``block_lo`` and
``block_hi`` let a query name the blocks it needs (``id_window``, ``step_window``): the
planner cannot see through the id arithmetic or the unnest on its own.
"""

from __future__ import annotations

import struct
from typing import Any

from sqlalchemy import ColumnElement, literal_column, text

BLOCK_BITS = 16
BLOCK_POINTS = 1 << BLOCK_BITS  # points a block holds at most (its ids' low bits)

CREATE = [
    """
    CREATE TABLE metric_blocks (
      id bigserial PRIMARY KEY,
      run_id integer NOT NULL,
      key varchar(100) NOT NULL,
      lo_step bigint NOT NULL,
      hi_step bigint NOT NULL,
      steps bigint[] NOT NULL,
      vals double precision[] NOT NULL,
      walls double precision[] NOT NULL
    )
    """,
    # Arrays of numbers barely compress; trying costs more than storing them.
    "ALTER TABLE metric_blocks ALTER steps SET STORAGE EXTERNAL,"
    " ALTER vals SET STORAGE EXTERNAL, ALTER walls SET STORAGE EXTERNAL",
    "CREATE INDEX ix_metric_blocks_run_key_hi ON metric_blocks (run_id, key, hi_step)",
    "CREATE INDEX ix_metric_blocks_run_id ON metric_blocks (run_id, id)",
    # NaN in a block is a value that was not finite: NULL, as SQLite stores it.
    f"""
    CREATE VIEW metrics AS
    SELECT (b.id << {BLOCK_BITS}) + p.n - 1 AS id, b.run_id, b.key, p.step,
           nullif(p.value, 'NaN'::double precision) AS value, p.wall_time,
           b.id AS block_id, b.lo_step AS block_lo, b.hi_step AS block_hi
    FROM metric_blocks b
    CROSS JOIN LATERAL unnest(b.steps, b.vals, b.walls) WITH ORDINALITY
      AS p(step, value, wall_time, n)
    """,
    f"""
    CREATE FUNCTION metrics_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE block bigint;
    BEGIN
      INSERT INTO metric_blocks (run_id, key, lo_step, hi_step, steps, vals, walls)
      VALUES (NEW.run_id, NEW.key, NEW.step, NEW.step, ARRAY[NEW.step],
              ARRAY[coalesce(NEW.value, 'NaN'::double precision)], ARRAY[NEW.wall_time])
      RETURNING id INTO block;
      NEW.id := block << {BLOCK_BITS};
      NEW.block_id := block;
      RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER metrics_insert INSTEAD OF INSERT ON metrics"
    " FOR EACH ROW EXECUTE FUNCTION metrics_insert()",
]

DROP = [
    "DROP VIEW metrics",
    "DROP FUNCTION metrics_insert()",
    "DROP TABLE metric_blocks",
]


def prepare() -> None:
    """Import numpy now, when a database opens, not in a run's first flush (~0.4 s): both
    stores pack their blocks with it where it is installed."""
    from lernkurve.store.blockcodec import numpy_or_none

    numpy_or_none()


def create(connection) -> None:
    """Make the blocks table, the ``metrics`` view over it and the view's insert trigger."""
    for statement in CREATE:
        connection.execute(text(statement))


def id_window(after: int, upto: int | None = None) -> list[ColumnElement]:
    """Conditions on the view for points with after < id <= upto, block by block first."""
    block = literal_column("metrics.block_id")
    where = [literal_column("metrics.id") > after, block >= after >> BLOCK_BITS]
    if upto is not None:
        where += [literal_column("metrics.id") <= upto, block <= upto >> BLOCK_BITS]
    return where


def in_id_order() -> list[ColumnElement]:
    """ORDER BY for the view in id order that PostgreSQL can take block by block from the
    index (an incremental sort: a LIMIT stops early, not after sorting every later point)."""
    return [literal_column("metrics.block_id"), literal_column("metrics.id")]


def step_window(low: int | None, high: int | None) -> list[ColumnElement]:
    """Conditions on the view that keep only blocks that can hold steps in [low, high)."""
    where = []
    if low is not None:
        where.append(literal_column("metrics.block_hi") >= low)
    if high is not None:
        where.append(literal_column("metrics.block_lo") < high)
    return where


_EDGE = {
    "first": "SELECT min(lo_step) FROM metric_blocks WHERE run_id = :run_id AND key = :key",
    "last": "SELECT max(hi_step) FROM metric_blocks WHERE run_id = :run_id AND key = :key",
}


def edge_window(connection, run_id: int, key: str, edge: str) -> list[ColumnElement]:
    """Conditions on the view that keep only the blocks holding a key's first or last step."""
    step = connection.execute(text(_EDGE[edge]), {"run_id": run_id, "key": key}).scalar()
    if step is None:
        return []
    return step_window(None, step + 1) if edge == "first" else step_window(step, None)


COPY = (
    "COPY metric_blocks (run_id, key, lo_step, hi_step, steps, vals, walls)"
    " FROM STDIN (FORMAT BINARY)"
)
_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_TRAILER = b"\xff\xff"
_INT8_OID, _FLOAT8_OID = 20, 701
_LAST_BLOCK = "SELECT currval(pg_get_serial_sequence('metric_blocks', 'id'))"


def copy_columns(raw_connection, run_id: int, keys: dict[str, tuple]) -> int:
    """One binary COPY of one run's {key: (steps, values, walls)} arrays as a block per key
    (per BLOCK_POINTS of a key); returns the last point's id."""
    data, last_size = copy_data(run_id, keys)
    with raw_connection.cursor() as cursor:
        with cursor.copy(COPY) as copy:
            copy.write(data)
        last_block = cursor.execute(_LAST_BLOCK).fetchone()[0]
    return (last_block << BLOCK_BITS) + last_size - 1


def copy_data(run_id: int, keys: dict[str, tuple]) -> tuple[bytes, int]:
    """COPY's binary data for one run's columns, a block per key; and the last block's size."""
    records, last_size = [], 0
    for key, (steps, values, walls) in keys.items():
        for start in range(0, len(steps), BLOCK_POINTS):
            part = slice(start, start + BLOCK_POINTS)
            records.append(_block_record(run_id, key, steps[part], values[part], walls[part]))
            last_size = len(steps[part])
    return b"".join([_HEADER, *records, _TRAILER]), last_size


def _block_record(run_id: int, key: str, steps: list, values: list, walls: list) -> bytes:
    """One row of COPY's binary format: 7 fields, the arrays packed by numpy (~50 ns a point
    where struct would take ~250)."""
    import numpy as np  # only PostgreSQL's writer needs it

    steps_array = np.asarray(steps, dtype=np.int64)
    low, high = int(steps_array.min()), int(steps_array.max())
    key_bytes = key.encode()
    fields = [
        struct.pack(">hii", 7, 4, run_id),
        struct.pack(">i", len(key_bytes)) + key_bytes,
        struct.pack(">iqiq", 8, low, 8, high),
        _array(steps_array, ">i8", 8, _INT8_OID),
        _array(np.asarray(values, dtype=np.float64), ">f8", 8, _FLOAT8_OID),  # NaN: not finite
        _array(np.asarray(walls, dtype=np.float64), ">f8", 8, _FLOAT8_OID),
    ]
    return b"".join(fields)


def _array(values: Any, dtype: str, size: int, oid: int) -> bytes:
    """A one-dimensional array with no NULLs as a COPY field: its length, then the array
    (dimensions, element type, then every element as its length and its bytes)."""
    import numpy as np

    elements = np.empty(len(values), dtype=[("size", ">i4"), ("value", dtype)])
    elements["size"] = size
    elements["value"] = values
    body = struct.pack(">iiiii", 1, 0, oid, len(values), 1) + elements.tobytes()
    return struct.pack(">i", len(body)) + body
