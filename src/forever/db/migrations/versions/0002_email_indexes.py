"""email: indexes the journey sweeps range over

Revision ID: 0002_email
Revises: 0001
Create Date: 2026-11-23 11:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_email"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_people_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_people_last_seen_at"), ["last_seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_last_seen_at"))
        batch_op.drop_index(batch_op.f("ix_people_created_at"))
