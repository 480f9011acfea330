"""Referral codes and referrals in SQL (services.referrals.ReferralStore), issue 19.

Both inserts are insert-or-ignore on a unique key (the person), so two /start or /invite
updates racing write one row; the reward is claimed by one conditional UPDATE.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, distinct, func, select, update

from forever.db.models import Payment, Referral, ReferralCode
from forever.db.transactions import SqlUnitOfWork
from forever.db.upsert import insert_ignore
from forever.services.referrals import PartnerTotals


class SqlReferralStore:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def code_of(self, person_id: int) -> str | None:
        return await self._uow.session.scalar(
            select(ReferralCode.code).where(ReferralCode.person_id == person_id)
        )

    async def add_code(self, person_id: int, code: str, now: datetime) -> None:
        await insert_ignore(
            self._uow.session, ReferralCode, person_id=person_id, code=code, created_at=now
        )

    async def owner_of(self, code: str) -> int | None:
        return await self._uow.session.scalar(
            select(ReferralCode.person_id).where(ReferralCode.code == code)
        )

    async def add(
        self,
        *,
        person_id: int,
        referrer_id: int | None,
        partner_id: str | None,
        code: str,
        now: datetime,
    ) -> bool:
        return await insert_ignore(
            self._uow.session,
            Referral,
            person_id=person_id,
            referrer_id=referrer_id,
            partner_id=partner_id,
            code=code,
            created_at=now,
            referrer_days=0,
            referred_days=0,
        )

    async def of_referred(self, person_id: int) -> Referral | None:
        return await self._uow.session.scalar(
            select(Referral).where(Referral.person_id == person_id)
        )

    async def by_charge(self, charge_id: str) -> Referral | None:
        return await self._uow.session.scalar(
            select(Referral).where(Referral.reward_charge_id == charge_id)
        )

    async def claim_reward(self, person_id: int, charge_id: str, now: datetime) -> bool:
        result = await self._uow.session.execute(
            update(Referral)
            .where(Referral.person_id == person_id, Referral.reward_charge_id.is_(None))
            .values(reward_charge_id=charge_id, first_paid_at=now)
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def counts_for(self, referrer_id: int) -> tuple[int, int]:
        row = (
            await self._uow.session.execute(
                select(
                    func.count(Referral.id),
                    func.count(Referral.id).filter(
                        Referral.reward_charge_id.is_not(None),
                        Referral.reward_refused.is_(None),
                        Referral.revoked_at.is_(None),
                    ),
                ).where(Referral.referrer_id == referrer_id)
            )
        ).one()
        return int(row[0]), int(row[1])

    async def partner_totals(self) -> Sequence[PartnerTotals]:
        session = self._uow.session
        referred = dict(
            (
                await session.execute(
                    select(Referral.partner_id, func.count(Referral.id))
                    .where(Referral.partner_id.is_not(None))
                    .group_by(Referral.partner_id)
                )
            ).all()
        )
        paid_rows = (
            await session.execute(
                select(
                    Referral.partner_id,
                    func.count(distinct(Payment.person_id)),
                    func.coalesce(func.sum(Payment.amount), 0),
                )
                .join(
                    Payment,
                    and_(
                        Payment.person_id == Referral.person_id,
                        Payment.created_at >= Referral.created_at,
                        Payment.refunded_at.is_(None),
                        Payment.currency == "XTR",
                        Payment.amount > 0,
                    ),
                )
                .where(Referral.partner_id.is_not(None))
                .group_by(Referral.partner_id)
            )
        ).all()
        paid = {str(r[0]): (int(r[1]), int(r[2])) for r in paid_rows}
        return [
            PartnerTotals(str(pid), int(n), *paid.get(str(pid), (0, 0)))
            for pid, n in referred.items()
        ]
