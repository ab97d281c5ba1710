"""The schema of the first release: runs, metrics, commands, events, checkpoints, buckets.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("hparams", sa.JSON, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("total_steps", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("heartbeat_at", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="SET NULL")),
        sa.Column("parent_step", sa.Integer),
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, _run_fk(), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("wall_time", sa.Float, nullable=False),
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    for name, columns in (
        (
            "commands",
            [
                sa.Column("kind", sa.String(20), nullable=False),
                sa.Column("payload", sa.JSON, nullable=False),
                sa.Column("created_at", sa.Float, nullable=False),
                sa.Column("applied_at", sa.Float),
            ],
        ),
        (
            "events",
            [
                sa.Column("step", sa.Integer, nullable=False),
                sa.Column("wall_time", sa.Float, nullable=False),
                sa.Column("kind", sa.String(20), nullable=False),
                sa.Column("payload", sa.JSON, nullable=False),
            ],
        ),
        (
            "checkpoints",
            [
                sa.Column("step", sa.Integer, nullable=False),
                sa.Column("path", sa.Text, nullable=False),
                sa.Column("created_at", sa.Float, nullable=False),
            ],
        ),
        (
            "snapshots",
            [
                sa.Column("step", sa.Integer, nullable=False),
                sa.Column("kind", sa.String(40), nullable=False),
                sa.Column("payload", sa.JSON, nullable=False),
                sa.Column("wall_time", sa.Float, nullable=False),
            ],
        ),
    ):
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("run_id", sa.Integer, _run_fk(), nullable=False),
            *columns,
        )
        op.create_index(f"ix_{name}_run_id", name, ["run_id"])
    op.create_table(
        "metric_buckets",
        sa.Column("run_id", sa.Integer, _run_fk(), primary_key=True),
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("bucket", sa.Integer, primary_key=True),
        sa.Column("lo_step", sa.Integer),
        sa.Column("lo_value", sa.Float),
        sa.Column("hi_step", sa.Integer),
        sa.Column("hi_value", sa.Float),
        sa.Column("wall_time", sa.Float),
    )


def downgrade() -> None:
    for name in ("metric_buckets", "snapshots", "checkpoints", "events", "commands", "metrics"):
        op.drop_table(name)
    op.drop_table("runs")
