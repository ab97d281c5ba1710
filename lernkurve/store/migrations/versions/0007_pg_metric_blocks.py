"""PostgreSQL: points in blocks (a row per run, key and batch, arrays), ``metrics`` a view.

A row per point holds PostgreSQL to ~117k points/s from one process; blocks take what the
process sends (lernkurve.store.pgblocks). The points move over in their order, a block per run, key
and 4096 old ids; point ids change (a block's id << 16 plus the place in it) and every run's
``last_metric_id`` with them. SQLite keeps its table: this revision changes nothing there.

The blocks' DDL is lernkurve.store.pgblocks' as of this revision; a later revision that changes it
freezes these statements here first.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

from lernkurve.store import pgblocks

revision = "0007"
down_revision = "0006"

MOVE_IN = """
INSERT INTO metric_blocks (run_id, key, lo_step, hi_step, steps, vals, walls)
SELECT run_id, key, min(step), max(step), array_agg(step ORDER BY id),
  array_agg(coalesce(value, 'NaN'::double precision) ORDER BY id), array_agg(wall_time ORDER BY id)
FROM metrics_rows GROUP BY run_id, key, id >> 12 ORDER BY min(id)
"""
LAST_IDS_IN = f"""
UPDATE runs SET last_metric_id = (
  SELECT (b.id << {pgblocks.BLOCK_BITS}) + cardinality(b.steps) - 1 FROM metric_blocks b
  WHERE b.run_id = runs.id ORDER BY b.id DESC LIMIT 1)
"""

CREATE_ROWS = """
CREATE TABLE metrics_rows (
  id bigserial PRIMARY KEY, run_id integer NOT NULL, key varchar(100) NOT NULL,
  step integer NOT NULL, value double precision, wall_time double precision NOT NULL)
"""
MOVE_OUT = """
INSERT INTO metrics_rows (run_id, key, step, value, wall_time)
SELECT run_id, key, step, value, wall_time FROM metrics ORDER BY id
"""
LAST_IDS_OUT = """
UPDATE runs SET last_metric_id = (SELECT max(id) FROM metrics WHERE metrics.run_id = runs.id)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(sa.text("ALTER TABLE metrics RENAME TO metrics_rows"))
    for statement in pgblocks.CREATE:
        op.execute(sa.text(statement))
    op.execute(sa.text(MOVE_IN))
    op.execute(sa.text(LAST_IDS_IN))
    op.execute(sa.text("DROP TABLE metrics_rows"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(sa.text(CREATE_ROWS))
    op.execute(sa.text(MOVE_OUT))
    for statement in pgblocks.DROP:
        op.execute(sa.text(statement))
    op.execute(sa.text("ALTER TABLE metrics_rows RENAME TO metrics"))
    op.execute(sa.text("ALTER TABLE metrics RENAME CONSTRAINT metrics_rows_pkey TO metrics_pkey"))
    op.execute(sa.text("ALTER SEQUENCE metrics_rows_id_seq RENAME TO metrics_id_seq"))
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    op.execute(sa.text(LAST_IDS_OUT))
