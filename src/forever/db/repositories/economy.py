"""The credit ledger in SQL (services.credits.CreditStore), issue 19.

Each write locks the person's row first, so two entries for one person are applied one after
the other and `balance_after` is always computed from the latest entry. The unique
`idempotency_key` makes a repeated request return the first entry instead of adding one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, or_, select, update

from forever.db.models import AddonPurchase, CreditEntry, Event, Person
from forever.db.person_lock import lock_person_row
from forever.db.transactions import SqlUnitOfWork
from forever.domain.economy import AddonSale, LedgerRow
from forever.services.upgrades import PersonEconomy


class SqlCreditStore:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def lock_person(self, telegram_id: int) -> None:
        await lock_person_row(self._uow.session, Person.telegram_id == telegram_id)

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
        stars: int | None = None,
    ) -> CreditEntry:
        row = CreditEntry(
            stars=stars,
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


class SqlEconomyFacts:
    """services.upgrades.EconomyFacts: per person of a page, the Stars paid for credit packs
    since `since` (refunded packs left out), the add-ons in force and the last suggestion."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def of(
        self, person_ids: Sequence[int], *, since: datetime, now: datetime, suggested_kind: str
    ) -> dict[int, PersonEconomy]:
        session = self._uow.session
        ids = list(person_ids)
        bought = (
            await session.execute(
                select(CreditEntry.person_id, CreditEntry.idempotency_key, CreditEntry.stars)
                .where(CreditEntry.person_id.in_(ids))
                .where(CreditEntry.kind == "purchase")
                .where(CreditEntry.created_at >= since)
            )
        ).all()
        refunded = set(
            await session.scalars(
                select(CreditEntry.idempotency_key)
                .where(CreditEntry.person_id.in_(ids))
                .where(CreditEntry.kind == "refund")
            )
        )
        stars: dict[int, int] = {}
        for person_id, key, paid in bought:
            charge = key.removeprefix("buy:")
            if f"refund:{charge}" not in refunded:
                stars[person_id] = stars.get(person_id, 0) + int(paid or 0)
        owned: dict[int, set[str]] = {}
        rows = await session.execute(
            select(AddonPurchase.person_id, AddonPurchase.addon_id)
            .where(AddonPurchase.person_id.in_(ids))
            .where(AddonPurchase.refunded_at.is_(None))
            .where(or_(AddonPurchase.ends_at.is_(None), AddonPurchase.ends_at > now))
        )
        for person_id, addon_id in rows:
            owned.setdefault(person_id, set()).add(addon_id)
        suggested = await session.execute(
            select(Event.person_id, func.max(Event.at))
            .where(Event.person_id.in_(ids))
            .where(Event.kind == suggested_kind)
            .group_by(Event.person_id)
        )
        last: dict[int, datetime] = {pid: at for pid, at in suggested if pid is not None}
        return {
            pid: PersonEconomy(stars.get(pid, 0), frozenset(owned.get(pid, ())), last.get(pid))
            for pid in ids
            if pid in stars or pid in owned or pid in last
        }


class SqlEconomyHistory:
    """services.economy_stats.EconomyHistory: every add-on purchase and ledger entry up to
    an instant (times as UTC-aware datetimes, also on SQLite)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def sales(self, until: datetime) -> list[AddonSale]:
        rows = await self._uow.session.execute(
            select(
                AddonPurchase.stars, AddonPurchase.purchased_at, AddonPurchase.refunded_at
            ).where(AddonPurchase.purchased_at <= until)
        )
        return [AddonSale(stars, _utc(at), _utc_or_none(back)) for stars, at, back in rows]

    async def ledger(self, until: datetime) -> list[LedgerRow]:
        rows = await self._uow.session.execute(
            select(
                CreditEntry.kind,
                CreditEntry.amount,
                CreditEntry.created_at,
                CreditEntry.idempotency_key,
                CreditEntry.person_id,
                CreditEntry.stars,
            ).where(CreditEntry.created_at <= until)
        )
        return [
            LedgerRow(kind, amount, _utc(at), key, person_id, stars)
            for kind, amount, at, key, person_id, stars in rows
        ]


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _utc_or_none(at: datetime | None) -> datetime | None:
    return None if at is None else _utc(at)
