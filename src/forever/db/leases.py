"""Named leases: one instance holds a name until it renews or the lease runs out.

Used so scheduled sweeps run on exactly one instance at a time. Works the same on SQLite
(single process) and PostgreSQL (several instances): every step is one atomic statement.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import Lease
from forever.db.upsert import insert_ignore


async def acquire_lease(
    session: AsyncSession, name: str, *, holder: str, ttl: timedelta, now: datetime
) -> bool:
    """Take or renew the lease; True if `holder` has it until now + ttl."""
    if await insert_ignore(session, Lease, name=name, holder=holder, expires_at=now + ttl):
        return True
    result = await session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
        .values(holder=holder, expires_at=now + ttl)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def release_lease(session: AsyncSession, name: str, *, holder: str, now: datetime) -> None:
    """Let another instance take over now instead of waiting for expiry."""
    await session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now)
    )


async def lease_holder(session: AsyncSession, name: str, *, now: datetime) -> str | None:
    lease = await session.scalar(select(Lease).where(Lease.name == name))
    if lease is None or lease.expires_at <= now:
        return None
    return lease.holder


async def take_over_lease(
    session: AsyncSession,
    name: str,
    *,
    from_holder: str,
    holder: str,
    ttl: timedelta,
    now: datetime,
) -> bool:
    """Take the lease from `from_holder` (known dead) before it expires; False if it changed
    hands meanwhile."""
    result = await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == from_holder)
        .values(holder=holder, expires_at=now + ttl)
    )
    return bool(getattr(result, "rowcount", 0) == 1)
