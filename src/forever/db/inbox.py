"""The webhook update inbox: updates are stored before Telegram gets its 200, then claimed
and processed once. Repository functions: they never commit; the caller does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import UpdateInbox
from forever.db.upsert import insert_ignore


async def store_update(
    session: AsyncSession,
    update_id: int,
    body: dict[str, Any],
    *,
    holder: str,
    lease: timedelta,
    now: datetime,
) -> bool:
    """Store a received update, already claimed by `holder`; False if it was stored before."""
    return await insert_ignore(
        session,
        UpdateInbox,
        update_id=update_id,
        body=body,
        received_at=now,
        claimed_by=holder,
        claimed_until=now + lease,
        attempts=1,
    )


def _claimable(now: datetime) -> Any:
    return UpdateInbox.processed_at.is_(None) & or_(
        UpdateInbox.claimed_until.is_(None), UpdateInbox.claimed_until <= now
    )


async def claim_update(
    session: AsyncSession, update_id: int, *, holder: str, lease: timedelta, now: datetime
) -> bool:
    """Take an unprocessed update whose previous claim has lapsed; True if this call got it.

    A single conditional UPDATE: of several instances trying at once, exactly one matches.
    """
    result = await session.execute(
        update(UpdateInbox)
        .where(UpdateInbox.update_id == update_id, _claimable(now))
        .values(
            claimed_by=holder,
            claimed_until=now + lease,
            attempts=UpdateInbox.attempts + 1,
        )
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def claimable_updates(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[int]:
    """Ids of stored updates nobody is working on (never claimed, or the claim lapsed)."""
    rows = await session.scalars(
        select(UpdateInbox.update_id)
        .where(_claimable(now))
        .order_by(UpdateInbox.update_id)
        .limit(limit)
    )
    return rows.all()


async def load_update(session: AsyncSession, update_id: int) -> UpdateInbox | None:
    return await session.get(UpdateInbox, update_id)


async def mark_processed(
    session: AsyncSession, update_id: int, *, holder: str, now: datetime
) -> bool:
    """Done. Only the current holder may say so (a lapsed holder lost the update)."""
    result = await session.execute(
        update(UpdateInbox)
        .where(
            UpdateInbox.update_id == update_id,
            UpdateInbox.claimed_by == holder,
            UpdateInbox.processed_at.is_(None),
        )
        .values(processed_at=now, claimed_until=None)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def release_update(session: AsyncSession, update_id: int, *, holder: str) -> None:
    """Give an update back (processing failed) so any instance may retry it at once."""
    await session.execute(
        update(UpdateInbox)
        .where(UpdateInbox.update_id == update_id, UpdateInbox.claimed_by == holder)
        .values(claimed_until=None)
    )


async def prune_processed(session: AsyncSession, *, before: datetime) -> int:
    result = await session.execute(delete(UpdateInbox).where(UpdateInbox.processed_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


async def unprocessed_count(session: AsyncSession) -> int:
    count = await session.scalar(
        select(func.count()).select_from(UpdateInbox).where(UpdateInbox.processed_at.is_(None))
    )
    return int(count or 0)
