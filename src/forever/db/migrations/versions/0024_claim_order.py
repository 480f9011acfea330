"""claims read in index order: the outbox's and a broadcast's indexes end with the id (issue 15)

The outbox claim takes the earliest due rows by (not_before, id), and a broadcast's claim its
pending recipients by id. On PostgreSQL an index without the id left that order to a sort of
every candidate at each claim (a campaign's rows share one due time), or to a walk over the
primary key past every recipient already sent: both grow with the backlog. SQLite's indexes
already end with the rowid.

Revision ID: 0024_claim_order
Revises: 0023_texts
Create Date: 2026-12-01 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024_claim_order"
down_revision: str | Sequence[str] | None = "0023_texts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_status_not_before_id", "outbox", ["status", "not_before", "id"])
    op.drop_index("ix_outbox_status_not_before", table_name="outbox")
    op.create_index(
        "ix_broadcast_deliveries_job_status_id",
        "broadcast_deliveries",
        ["broadcast_id", "status", "id"],
    )
    op.drop_index("ix_broadcast_deliveries_job_status", table_name="broadcast_deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_broadcast_deliveries_job_status", "broadcast_deliveries", ["broadcast_id", "status"]
    )
    op.drop_index("ix_broadcast_deliveries_job_status_id", table_name="broadcast_deliveries")
    op.create_index("ix_outbox_status_not_before", "outbox", ["status", "not_before"])
    op.drop_index("ix_outbox_status_not_before_id", table_name="outbox")
