"""Taking back what a killed process of this instance left claimed.

An instance keeps its name (INSTANCE_ID) across restarts. Its claims (outbox rows, stored
updates, broadcast recipients) carry that name, so once the restarted process owns the name
again (wiring/instance.py) nobody else can be sending them: they are due again at once
instead of after their leases run out (ten minutes for the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import BroadcastDelivery, OutboxMessage, UpdateInbox


@dataclass(frozen=True, slots=True)
class Reclaimed:
    outbox: int
    updates: int
    broadcast: int

    @property
    def total(self) -> int:
        return self.outbox + self.updates + self.broadcast


async def reclaim_own_claims(session: AsyncSession, holder: str, now: datetime) -> Reclaimed:
    """Everything `holder` left in flight is due again now. The outbox claim counted an
    attempt; a crash is not a try, so it is given back."""
    outbox = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_by == holder)
        .values(
            status="pending",
            claimed_by=None,
            claimed_until=None,
            attempts=case((OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0),
        )
    )
    updates = await session.execute(
        update(UpdateInbox)
        .where(
            UpdateInbox.claimed_by == holder,
            UpdateInbox.processed_at.is_(None),
            UpdateInbox.claimed_until.is_not(None),
        )
        .values(claimed_until=now)
    )
    broadcast = await session.execute(
        update(BroadcastDelivery)
        .where(BroadcastDelivery.status == "sending", BroadcastDelivery.claimed_by == holder)
        .values(status="pending", claimed_by=None, claimed_until=None, updated_at=now)
    )
    return Reclaimed(_count(outbox), _count(updates), _count(broadcast))


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
