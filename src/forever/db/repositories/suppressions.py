"""The suppression list: addresses never to mail again (hard bounces, erasure).

Kept as hashes (`domain.signing.email_hash`, unkeyed so every part of the code agrees), so an
erased person's address does not stay behind in clear.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import Suppression
from forever.db.transactions import SqlUnitOfWork
from forever.domain.signing import email_hash
from forever.services.suppressions import REASONS


async def suppress(session: AsyncSession, address: str, reason: str, now: datetime) -> bool:
    """Add the address; False when it was already there. Does not commit."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    values = {"email_hash": email_hash(address), "reason": reason, "created_at": now}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Suppression).values(**values).on_conflict_do_nothing(index_elements=["email_hash"])
    )
    result = await session.execute(stmt)
    return bool(cast(CursorResult[Any], result).rowcount)


async def suppressed_among(session: AsyncSession, addresses: Iterable[str]) -> set[str]:
    """The addresses (as given) that are on the list, in one query."""
    by_hash = {email_hash(a): a for a in addresses}
    if not by_hash:
        return set()
    found = await session.scalars(
        select(Suppression.email_hash).where(Suppression.email_hash.in_(list(by_hash)))
    )
    return {by_hash[h] for h in found}


class SqlSuppressions:
    """services.suppressions.Suppressions on the open unit of work."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def suppress(self, address: str, reason: str, now: datetime) -> bool:
        return await suppress(self._uow.session, address, reason, now)

    async def among(self, addresses: Iterable[str]) -> set[str]:
        return await suppressed_among(self._uow.session, addresses)
