"""SQLite: points in blocks (a row per run, key and batch, packed columns), ``metrics`` a view.

A row per point took 56 bytes and held the writer to ~165k points/s; a block takes ~10 bytes
a point and what the process sends (lernkurve.store.liteblocks). Every (run, key) series moves
over in its order with its ids, so ``runs.last_metric_id`` and every cursor stay valid; NULL
values, NaN-free as before, and 64-bit steps are kept. PostgreSQL has had blocks since 0007:
nothing changes there. A line on stderr says how far a big database has got.

The blocks' DDL is lernkurve.store.liteblocks' as of this revision; a later revision that
changes it freezes these statements here first.

Revision ID: 0010
"""

import math
import sys
import time

import sqlalchemy as sa
from alembic import op

from lernkurve.store import liteblocks

revision = "0010"
down_revision = "0009"

BLOCK = 8192  # points a migrated block holds at most
PROGRESS_EVERY = 2.0  # seconds between progress lines

_INSERT = liteblocks._INSERT  # noqa: SLF001 - the one INSERT a block row takes
_ROWS_TABLE = """
CREATE TABLE metrics (
  id INTEGER NOT NULL PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key VARCHAR(100) NOT NULL,
  step INTEGER NOT NULL,
  value FLOAT,
  wall_time FLOAT NOT NULL
)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    raw = op.get_bind().connection.driver_connection
    liteblocks.register(raw)  # whatever engine runs the migration: the view needs them
    op.execute(sa.text("DROP INDEX ix_metrics_run_key_step"))
    op.execute(sa.text("ALTER TABLE metrics RENAME TO metrics_rows"))
    for statement in liteblocks.CREATE:
        op.execute(sa.text(statement))
    _move_into_blocks(raw)
    op.execute(sa.text("DROP TABLE metrics_rows"))


def _move_into_blocks(raw) -> None:
    """Each run's keys, a block per BLOCK points of a key in id order."""
    total = raw.execute("SELECT count(*) FROM metrics_rows").fetchone()[0]
    progress = _Progress(total)
    series = raw.execute("SELECT DISTINCT run_id, key FROM metrics_rows ORDER BY run_id, key")
    for run_id, key in series.fetchall():
        cursor = raw.execute(
            "SELECT id, step, value, wall_time FROM metrics_rows"
            " WHERE run_id = ? AND key = ? ORDER BY id",
            (run_id, key),
        )
        while rows := cursor.fetchmany(BLOCK):
            ids, steps, values, walls = zip(*rows, strict=True)
            values = [math.nan if v is None else v for v in values]
            raw.execute(_INSERT, liteblocks.block_row(run_id, key, ids, steps, values, walls))
            progress.add(len(rows))
    progress.done()


class _Progress:
    """A line on stderr every few seconds while a big database moves."""

    def __init__(self, total: int) -> None:
        self.total, self.moved = total, 0
        self.started = self.said = time.monotonic()

    def add(self, count: int) -> None:
        self.moved += count
        if time.monotonic() - self.said >= PROGRESS_EVERY:
            self.said = time.monotonic()
            print(
                f"lernkurve: moving points into blocks: {self.moved:,} of {self.total:,}",
                file=sys.stderr,
                flush=True,
            )

    def done(self) -> None:
        if self.said != self.started:  # said something: say it is over
            seconds = time.monotonic() - self.started
            print(f"lernkurve: {self.total:,} points moved in {seconds:.1f} s", file=sys.stderr)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    liteblocks.register(op.get_bind().connection.driver_connection)
    op.execute(sa.text(_ROWS_TABLE.replace("CREATE TABLE metrics", "CREATE TABLE metrics_rows")))
    op.execute(
        sa.text(
            "INSERT INTO metrics_rows (id, run_id, key, step, value, wall_time)"
            " SELECT id, run_id, key, step, value, wall_time FROM metrics ORDER BY id"
        )
    )
    for statement in liteblocks.DROP:
        op.execute(sa.text(statement))
    op.execute(sa.text("ALTER TABLE metrics_rows RENAME TO metrics"))
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
