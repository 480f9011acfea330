"""outbox: the claim's index ends with the id (issue 15)

A claim takes the earliest due rows, ordered by (not_before, id). A campaign queues its rows
with one due time, so on PostgreSQL an index on (status, not_before) alone left the tie-break
on id to a sort of every due row at each claim. SQLite's indexes already end with the rowid.

Revision ID: 0024_outbox_claim
Revises: 0023_texts
Create Date: 2026-12-01 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024_outbox_claim"
down_revision: str | Sequence[str] | None = "0023_texts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_status_not_before_id", "outbox", ["status", "not_before", "id"])
    op.drop_index("ix_outbox_status_not_before", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_status_not_before", "outbox", ["status", "not_before"])
    op.drop_index("ix_outbox_status_not_before_id", table_name="outbox")
