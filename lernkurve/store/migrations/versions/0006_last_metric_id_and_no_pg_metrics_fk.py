"""Each run's newest metric id on its row; no foreign key from metrics to runs on PostgreSQL.

- ``runs.last_metric_id`` is what the stream and the charts read up to: the writer sets it in
  the transaction that commits a run's points, so no lock has to order the ids of different
  runs. Older databases get it from their points.
- PostgreSQL checks the metrics foreign key row by row, half of a COPY's time; the app and the
  writer delete a run's points themselves. SQLite keeps its key (cheap there, and dropping it
  would copy the whole table).
- Events and snapshots are indexed by (run, id): the stream asks for a run's newest ones.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

FILL = """
UPDATE runs SET last_metric_id = (SELECT max(id) FROM metrics WHERE metrics.run_id = runs.id)
"""


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
        batch.add_column(sa.Column("last_metric_id", id_type, nullable=True))
    op.execute(sa.text(FILL))
    for table in ("events", "snapshots"):
        op.create_index(f"ix_{table}_run_id_id", table, ["run_id", "id"])
        op.drop_index(f"ix_{table}_run_id", table_name=table)
    if op.get_bind().dialect.name == "postgresql":
        for key in sa.inspect(op.get_bind()).get_foreign_keys("metrics"):
            op.drop_constraint(key["name"], "metrics", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DELETE FROM metrics WHERE run_id NOT IN (SELECT id FROM runs)"))
        op.create_foreign_key(
            "metrics_run_id_fkey", "metrics", "runs", ["run_id"], ["id"], ondelete="CASCADE"
        )
    for table in ("events", "snapshots"):
        op.create_index(f"ix_{table}_run_id", table, ["run_id"])
        op.drop_index(f"ix_{table}_run_id_id", table_name=table)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("last_metric_id")
