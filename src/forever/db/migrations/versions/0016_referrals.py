"""referrals: members' referral codes and who brought whom (issue 19)

Revision ID: 0016_referrals
Revises: 0014_console2
Create Date: 2026-12-01 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_referrals"
down_revision: str | Sequence[str] | None = "0018_econ2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referral_codes",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_referral_codes_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_referral_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_referral_codes_code")),
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("referrer_id", sa.Integer(), nullable=True),
        sa.Column("partner_id", sa.String(length=32), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reward_charge_id", sa.String(length=255), nullable=True),
        sa.Column("first_paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("referrer_days", sa.Integer(), nullable=False),
        sa.Column("referred_days", sa.Integer(), nullable=False),
        sa.Column("reward_refused", sa.String(length=32), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_referrals_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["referrer_id"], ["people.id"], name=op.f("fk_referrals_referrer_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("person_id", name=op.f("uq_referrals_person_id")),
        sa.UniqueConstraint("reward_charge_id", name=op.f("uq_referrals_reward_charge_id")),
    )
    op.create_index("ix_referrals_referrer", "referrals", ["referrer_id"])
    op.create_index("ix_referrals_partner", "referrals", ["partner_id"])


def downgrade() -> None:
    op.drop_index("ix_referrals_partner", table_name="referrals")
    op.drop_index("ix_referrals_referrer", table_name="referrals")
    op.drop_table("referrals")
    op.drop_table("referral_codes")
