"""PostgreSQL: 64-bit steps, as SQLite has always stored them (a step may count samples).

Steps past 2**31 (tokens or samples seen) failed on PostgreSQL's ``integer`` columns and
worked on SQLite. The blocks hold ``bigint`` steps from 0007 on; this revision widens the
other step columns. Going down fails, with PostgreSQL's own message, if a step no longer fits.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

STEP_COLUMNS = {
    "runs": ("step", "total_steps", "parent_step"),
    "events": ("step",),
    "checkpoints": ("step",),
    "snapshots": ("step",),
    "metric_buckets": ("bucket", "lo_step", "hi_step"),
}


def _retype(new: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in STEP_COLUMNS.items():
        changes = ", ".join(f"ALTER {column} TYPE {new}" for column in columns)
        op.execute(sa.text(f"ALTER TABLE {table} {changes}"))


def upgrade() -> None:
    _retype("bigint")


def downgrade() -> None:
    _retype("integer")
