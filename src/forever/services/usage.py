"""The usage counter the business feeds (e.g. classes attended), one per person, metric and
calendar month (UTC). Upgrade prompts read it; `record_usage` is the hook to call."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from forever.db.models import Person, UsageCounter
from forever.domain.events import EventKind
from forever.services.events import record_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forever.app import Container


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def usage_of(session: AsyncSession, person_id: int, metric: str, now: datetime) -> int:
    value = await session.scalar(
        select(UsageCounter.value).where(
            UsageCounter.person_id == person_id,
            UsageCounter.metric == metric,
            UsageCounter.period_start == month_start(now),
        )
    )
    return value or 0


async def record_usage(
    container: Container, telegram_id: int, amount: int = 1, metric: str | None = None
) -> int | None:
    """Add `amount` to this month's counter of the person with this Telegram id; returns the
    new value, or None when nobody has that id. The metric defaults to the catalog's."""
    if amount < 1:
        raise ValueError("usage grows by at least 1")
    metric = metric or container.catalog.upgrade.usage_metric
    now = container.clock.now()
    for _attempt in range(2):  # a concurrent first row for the month: retry once
        try:
            async with container.sessions.begin() as session:
                person_id = await session.scalar(
                    select(Person.id).where(Person.telegram_id == telegram_id)
                )
                if person_id is None:
                    return None
                row = await session.scalar(
                    select(UsageCounter)
                    .where(
                        UsageCounter.person_id == person_id,
                        UsageCounter.metric == metric,
                        UsageCounter.period_start == month_start(now),
                    )
                    .with_for_update()
                )
                if row is None:
                    row = UsageCounter(
                        person_id=person_id,
                        metric=metric,
                        period_start=month_start(now),
                        value=0,
                        updated_at=now,
                    )
                    session.add(row)
                row.value += amount
                row.updated_at = now
                record_event(
                    session, EventKind.USAGE, now, person_id, metric=metric, value=row.value
                )
                return row.value
        except IntegrityError:
            continue
    raise RuntimeError("could not record usage")
