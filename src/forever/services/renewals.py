"""Yearly members are told in chat before their year ends and when it has ended (issue 16,
item 6), with a one-tap way to continue (telegram/renewal_reminders.py: a button that opens
the yearly invoice, and the plans).

Transactional: no marketing consent, and no email address needed (the email journey
"renewal" tells those who have one). Each message is a chat outbox row keyed by person, year
and step, so a second sweep queues nothing new; it carries `quiet_hours`, so the delivery
policy holds one due at night until the person's morning, and the step's journey trigger, so
a member who renewed meanwhile (or whose year was changed) is not told a stale thing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from forever.domain.catalog import Catalog, Trigger
from forever.domain.renewals import YearlyWindow, yearly_key, yearly_windows
from forever.services.ports import Outbox, UnitOfWork

log = logging.getLogger(__name__)

PAGE = 500
TEMPLATE = "yearly_renewal"  # a chat view with buttons (telegram/renewal_reminders.py)
DEFAULT_DAYS_BEFORE = 3


class YearlyMember(NamedTuple):
    person_id: int
    plan_id: str | None
    period_end: datetime


class YearlyMembers(Protocol):
    async def ending(
        self,
        *,
        states: tuple[str, ...],
        low: datetime,
        high: datetime,
        after_person_id: int,
        limit: int,
    ) -> list[YearlyMember]:
        """Yearly members in `states` we can write to in chat (a Telegram id, not blocked,
        not erased) whose period ends in (low, high], person id > `after_person_id`, in id
        order, at most `limit`."""
        ...


def days_before(catalog: Catalog) -> int:
    """As the email journey on the `renewal` trigger says (its first step before the end)."""
    for journey in catalog.journeys:
        if journey.trigger is Trigger.RENEWAL:
            before = [-d for d in journey.days if d < 0]
            if before:
                return max(before)
    return DEFAULT_DAYS_BEFORE


class KeptYearly(Protocol):
    """services.billing.KeptPrices: the yearly price a member keeps for their plan."""

    async def paid(
        self, person_id: int, plan_id: str, billing: str, now: datetime
    ) -> int | None: ...


class QueueYearlyReminders:
    """The sweep: returns how many chat messages were queued. With `kept`, each reminder
    names the yearly price the member keeps (stable prices): what its button's invoice
    charges them, not the catalog's."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        members: YearlyMembers,
        outbox: Outbox,
        catalog: Catalog,
        page_size: int = PAGE,
        kept: KeptYearly | None = None,
    ) -> None:
        self.kept = kept
        self.uow = uow
        self.members = members
        self.outbox = outbox
        self.catalog = catalog
        self.page_size = page_size

    async def __call__(self, now: datetime) -> int:
        queued = 0
        before = days_before(self.catalog)
        for window in yearly_windows(now, before, self.catalog.email.late_days):
            queued += await self._window(window, now)
        if queued:
            log.info("yearly renewal reminders: %d queued", queued)
        return queued

    async def _window(self, window: YearlyWindow, now: datetime) -> int:
        queued = 0
        after = 0
        while True:
            async with self.uow.begin():
                page = await self.members.ending(
                    states=window.states,
                    low=window.low,
                    high=window.high,
                    after_person_id=after,
                    limit=self.page_size,
                )
                for member in page:
                    queued += await self._queue(window, member, now)
                await self.uow.commit()
            if len(page) < self.page_size:
                return queued
            after = page[-1].person_id

    async def _queue(self, window: YearlyWindow, member: YearlyMember, now: datetime) -> int:
        end = member.period_end
        if end.tzinfo is None:  # defensive: a column that lost its zone
            end = end.replace(tzinfo=UTC)
        stars = None
        if self.kept is not None and member.plan_id:
            stars = await self.kept.paid(member.person_id, member.plan_id, "yearly", now)
        new = await self.outbox.enqueue(
            key=yearly_key(member.person_id, end, window.step),
            channel="chat",
            person_id=member.person_id,
            template=TEMPLATE,
            context={
                "step": window.step.value,
                "plan_id": member.plan_id or "",
                "until": end,
                "stars": stars,  # the yearly price they keep (None: the catalog's)
                # Re-checked before sending (domain.marketing): still due?
                "trigger": window.trigger.value,
                # Not at night in the person's zone: the worker defers it to the morning.
                "quiet_hours": True,
            },
            marketing=False,
            not_before=now,
            now=now,
        )
        return 1 if new else 0
