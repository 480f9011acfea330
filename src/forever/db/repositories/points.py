"""The points ledger in SQL (services.points.PointStore), issue 19.

Each write locks the person's row first, so two entries for one person are applied one after
the other and `balance_after` is always computed from the latest entry; a CHECK keeps it from
going below zero even if a rule were wrong. The unique `idempotency_key` makes a repeat return
the first entry instead of adding one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from forever.db.models import CreditEntry, Person, PointEntry
from forever.db.person_lock import lock_person_row
from forever.db.transactions import SqlUnitOfWork
from forever.domain.points import Lot

EARN, REDEEM, EXPIRE = "earn", "redeem", "expire"


class SqlPointStore:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def lock_person(self, person_id: int) -> None:
        await lock_person_row(self._uow.session, Person.id == person_id)

    async def entry(self, idempotency_key: str) -> PointEntry | None:
        return await self._uow.session.scalar(
            select(PointEntry).where(PointEntry.idempotency_key == idempotency_key)
        )

    async def balance(self, person_id: int) -> int:
        value = await self._uow.session.scalar(
            select(PointEntry.balance_after)
            .where(PointEntry.person_id == person_id)
            .order_by(PointEntry.id.desc())
            .limit(1)
        )
        return int(value or 0)

    async def lots(self, person_id: int) -> list[Lot]:
        rows = await self._uow.session.execute(
            select(PointEntry.amount, PointEntry.expires_at).where(
                PointEntry.person_id == person_id, PointEntry.kind == EARN
            )
        )
        return [Lot(amount, expires_at) for amount, expires_at in rows]

    async def taken(self, person_id: int) -> int:
        """Points that left the balance (redeemed or expired), as a positive number."""
        value = await self._uow.session.scalar(
            select(func.coalesce(func.sum(-PointEntry.amount), 0)).where(
                PointEntry.person_id == person_id, PointEntry.kind != EARN
            )
        )
        return int(value or 0)

    async def add(
        self,
        *,
        person_id: int,
        kind: str,
        amount: int,
        balance_after: int,
        reason: str,
        idempotency_key: str,
        expires_at: datetime | None,
        at: datetime,
    ) -> PointEntry:
        row = PointEntry(
            person_id=person_id,
            kind=kind,
            amount=amount,
            balance_after=balance_after,
            reason=reason,
            idempotency_key=idempotency_key,
            expires_at=expires_at,
            created_at=at,
        )
        self._uow.session.add(row)
        await self._uow.session.flush()
        return row

    async def history(self, person_id: int, limit: int = 5) -> Sequence[PointEntry]:
        return (
            await self._uow.session.scalars(
                select(PointEntry)
                .where(PointEntry.person_id == person_id, PointEntry.amount != 0)
                .order_by(PointEntry.id.desc())
                .limit(limit)
            )
        ).all()

    async def people_with_lots_by(
        self, until: datetime, after: int = 0, limit: int = 500
    ) -> list[int]:
        """People holding points with an earning that expires by `until` and that no expiry
        entry has covered yet (an expiry entry's `expires_at` is the last instant it covered);
        a page of `limit` people with ids above `after`, in id order."""
        covered = aliased(PointEntry)
        last_cover = (
            select(func.max(covered.expires_at))
            .where(covered.person_id == PointEntry.person_id, covered.kind == EXPIRE)
            .correlate(PointEntry)
            .scalar_subquery()
        )
        rows = await self._uow.session.scalars(
            select(PointEntry.person_id)
            .where(
                PointEntry.kind == EARN,
                PointEntry.person_id > after,
                PointEntry.expires_at.is_not(None),
                PointEntry.expires_at <= until,
                (last_cover.is_(None)) | (PointEntry.expires_at > last_cover),
            )
            .distinct()
            .order_by(PointEntry.person_id)
            .limit(limit)
        )
        return list(rows)

    async def credits_consumed(self, person_id: int) -> int:
        value = await self._uow.session.scalar(
            select(func.coalesce(func.sum(-CreditEntry.amount), 0)).where(
                CreditEntry.person_id == person_id, CreditEntry.kind == "usage"
            )
        )
        return int(value or 0)

    async def outstanding(self) -> int:
        """Every person's balance, added up (the latest entry of each)."""
        latest = (
            select(func.max(PointEntry.id).label("id")).group_by(PointEntry.person_id).subquery()
        )
        value = await self._uow.session.scalar(
            select(func.coalesce(func.sum(PointEntry.balance_after), 0)).join(
                latest, and_(PointEntry.id == latest.c.id)
            )
        )
        return int(value or 0)

    async def totals(self, start: datetime, end: datetime) -> dict[str, int]:
        """Points earned, redeemed and expired in (start, end], each as a positive number."""
        rows = await self._uow.session.execute(
            select(PointEntry.kind, func.coalesce(func.sum(PointEntry.amount), 0))
            .where(PointEntry.created_at > start, PointEntry.created_at <= end)
            .group_by(PointEntry.kind)
        )
        found = {kind: abs(int(total)) for kind, total in rows}
        return {kind: found.get(kind, 0) for kind in (EARN, REDEEM, EXPIRE)}
