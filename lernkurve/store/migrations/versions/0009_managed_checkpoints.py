"""Which checkpoints Lernkurve wrote itself: the ones its retention (keep_last, keep_best) may
delete. A framework's own files (Lightning's ModelCheckpoint, HF's checkpoint-N folders) are
listed too but left to the framework's own retention. Older rows: Lernkurve's files are the
``step-*.pt`` ones.

Revision ID: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(
            sa.Column("managed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(sa.text("UPDATE checkpoints SET managed = true WHERE path LIKE '%step-%.pt'"))


def downgrade() -> None:
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("managed")
