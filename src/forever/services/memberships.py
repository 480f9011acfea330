"""Applying lifecycle transitions to stored subscriptions, with an event for each."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import Subscription
from forever.domain import lifecycle
from forever.domain.events import EventKind
from forever.domain.lifecycle import Billing, Membership, State
from forever.services.events import record_event
from forever.services.records import SubscriptionRecord

if TYPE_CHECKING:
    from forever.app import Container

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


async def subscription_for(session: AsyncSession, person_id: int, now: datetime) -> Subscription:
    """The person's subscription row, created in state `none` if missing."""
    row = await session.scalar(select(Subscription).where(Subscription.person_id == person_id))
    if row is None:
        row = Subscription(person_id=person_id, state=State.NONE.value, updated_at=now)
        session.add(row)
        await session.flush()
    return row


async def expire_due_memberships(container: Container, now: datetime) -> int:
    """Ends every membership whose time is up (set-based: only candidates are read)."""
    expirable = [s.value for s in lifecycle.ALLOWED[lifecycle.Action.EXPIRE]]
    count = 0
    async with container.sessions.begin() as session:
        rows = await session.scalars(
            select(Subscription)
            .where(Subscription.state.in_(expirable))
            .where(Subscription.period_end <= now)
            .with_for_update(skip_locked=True)
        )
        for row in rows:
            m = to_membership(row)
            if not lifecycle.due_to_expire(m, now, GRACE):
                continue
            before = m.state
            apply_membership(row, lifecycle.expire(m, now=now), now)
            record_event(
                session,
                EventKind.ACCESS_ENDED,
                now,
                row.person_id,
                plan=row.plan_id,
                billing=row.billing,
                previous_state=before.value,
                reason=row.cancel_reason,
            )
            count += 1
    return count
