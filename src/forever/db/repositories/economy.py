"""The credit ledger in SQL (services.credits.CreditStore), issue 19.

Each write locks the person's row first, so two entries for one person are applied one after
the other and `balance_after` is always computed from the latest entry. The unique
`idempotency_key` makes a repeated request return the first entry instead of adding one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from forever.db.models import AddonPurchase, CreditEntry, Person
from forever.db.transactions import SqlUnitOfWork


class SqlCreditStore:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def lock_person(self, telegram_id: int) -> None:
        # A no-op UPDATE as the transaction's first statement: PostgreSQL locks the row, and
        # SQLite (which ignores FOR UPDATE) takes its write lock before anything is read.
        await self._uow.session.execute(
            update(Person)
            .where(Person.telegram_id == telegram_id)
            .values(telegram_id=Person.telegram_id)
            .execution_options(synchronize_session=False)
        )

    async def entry(self, idempotency_key: str) -> CreditEntry | None:
        return await self._uow.session.scalar(
            select(CreditEntry).where(CreditEntry.idempotency_key == idempotency_key)
        )

    async def balance(self, person_id: int) -> int:
        value = await self._uow.session.scalar(
            select(CreditEntry.balance_after)
            .where(CreditEntry.person_id == person_id)
            .order_by(CreditEntry.id.desc())
            .limit(1)
        )
        return int(value or 0)

    async def add(
        self,
        *,
        person_id: int,
        kind: str,
        amount: int,
        balance_after: int,
        shortfall: int,
        idempotency_key: str,
        note: str | None,
        at: datetime,
    ) -> CreditEntry:
        row = CreditEntry(
            person_id=person_id,
            kind=kind,
            amount=amount,
            balance_after=balance_after,
            shortfall=shortfall,
            idempotency_key=idempotency_key,
            note=note,
            created_at=at,
        )
        self._uow.session.add(row)
        await self._uow.session.flush()
        return row

    async def history(self, person_id: int, limit: int = 10) -> Sequence[CreditEntry]:
        return (
            await self._uow.session.scalars(
                select(CreditEntry)
                .where(CreditEntry.person_id == person_id)
                .order_by(CreditEntry.id.desc())
                .limit(limit)
            )
        ).all()


class SqlAddonStore:
    """Add-on purchases (services.shop.AddonStore): one row per Telegram charge id."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def by_charge(self, charge_id: str) -> AddonPurchase | None:
        return await self._uow.session.scalar(
            select(AddonPurchase).where(AddonPurchase.telegram_payment_charge_id == charge_id)
        )

    async def add(
        self,
        *,
        person_id: int,
        addon_id: str,
        stars: int,
        quantity: int | None,
        charge_id: str,
        at: datetime,
        ends_at: datetime | None,
    ) -> AddonPurchase:
        row = AddonPurchase(
            person_id=person_id,
            addon_id=addon_id,
            stars=stars,
            quantity=quantity,
            telegram_payment_charge_id=charge_id,
            purchased_at=at,
            ends_at=ends_at,
        )
        self._uow.session.add(row)
        await self._uow.session.flush()
        return row

    async def of_person(self, person_id: int) -> Sequence[AddonPurchase]:
        return (
            await self._uow.session.scalars(
                select(AddonPurchase)
                .where(AddonPurchase.person_id == person_id)
                .order_by(AddonPurchase.purchased_at.desc(), AddonPurchase.id.desc())
            )
        ).all()

    async def end(self, charge_id: str, now: datetime) -> bool:
        """Mark a purchase refunded and ended now, unless it already was (of two at once, one
        wins); True when this call did."""
        result = await self._uow.session.execute(
            update(AddonPurchase)
            .where(
                AddonPurchase.telegram_payment_charge_id == charge_id,
                AddonPurchase.refunded_at.is_(None),
            )
            .values(refunded_at=now, ends_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
