"""Promo codes in SQL (services.promo.PromoStore), issue 19."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, select, update

from forever.db.models import Invoice, Person, PromoCode, PromoInvoice, PromoRedemption
from forever.db.person_lock import lock_person_row
from forever.db.transactions import SqlUnitOfWork
from forever.domain.promo import PromoKind, PromoSpec


class SqlPromoStore:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def lock_person(self, person_id: int) -> None:
        await lock_person_row(self._uow.session, Person.id == person_id)

    async def by_code(self, code: str) -> PromoCode | None:
        return await self._uow.session.scalar(select(PromoCode).where(PromoCode.code == code))

    async def add_code(self, spec: PromoSpec, *, created_by: int, at: datetime) -> PromoCode:
        row = PromoCode(
            code=spec.code,
            kind=spec.kind.value,
            percent=spec.percent,
            days=spec.days,
            plans=",".join(spec.plans),
            max_uses=spec.limit,
            uses=0,
            expires_at=spec.expires_at,
            created_by=created_by,
            created_at=at,
        )
        self._uow.session.add(row)
        await self._uow.session.flush()
        return row

    async def codes(self) -> Sequence[PromoCode]:
        return (
            await self._uow.session.scalars(select(PromoCode).order_by(PromoCode.created_at.desc()))
        ).all()

    async def used_by(self, code_id: int, person_id: int) -> bool:
        found = await self._uow.session.scalar(
            select(PromoRedemption.id).where(
                PromoRedemption.code_id == code_id, PromoRedemption.person_id == person_id
            )
        )
        return found is not None

    async def take_use(self, code_id: int) -> bool:
        result = await self._uow.session.execute(
            update(PromoCode)
            .where(
                PromoCode.id == code_id,
                (PromoCode.max_uses.is_(None)) | (PromoCode.uses < PromoCode.max_uses),
            )
            .values(uses=PromoCode.uses + 1)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def add_redemption(self, code_id: int, person_id: int, at: datetime) -> PromoRedemption:
        row = PromoRedemption(code_id=code_id, person_id=person_id, redeemed_at=at)
        self._uow.session.add(row)
        await self._uow.session.flush()
        return row

    async def open_percent(self, person_id: int, plan_id: str) -> tuple[int, str, int] | None:
        for redemption_id, code, percent, plans in await self._open(person_id):
            if not plans or plan_id in plans.split(","):
                return redemption_id, code, int(percent or 0)
        return None

    async def open_codes(self, person_id: int) -> list[tuple[str, int, tuple[str, ...]]]:
        return [
            (code, int(percent or 0), tuple(p for p in plans.split(",") if p))
            for _, code, percent, plans in await self._open(person_id)
        ]

    async def _open(self, person_id: int) -> list[tuple[int, str, int | None, str]]:
        """Percent codes this person used whose discount no paid invoice has taken yet, the
        largest first."""
        paid = (
            select(PromoInvoice.invoice_id)
            .join(Invoice, Invoice.id == PromoInvoice.invoice_id)
            .where(
                PromoInvoice.redemption_id == PromoRedemption.id,
                Invoice.paid_at.is_not(None),
            )
        )
        rows = (
            await self._uow.session.execute(
                select(PromoRedemption.id, PromoCode.code, PromoCode.percent, PromoCode.plans)
                .join(PromoCode, PromoCode.id == PromoRedemption.code_id)
                .where(
                    PromoRedemption.person_id == person_id,
                    PromoCode.kind == PromoKind.PERCENT.value,
                    ~exists(paid),
                )
                .order_by(PromoCode.percent.desc(), PromoRedemption.id)
            )
        ).all()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def link_invoice(self, invoice_id: int, redemption_id: int, full_stars: int) -> None:
        self._uow.session.add(
            PromoInvoice(invoice_id=invoice_id, redemption_id=redemption_id, full_stars=full_stars)
        )
        await self._uow.session.flush()

    async def of_invoice(self, invoice_id: int) -> tuple[str, int] | None:
        row = (
            await self._uow.session.execute(
                select(PromoCode.code, PromoInvoice.full_stars)
                .join(PromoRedemption, PromoRedemption.id == PromoInvoice.redemption_id)
                .join(PromoCode, PromoCode.id == PromoRedemption.code_id)
                .where(PromoInvoice.invoice_id == invoice_id)
            )
        ).first()
        return None if row is None else (row[0], int(row[1]))
