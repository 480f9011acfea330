"""Stable prices (issue 18): what a member last paid in full for a plan."""

from __future__ import annotations

from sqlalchemy import select

from forever.db.models import Invoice, Payment
from forever.db.transactions import SqlUnitOfWork


class SqlKeptPrices:
    """services.billing.KeptPrices, from the payments table."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def paid(self, person_id: int, plan_id: str, billing: str) -> int | None:
        return await self._uow.session.scalar(
            select(Payment.amount)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(
                Payment.person_id == person_id,
                Payment.plan_id == plan_id,
                Payment.billing == billing,
                Payment.refunded_at.is_(None),
                Invoice.offer_id.is_(None),
            )
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(1)
        )
