"""console: sign-in links and sessions of the owner console; indexes for its people list

Revision ID: 0011_console
Revises: 0008_exp
Create Date: 2026-12-01 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_console"
down_revision: str | Sequence[str] | None = "0008_exp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_links")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(
        op.f("ix_console_sessions_telegram_id"), "console_sessions", ["telegram_id"], unique=False
    )
    # The console's people list: filters by language and by membership, newest first.
    op.create_index("ix_people_language_id", "people", ["language", "id"], unique=False)
    op.create_index("ix_people_lower_username", "people", [sa.text("lower(username)")])
    op.create_index("ix_people_lower_email", "people", [sa.text("lower(email)")])
    # The search by the start of a first name: LIKE 'prefix%' needs text_pattern_ops on
    # PostgreSQL (any collation); SQLite gets a plain index on the same expression.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_people_lower_first_name ON people (lower(first_name) text_pattern_ops)"
        )
    else:
        op.create_index("ix_people_lower_first_name", "people", [sa.text("lower(first_name)")])
    op.create_index(
        "ix_subscriptions_state_plan_person", "subscriptions", ["state", "plan_id", "person_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_subscriptions_state_plan_person", table_name="subscriptions")
    op.drop_index("ix_people_lower_first_name", table_name="people")
    op.drop_index("ix_people_lower_email", table_name="people")
    op.drop_index("ix_people_lower_username", table_name="people")
    op.drop_index("ix_people_language_id", table_name="people")
    op.drop_index(op.f("ix_console_sessions_telegram_id"), table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_links")
