"""Yearly members whose year ends (or ended) in a window, a page at a time in person id
order (keyset pagination), for the chat reminders of services.renewals."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from forever.db.models import Person, Subscription
from forever.db.transactions import SqlUnitOfWork
from forever.domain.lifecycle import Billing
from forever.services.renewals import YearlyMember


class SqlYearlyMembers:
    """services.renewals.YearlyMembers on the open unit of work."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def ending(
        self,
        *,
        states: tuple[str, ...],
        low: datetime,
        high: datetime,
        after_person_id: int,
        limit: int,
    ) -> list[YearlyMember]:
        stmt = (
            select(Person.id, Subscription.plan_id, Subscription.period_end)
            .join(Subscription, Subscription.person_id == Person.id)
            .where(Subscription.billing == Billing.YEARLY.value)
            .where(Subscription.state.in_(list(states)))
            .where(Subscription.period_end > low)
            .where(Subscription.period_end <= high)
            .where(Person.telegram_id.is_not(None))
            .where(Person.blocked_at.is_(None))
            .where(Person.erased_at.is_(None))
            .where(Person.id > after_person_id)
            .order_by(Person.id)
            .limit(limit)
        )
        rows = await self._uow.session.execute(stmt)
        return [YearlyMember(pid, plan, end) for pid, plan, end in rows if end is not None]
