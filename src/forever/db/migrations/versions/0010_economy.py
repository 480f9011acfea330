"""economy: add-on purchases and the credit ledger (issue 19)

Revision ID: 0010_economy
Revises: 0011_console
Create Date: 2026-12-01 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_economy"
down_revision: str | Sequence[str] | None = "0011_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "addon_purchases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("addon_id", sa.String(length=32), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("telegram_payment_charge_id", sa.String(length=255), nullable=False),
        sa.Column("purchased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_addon_purchases_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addon_purchases")),
        sa.UniqueConstraint(
            "telegram_payment_charge_id",
            name=op.f("uq_addon_purchases_telegram_payment_charge_id"),
        ),
    )
    op.create_index("ix_addon_purchases_person", "addon_purchases", ["person_id", "purchased_at"])
    op.create_table(
        "credit_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("shortfall", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_credit_entries_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_credit_entries_idempotency_key")),
    )
    op.create_index("ix_credit_entries_person", "credit_entries", ["person_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_credit_entries_person", table_name="credit_entries")
    op.drop_table("credit_entries")
    op.drop_index("ix_addon_purchases_person", table_name="addon_purchases")
    op.drop_table("addon_purchases")
