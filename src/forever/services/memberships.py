"""Stored subscriptions as lifecycle memberships, and the expiry sweep."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from forever.domain import lifecycle
from forever.domain.events import EventKind
from forever.domain.lifecycle import Billing, Membership, State
from forever.services.ports import EventLog, UnitOfWork
from forever.services.records import SubscriptionRecord

GRACE = timedelta(days=3)


def to_membership(row: SubscriptionRecord | None) -> Membership:
    if row is None:
        return Membership()
    return Membership(
        state=State(row.state),
        plan_id=row.plan_id,
        billing=Billing(row.billing) if row.billing else None,
        period_end=row.period_end,
        auto_renew=row.auto_renew,
        paused_until=row.paused_until,
        paused_credit=(
            timedelta(seconds=row.paused_credit_seconds)
            if row.paused_credit_seconds is not None
            else None
        ),
    )


def apply_membership(row: SubscriptionRecord, m: Membership, now: datetime) -> None:
    row.state = m.state.value
    row.plan_id = m.plan_id
    row.billing = m.billing.value if m.billing else None
    row.period_end = m.period_end
    row.auto_renew = m.auto_renew
    row.paused_until = m.paused_until
    row.paused_credit_seconds = (
        int(m.paused_credit.total_seconds()) if m.paused_credit is not None else None
    )
    row.updated_at = now


class ExpiryCandidates(Protocol):
    async def ending_by(self, states: Sequence[str], now: datetime) -> Sequence[SubscriptionRecord]:
        """Subscriptions in one of `states` whose period ended by `now`, locked for this
        transaction (rows another sweep holds are skipped)."""
        ...


class ExpireDueMemberships:
    """Sweep: ends every membership whose time is up (only candidates are read)."""

    def __init__(self, uow: UnitOfWork, candidates: ExpiryCandidates, events: EventLog) -> None:
        self.uow = uow
        self.candidates = candidates
        self.events = events

    async def __call__(self, now: datetime) -> int:
        expirable = [s.value for s in lifecycle.ALLOWED[lifecycle.Action.EXPIRE]]
        count = 0
        async with self.uow.begin():
            for row in await self.candidates.ending_by(expirable, now):
                m = to_membership(row)
                if not lifecycle.due_to_expire(m, now, GRACE):
                    continue
                apply_membership(row, lifecycle.expire(m, now=now), now)
                self.events.record(
                    EventKind.ACCESS_ENDED,
                    now,
                    row.person_id,
                    plan=row.plan_id,
                    billing=row.billing,
                    previous_state=m.state.value,
                    reason=row.cancel_reason,
                )
                count += 1
            await self.uow.commit()
        return count
