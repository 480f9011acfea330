"""broadcasts: a version per language; deliveries found by chat (customers' replies)

Revision ID: 0003_staffchat
Revises: 0002_email
Create Date: 2026-11-30 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_staffchat"
down_revision: str | Sequence[str] | None = "0002_email"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variants", sa.JSON(), nullable=True))
    with op.batch_alter_table("broadcast_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_broadcast_deliveries_chat", ["chat_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("broadcast_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcast_deliveries_chat")
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("variants")
