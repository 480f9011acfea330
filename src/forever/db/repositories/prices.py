"""Stable prices (issue 18): what a member last paid in full for a plan, and staff's
migrations of a plan's members to the catalog price (`price_migrated` events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select

from forever.db.models import Event, Invoice, Payment, PromoInvoice, Subscription
from forever.db.transactions import SqlUnitOfWork
from forever.services.price_migration import BILLINGS, EVENT, Holder

MEMBER_STATES = ("active", "cancel_scheduled", "past_due", "paused")
# A former member keeps their price for win-back offers and re-subscribing this long after
# their paid access ended; later, they come back as a new member at the catalog price.
KEPT_AFTER_LEAVING = timedelta(days=90)
PERIODS = {"monthly": timedelta(days=30), "yearly": timedelta(days=365)}
# An invoice issued at a promo code's price (issue 19): like an offer, never a kept price.
_AT_A_CODES_PRICE = exists().where(PromoInvoice.invoice_id == Invoice.id)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class SqlKeptPrices:
    """services.billing.KeptPrices, services.price_migration.PriceHolders and
    services.experiment_results.PaymentHistory."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def _last_payment(
        self, person_id: int, plan_id: str, billing: str
    ) -> tuple[int, datetime] | None:
        row = (
            await self._uow.session.execute(
                select(Payment.amount, Payment.created_at)
                .join(Invoice, Invoice.id == Payment.invoice_id)
                .where(
                    Payment.person_id == person_id,
                    Payment.plan_id == plan_id,
                    Payment.billing == billing,
                    Payment.refunded_at.is_(None),
                    Invoice.offer_id.is_(None),
                    ~_AT_A_CODES_PRICE,
                    ~_AT_A_CODES_PRICE,
                )
                .order_by(Payment.created_at.desc(), Payment.id.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else (row[0], _aware(row[1]))

    async def _migrations(self, person_id: int, plan_id: str, billing: str) -> list[Event]:
        rows = await self._uow.session.scalars(
            select(Event)
            .where(Event.person_id == person_id, Event.kind == EVENT)
            .order_by(Event.at.desc(), Event.id.desc())
        )
        return [
            e for e in rows if e.data.get("plan") == plan_id and e.data.get("billing") == billing
        ]

    async def _access_ended(self, person_id: int, paid_at: datetime, billing: str) -> datetime:
        """When this person's paid access ended, or a time in the future while their
        membership is live (active, paused, cancelled but paid until, in grace). A trial is
        not a live membership: its end is not paid access."""
        row = (
            await self._uow.session.execute(
                select(Subscription.state, Subscription.period_end).where(
                    Subscription.person_id == person_id
                )
            )
        ).first()
        if row is not None and row[0] in ("active", "paused", "past_due"):
            return datetime.max.replace(tzinfo=UTC)
        if row is not None and row[0] in ("cancel_scheduled", "expired") and row[1] is not None:
            return _aware(row[1])  # the end of the period paid for (or of its grace)
        # No membership row that says: the period the last payment bought.
        return paid_at + PERIODS.get(billing, timedelta(0))

    async def paid(self, person_id: int, plan_id: str, billing: str, now: datetime) -> int | None:
        last = await self._last_payment(person_id, plan_id, billing)
        if last is None:
            return None
        amount, paid_at = last
        if now - await self._access_ended(person_id, paid_at, billing) > KEPT_AFTER_LEAVING:
            return None  # left long ago: back as a new member, at the catalog price
        found = await self._migrations(person_id, plan_id, billing)
        if found:
            effective = datetime.fromisoformat(str(found[0].data["effective_at"]))
            if effective <= now and paid_at < effective:
                return None  # moved to the catalog price, and it is in force
        return amount

    async def pending(self, person_id: int, plan_id: str, billing: str) -> int | None:
        found = await self._migrations(person_id, plan_id, billing)
        return int(found[0].data["new"]) if found else None

    async def holders(self, plan_id: str, now: datetime) -> list[Holder]:
        rows = await self._uow.session.execute(
            select(Subscription.person_id, Subscription.billing)
            .where(Subscription.plan_id == plan_id, Subscription.state.in_(MEMBER_STATES))
            .order_by(Subscription.person_id)
        )
        out = []
        for person_id, billing in rows.all():
            if billing not in BILLINGS:
                continue
            kept = await self.paid(person_id, plan_id, billing, now)
            if kept is not None:
                out.append(Holder(person_id, billing, kept))
        return out

    async def monthly_payments(self, plan_id: str) -> list[tuple[int, int, datetime]]:
        """services.experiment_results.PaymentHistory."""
        rows = await self._uow.session.execute(
            select(Payment.person_id, Payment.amount, Payment.created_at)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(
                Payment.plan_id == plan_id,
                Payment.billing == "monthly",
                Payment.refunded_at.is_(None),
                Payment.person_id.is_not(None),
                Invoice.offer_id.is_(None),
                ~_AT_A_CODES_PRICE,
            )
        )
        return [(p, a, _aware(at)) for p, a, at in rows.all() if p is not None]
