"""promo: promo codes, who used them, and the invoices issued at a code's price (issue 19)

Revision ID: 0015_promo
Revises: 0014_console2
Create Date: 2026-12-01 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_promo"
down_revision: str | Sequence[str] | None = "0014_console2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promo_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("plans", sa.String(length=255), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promo_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_promo_codes_code")),
    )
    op.create_table(
        "promo_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["code_id"], ["promo_codes.id"], name=op.f("fk_promo_redemptions_code_id_promo_codes")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_promo_redemptions_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promo_redemptions")),
        sa.UniqueConstraint("code_id", "person_id", name="uq_promo_redemptions_once"),
    )
    op.create_index(
        op.f("ix_promo_redemptions_person_id"), "promo_redemptions", ["person_id"], unique=False
    )
    op.create_table(
        "promo_invoices",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("redemption_id", sa.Integer(), nullable=False),
        sa.Column("full_stars", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_promo_invoices_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["promo_redemptions.id"],
            name=op.f("fk_promo_invoices_redemption_id_promo_redemptions"),
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_promo_invoices")),
    )
    op.create_index(
        op.f("ix_promo_invoices_redemption_id"), "promo_invoices", ["redemption_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_promo_invoices_redemption_id"), table_name="promo_invoices")
    op.drop_table("promo_invoices")
    op.drop_index(op.f("ix_promo_redemptions_person_id"), table_name="promo_redemptions")
    op.drop_table("promo_redemptions")
    op.drop_table("promo_codes")
