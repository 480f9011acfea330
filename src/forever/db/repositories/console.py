"""The owner console's sign-in links and sessions, in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from forever.db.models import ConsoleLink, ConsoleSession, Person
from forever.db.transactions import SqlUnitOfWork
from forever.domain.console import LINK_TTL
from forever.services.console import SessionRow


class SqlConsoleStore:
    """services.console.ConsoleStore."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add_link(self, digest: str, telegram_id: int, now: datetime) -> None:
        self._uow.session.add(
            ConsoleLink(token_hash=digest, telegram_id=telegram_id, created_at=now)
        )
        await self._uow.session.flush()

    async def take_link(self, digest: str, now: datetime) -> int | None:
        # One UPDATE decides: of two requests at once, only one finds the link unused.
        result = await self._uow.session.execute(
            update(ConsoleLink)
            .where(
                ConsoleLink.token_hash == digest,
                ConsoleLink.used_at.is_(None),
                ConsoleLink.created_at > now - LINK_TTL,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return None
        return await self._uow.session.scalar(
            select(ConsoleLink.telegram_id).where(ConsoleLink.token_hash == digest)
        )

    async def add_session(self, digest: str, telegram_id: int, now: datetime) -> None:
        self._uow.session.add(
            ConsoleSession(
                token_hash=digest, telegram_id=telegram_id, created_at=now, last_seen_at=now
            )
        )
        await self._uow.session.flush()

    async def session(self, digest: str) -> SessionRow | None:
        row = await self._uow.session.get(ConsoleSession, digest)
        if row is None:
            return None
        return SessionRow(row.telegram_id, row.created_at, row.last_seen_at, row.ended_at)

    async def touch(self, digest: str, now: datetime) -> None:
        await self._uow.session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.token_hash == digest)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )

    async def end(self, digest: str, now: datetime) -> None:
        await self._uow.session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.token_hash == digest, ConsoleSession.ended_at.is_(None))
            .values(ended_at=now)
            .execution_options(synchronize_session=False)
        )

    async def language(self, telegram_id: int) -> str | None:
        return await self._uow.session.scalar(
            select(Person.language).where(Person.telegram_id == telegram_id)
        )
