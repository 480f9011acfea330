"""Knowing who is talking: find or create the person behind a Telegram user."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forever.db.models import Person
from forever.domain.clock import Clock
from forever.services.events import record_event


@dataclass(frozen=True, slots=True)
class TelegramUser:
    id: int
    first_name: str | None
    username: str | None
    language_code: str | None


class PeopleService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, locale_for: object
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self._locale_for = locale_for

    async def identify(self, user: TelegramUser) -> Person:
        """The person for this Telegram user, created on first contact (signed_up event)."""
        now = self.clock.now()
        async with self.sessions.begin() as session:
            person = await by_telegram_id(session, user.id)
            if person is not None:
                person.last_seen_at = now
                if person.blocked_at is not None:
                    person.blocked_at = None  # they are writing to us: not blocked any more
                if user.username and person.username != user.username:
                    person.username = user.username
                return person
        try:
            async with self.sessions.begin() as session:
                person = Person(
                    telegram_id=user.id,
                    first_name=(user.first_name or "")[:128] or None,
                    username=user.username,
                    language=self._locale_for(user.language_code),  # type: ignore[operator]
                    created_at=now,
                    last_seen_at=now,
                )
                session.add(person)
                await session.flush()
                record_event(session, "signed_up", now, person.id, language=person.language)
                return person
        except IntegrityError:
            # Two first updates at once: the other one created the row.
            async with self.sessions() as session:
                existing = await by_telegram_id(session, user.id)
                assert existing is not None
                return existing


async def by_telegram_id(session: AsyncSession, telegram_id: int) -> Person | None:
    return await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
