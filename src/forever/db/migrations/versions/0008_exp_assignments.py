"""experiments: assignments recorded at first exposure, and staff's overrides

Revision ID: 0008_exp
Revises: 0007_access
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_exp"
down_revision: str | Sequence[str] | None = "0007_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiment_assignments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("experiment_id", sa.String(length=48), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.String(length=32), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("surface", sa.String(length=24), nullable=False),
        sa.Column("exposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_experiment_assignments_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_assignments")),
        sa.UniqueConstraint(
            "experiment_id",
            "person_id",
            name=op.f("uq_experiment_assignments_experiment_id"),
        ),
    )
    op.create_index(
        "ix_experiment_assignments_experiment_exposed",
        "experiment_assignments",
        ["experiment_id", "exposed_at"],
        unique=False,
    )
    op.create_table(
        "experiment_overrides",
        sa.Column("experiment_id", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("winner_variant_id", sa.String(length=32), nullable=True),
        sa.Column("by_telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_experiment_overrides")),
    )


def downgrade() -> None:
    op.drop_table("experiment_overrides")
    op.drop_index(
        "ix_experiment_assignments_experiment_exposed", table_name="experiment_assignments"
    )
    op.drop_table("experiment_assignments")
