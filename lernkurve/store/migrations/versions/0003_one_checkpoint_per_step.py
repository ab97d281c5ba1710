"""One checkpoint row per run and step (two clicks at one step made two rows for one file).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    # Keep the newest row of each (run, step): it names the file the step's last save wrote.
    op.execute(
        sa.text(
            "DELETE FROM checkpoints WHERE id NOT IN "
            "(SELECT max(id) FROM checkpoints GROUP BY run_id, step)"
        )
    )
    op.create_index("ux_checkpoints_run_step", "checkpoints", ["run_id", "step"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_checkpoints_run_step", "checkpoints")
