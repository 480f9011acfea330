"""journey sweep: read only what is due (journey_touches, sweep_marks and their triggers)

The journey sweep reads each step's window only for the moments that passed since its last
run, plus the people whose facts changed since (noted by the triggers of
db/journey_touches.py). The backfill an existing database needs is none per person: with no
row in `sweep_marks`, the first sweep after this migration reads every window in full (the
old query, which also leaves out everyone already queued), and from then on only what is due.

Revision ID: 0006_sweep
Revises: 0005_paid
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from forever.db import journey_touches

revision: str = "0006_sweep"
down_revision: str | Sequence[str] | None = "0005_paid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journey_touches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("claim", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_touches")),
    )
    op.create_table(
        "sweep_marks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sweep_marks")),
    )
    dialect = op.get_bind().dialect.name
    for statement in journey_touches.create_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in journey_touches.drop_statements(dialect):
        op.execute(statement)
    op.drop_table("sweep_marks")
    op.drop_table("journey_touches")
