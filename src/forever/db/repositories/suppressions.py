"""The suppression list: addresses never to mail again (hard bounces, erasure).

Kept as keyed hashes: HMAC-SHA256 of the normalized address with a key derived from
SECRET_KEY (`domain.signing.keyed_email_hash`; the key rides on the session factory, see
db/engine.py), so neither an erased person's address nor a testable hash of it stays behind:
without the key nobody holding the database can check a guessed address against the list.

Rows written before migration 0004 hold the old unkeyed SHA-256 (`legacy`). They cannot be
re-keyed without the address, so they are still matched with the old hash, and each is
re-keyed in place the moment its address is seen again by a writer (a bounce, an
unsubscribe, an erasure): every address we still know ends up keyed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.engine import EMAIL_KEY
from forever.db.models import Suppression
from forever.db.transactions import SqlUnitOfWork
from forever.domain.signing import email_hash, keyed_email_hash
from forever.services.suppressions import REASONS


def suppression_hash(session: AsyncSession, address: str) -> str:
    """The keyed hash the list keeps for `address`."""
    key = session.info.get(EMAIL_KEY)
    if not isinstance(key, bytes) or not key:
        raise RuntimeError(
            "the session factory has no suppression key: "
            "db.engine.make_session_factory(engine, email_key=...)"
        )
    return keyed_email_hash(address, key)


def legacy_hash(address: str) -> str:
    """The unkeyed SHA-256 of rows written before migration 0004 (read and re-keyed only)."""
    return email_hash(address)


def listed(session: AsyncSession, address: str) -> ColumnElement[bool]:
    """A WHERE clause: the row is this address's (keyed, or a legacy unkeyed row)."""
    return or_(
        Suppression.email_hash == suppression_hash(session, address),
        and_(Suppression.legacy.is_(True), Suppression.email_hash == legacy_hash(address)),
    )


async def rekey_legacy(session: AsyncSession, address: str) -> bool:
    """Turn this address's legacy unkeyed row (if any) into a keyed one, keeping its reason
    and date; True when there was one."""
    result = await session.execute(
        update(Suppression)
        .where(Suppression.legacy.is_(True))
        .where(Suppression.email_hash == legacy_hash(address))
        .values(email_hash=suppression_hash(session, address), legacy=False)
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def suppress(session: AsyncSession, address: str, reason: str, now: datetime) -> bool:
    """Add the address; False when it was already there. Does not commit."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    if await rekey_legacy(session, address):
        return False
    values = {
        "email_hash": suppression_hash(session, address),
        "reason": reason,
        "created_at": now,
        "legacy": False,
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Suppression).values(**values).on_conflict_do_nothing(index_elements=["email_hash"])
    )
    result = await session.execute(stmt)
    return bool(cast(CursorResult[Any], result).rowcount)


async def suppressed_among(session: AsyncSession, addresses: Iterable[str]) -> set[str]:
    """The addresses (as given) that are on the list, in one query."""
    given = list(addresses)
    keyed = {suppression_hash(session, a): a for a in given}
    legacy = {legacy_hash(a): a for a in given}
    if not keyed:
        return set()
    found = await session.execute(
        select(Suppression.email_hash, Suppression.legacy).where(
            or_(
                Suppression.email_hash.in_(list(keyed)),
                and_(Suppression.legacy.is_(True), Suppression.email_hash.in_(list(legacy))),
            )
        )
    )
    return {(legacy if old else keyed)[h] for h, old in found.all()}


class SqlSuppressions:
    """services.suppressions.Suppressions on the open unit of work."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def suppress(self, address: str, reason: str, now: datetime) -> bool:
        return await suppress(self._uow.session, address, reason, now)

    async def among(self, addresses: Iterable[str]) -> set[str]:
        return await suppressed_among(self._uow.session, addresses)
