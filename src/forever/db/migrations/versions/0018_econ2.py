"""econ2: the Stars paid for a credit pack, on its ledger entry (credit sales in /stats, the
pay-per-use spending the upgrade prompt compares with a plan's price)

Revision ID: 0018_econ2
Revises: 0014_console2
Create Date: 2026-12-01 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_econ2"
down_revision: str | Sequence[str] | None = "0017_points"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credit_entries") as batch:
        batch.add_column(sa.Column("stars", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_entries") as batch:
        batch.drop_column("stars")
