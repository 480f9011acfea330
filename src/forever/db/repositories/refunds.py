"""services.refunds.StaffPayments in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from forever.db.models import Payment
from forever.db.transactions import SqlUnitOfWork


class SqlStaffPayments:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def by_charge_id(self, charge_id: str) -> Payment | None:
        return await self._uow.session.scalar(
            select(Payment).where(Payment.telegram_charge_id == charge_id)
        )

    async def get(self, payment_id: int) -> Payment | None:
        return await self._uow.session.get(Payment, payment_id)

    async def of(self, person_id: int, limit: int) -> Sequence[Payment]:
        return (
            await self._uow.session.scalars(
                select(Payment)
                .where(Payment.person_id == person_id)
                .order_by(Payment.created_at.desc(), Payment.id.desc())
                .limit(limit)
            )
        ).all()

    async def mark_refunded(self, payment_id: int, now: datetime) -> bool:
        # One conditional UPDATE: a second transaction waits for the first's row lock and
        # then finds `refunded_at` set, so it changes nothing.
        result = await self._uow.session.execute(
            update(Payment)
            .where(Payment.id == payment_id, Payment.refunded_at.is_(None))
            .values(refunded_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0) == 1)
