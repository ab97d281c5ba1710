"""Tags and a Markdown note per run, edited in the page.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("tags", sa.JSON))
        batch.add_column(sa.Column("notes", sa.Text))
    op.execute(sa.text("UPDATE runs SET tags = '[]'"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("notes")
        batch.drop_column("tags")
