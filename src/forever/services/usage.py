"""The usage counter the business feeds (e.g. classes attended), one per person, metric and
calendar month (UTC). Upgrade prompts read it; `RecordUsage` is the hook to call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.services.ports import EventLog, PeopleRepository, UnitOfWork


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class UsageCounters(Protocol):
    async def add(self, person_id: int, metric: str, amount: int, now: datetime) -> int:
        """Add to the person's counter of `metric` for the month of `now` (created at 0 when
        missing, safely under concurrency); the new value."""
        ...


class RecordUsage:
    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        counters: UsageCounters,
        events: EventLog,
        clock: Clock,
        catalog: Callable[[], Catalog],
    ) -> None:
        self.uow = uow
        self.people = people
        self.counters = counters
        self.events = events
        self.clock = clock
        self.catalog = catalog

    async def __call__(
        self, telegram_id: int, amount: int = 1, metric: str | None = None
    ) -> int | None:
        """Add `amount` to this month's counter of the person with this Telegram id; the new
        value, or None when nobody has that id. The metric defaults to the catalog's."""
        if amount < 1:
            raise ValueError("usage grows by at least 1")
        metric = metric or self.catalog().upgrade.usage_metric
        now = self.clock.now()
        async with self.uow.begin():
            person = await self.people.by_telegram_id(telegram_id)
            if person is None:
                return None
            value = await self.counters.add(person.id, metric, amount, now)
            self.events.record(EventKind.USAGE, now, person.id, metric=metric, value=value)
            await self.uow.commit()
        return value
