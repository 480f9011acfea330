"""The stores every use case touches: people, subscriptions, the event history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from forever.db.models import Event, Person, Subscription
from forever.db.transactions import SqlUnitOfWork


class SqlPeople:
    """services.ports.PeopleRepository."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def get(self, person_id: int) -> Person | None:
        return await self._uow.session.get(Person, person_id)

    async def by_telegram_id(self, telegram_id: int) -> Person | None:
        return await self._uow.session.scalar(
            select(Person).where(Person.telegram_id == telegram_id)
        )

    async def mark_blocked(self, person_id: int, at: datetime) -> None:
        """The person blocked the bot (Telegram said 403): the one place this is written."""
        await self._uow.session.execute(
            update(Person)
            .where(Person.id == person_id, Person.blocked_at.is_(None))
            .values(blocked_at=at)
            .execution_options(synchronize_session=False)
        )


class SqlSubscriptions:
    """services.ports.SubscriptionRepository."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def of(self, person_id: int) -> Subscription | None:
        return await self._uow.session.scalar(
            select(Subscription).where(Subscription.person_id == person_id)
        )

    async def get_or_create(self, person_id: int, now: datetime) -> Subscription:
        row = await self.of(person_id)
        if row is None:
            row = Subscription(person_id=person_id, state="none", updated_at=now)
            self._uow.session.add(row)
            await self._uow.session.flush()
        return row


class SqlEventLog:
    """services.ports.EventLog: events are added to the open transaction."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def record(self, kind: str, at: datetime, person_id: int | None = None, **data: Any) -> Event:
        event = Event(person_id=person_id, kind=kind, at=at, data=data)
        self._uow.session.add(event)
        return event
