"""Who might be shown an upgrade: every trial or active member we can write to, a page at a
time in person id order (keyset pagination, so nobody after the first page is left out), with
what the rule needs read set-wise (usage this month, the last prompt and the last cancel)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, func, select

from forever.db.models import Event, Person, Subscription, UsageCounter
from forever.db.transactions import SqlUnitOfWork
from forever.services.upgrades import UpgradeCandidate


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class SqlUpgradeCandidates:
    """services.upgrades.UpgradeCandidates on the open unit of work."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def page(
        self,
        *,
        states: Sequence[str],
        after_person_id: int,
        limit: int,
        usage_metric: str,
        now: datetime,
        prompted_kind: str,
        canceled_kind: str,
    ) -> list[UpgradeCandidate]:
        def last(kind: str) -> ScalarSelect[Any]:
            return (
                select(func.max(Event.at))
                .where(Event.person_id == Person.id, Event.kind == kind)
                .scalar_subquery()
            )

        usage = (
            select(UsageCounter.value)
            .where(UsageCounter.person_id == Person.id)
            .where(UsageCounter.metric == usage_metric)
            .where(UsageCounter.period_start == _month_start(now))
            .scalar_subquery()
        )
        stmt = (
            select(
                Person.id,
                Person.language,
                Person.first_name,
                Person.trial_used_at,
                Subscription.state,
                Subscription.plan_id,
                Subscription.billing,
                Subscription.period_end,
                func.coalesce(usage, 0),
                last(prompted_kind),
                last(canceled_kind),
            )
            .join(Subscription, Subscription.person_id == Person.id)
            .where(Subscription.state.in_(list(states)))
            .where(Person.telegram_id.is_not(None))
            .where(Person.blocked_at.is_(None))
            .where(Person.erased_at.is_(None))
            .where(Person.id > after_person_id)
            .order_by(Person.id)
            .limit(limit)
        )
        rows = await self._uow.session.execute(stmt)
        return [UpgradeCandidate(*row) for row in rows]
