"""access: the chats a membership opens (grants), who is in them, cached invite links

Revision ID: 0007_access
Revises: 0006_sweep
Create Date: 2026-11-30 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_access"
down_revision: str | Sequence[str] | None = "0006_sweep"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "access_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("granted_at", when, nullable=False),
        sa.Column("lost_at", when, nullable=True),
        sa.Column("removed_at", when, nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_access_grants_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_grants")),
        sa.UniqueConstraint("person_id", "chat_id", name=op.f("uq_access_grants_person_id")),
    )
    op.create_index(
        op.f("ix_access_grants_person_id"), "access_grants", ["person_id"], unique=False
    )
    op.create_index(
        op.f("ix_access_grants_telegram_id"), "access_grants", ["telegram_id"], unique=False
    )
    op.create_table(
        "access_members",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_access_members")),
    )
    op.create_table(
        "access_links",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("invite_link", sa.String(length=255), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_access_links")),
    )


def downgrade() -> None:
    op.drop_table("access_links")
    op.drop_table("access_members")
    op.drop_index(op.f("ix_access_grants_telegram_id"), table_name="access_grants")
    op.drop_index(op.f("ix_access_grants_person_id"), table_name="access_grants")
    op.drop_table("access_grants")
