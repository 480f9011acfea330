"""Serialising the writes of one person: the ledgers (credits, points) and promo codes."""

from __future__ import annotations

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import Person


async def lock_person_row(session: AsyncSession, where: ColumnElement[bool]) -> None:
    """A no-op UPDATE of the person's row as the transaction's first statement: PostgreSQL
    locks the row until the end of the transaction, and SQLite (which ignores FOR UPDATE)
    takes its write lock before anything is read. Two writes for one person then run one
    after the other, so a balance read inside is the balance the write changes."""
    await session.execute(
        update(Person)
        .where(where)
        .values(id=Person.id)
        .execution_options(synchronize_session=False)
    )
