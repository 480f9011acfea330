"""suppressions: keyed (HMAC) address hashes; rows from before are marked legacy

Earlier rows hold an unkeyed SHA-256 of the address, which anyone with the database can test
against a guessed address. They cannot be re-keyed here: the address is not known (that was
the point of hashing) and the key lives in the application's SECRET_KEY, not in the
migration. So every existing row is marked `legacy`: the application still matches it with
the old hash and re-keys it in place the moment that address is seen again (a bounce, an
unsubscribe, an erasure). New rows are always keyed.

Revision ID: 0004_keyed_suppr
Revises: 0003_staffchat
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_keyed_suppr"
down_revision: str | Sequence[str] | None = "0003_staffchat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("legacy", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    suppressions = sa.table("suppressions", sa.column("legacy", sa.Boolean()))
    op.execute(suppressions.update().values(legacy=True))


def downgrade() -> None:
    # Keyed rows cannot be turned back into unkeyed hashes; they stay (and no longer match).
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_column("legacy")
