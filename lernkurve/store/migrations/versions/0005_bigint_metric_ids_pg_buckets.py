"""PostgreSQL: 64-bit metric ids, and chart buckets for the points written before they existed.

SQLite's INTEGER PRIMARY KEY is its 64-bit rowid already, and its buckets have been kept since
the first release: there this revision changes nothing.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

BUCKET_SHIFT = 6  # lernkurve.db.BUCKET_SHIFT when this revision was written

# Each (run, key, bucket)'s lowest and highest point (the first such step on ties), as the
# writer keeps them; rows already there (none before this release) are left alone.
FILL_BUCKETS = f"""
INSERT INTO metric_buckets (run_id, key, bucket, lo_step, lo_value, hi_step, hi_value, wall_time)
SELECT lo.run_id, lo.key, lo.bucket, lo.step, lo.value, hi.step, hi.value, lo.wall_time
FROM (
  SELECT DISTINCT ON (run_id, key, step >> {BUCKET_SHIFT}) run_id, key,
    step >> {BUCKET_SHIFT} AS bucket, step, value,
    max(wall_time) OVER (PARTITION BY run_id, key, step >> {BUCKET_SHIFT}) AS wall_time
  FROM metrics WHERE value IS NOT NULL
  ORDER BY run_id, key, step >> {BUCKET_SHIFT}, value ASC, id
) AS lo JOIN (
  SELECT DISTINCT ON (run_id, key, step >> {BUCKET_SHIFT}) run_id, key,
    step >> {BUCKET_SHIFT} AS bucket, step, value
  FROM metrics WHERE value IS NOT NULL
  ORDER BY run_id, key, step >> {BUCKET_SHIFT}, value DESC, id
) AS hi USING (run_id, key, bucket)
ON CONFLICT (run_id, key, bucket) DO NOTHING
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("metrics", "id", type_=sa.BigInteger(), existing_type=sa.Integer())
    op.execute(sa.text("ALTER SEQUENCE IF EXISTS metrics_id_seq AS bigint"))
    op.execute(sa.text(FILL_BUCKETS))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(sa.text("ALTER SEQUENCE IF EXISTS metrics_id_seq AS integer"))
    op.alter_column("metrics", "id", type_=sa.Integer(), existing_type=sa.BigInteger())
