"""Refunds by staff: `/refund <person or charge id> [reason]`, and the payments `/user` lists.

A refund is decided in one transaction: the payment is marked refunded (only if it was not
already: two racing taps cannot both refund it), a REFUNDED event is written, Telegram is asked
for the Stars back (an outbox row, `services.stars.queue_refund`), the access the payment
bought is taken off (domain/refunds.py; a renewing Stars subscription is stopped), the
customer is told in chat in their language, and the audit log keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from forever.domain.catalog import Catalog
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.refunds import after_refund
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import (
    DeliveryKick,
    EventLog,
    Outbox,
    PeopleRepository,
    SubscriptionRepository,
    UnitOfWork,
)
from forever.services.records import PersonRecord
from forever.services.staff import AuditLog, StaffDirectory, can_be_told, parse_who
from forever.services.stars import queue_refund, queue_stars_edit

# message_templates/chat/ (shared): what the customer is told about a refund.
REFUND_MADE = "refund_made"
STAFF_REASON = "staff"  # REFUNDED's reason for a refund decided by staff
MAX_NOTE = 200
PAYMENTS_LISTED = 10


class PaymentRecord(Protocol):
    """One kept payment (db/models.Payment satisfies it)."""

    id: int
    person_id: int | None
    telegram_charge_id: str
    plan_id: str
    billing: str
    amount: int
    currency: str
    is_recurring: bool
    refunded_at: datetime | None
    created_at: datetime


class StaffPayments(Protocol):
    async def by_charge_id(self, charge_id: str) -> PaymentRecord | None: ...

    async def get(self, payment_id: int) -> PaymentRecord | None: ...

    async def of(self, person_id: int, limit: int) -> Sequence[PaymentRecord]:
        """The person's payments, newest first."""
        ...

    async def mark_refunded(self, payment_id: int, now: datetime) -> bool:
        """Set `refunded_at` unless it is set already (atomically: of two transactions at
        once, one wins); True when this call set it."""
        ...


class RefundOutcome(StrEnum):
    OK = "ok"  # one refundable payment: confirm it
    CHOOSE = "choose"  # several: staff pick one
    NONE = "none"  # the person has no refundable payment
    ALREADY = "already"  # that charge was refunded already
    NOT_FOUND = "not_found"
    USAGE = "usage"


@dataclass(frozen=True, slots=True)
class RefundProposal:
    outcome: RefundOutcome
    person: PersonRecord | None = None
    payments: tuple[PaymentRecord, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class Refunded:
    outcome: RefundOutcome  # OK, ALREADY or NOT_FOUND
    payment: PaymentRecord | None = None
    person: PersonRecord | None = None
    ended: bool = False
    until: datetime | None = None  # the access left, when it was shortened
    told: bool = False


def refundable(payment: PaymentRecord) -> bool:
    return payment.refunded_at is None and payment.amount > 0 and payment.person_id is not None


class RefundFollowUp(Protocol):
    """Called inside the refund's transaction (services.referrals.ReferralRewards: a referral
    reward the payment earned is taken back)."""

    async def refunded(self, charge_id: str, now: datetime) -> bool: ...


class RefundPoints(Protocol):
    """The points ledger (services.points.PointsLedger): what a refunded membership payment
    earned (`paid:<charge id>`) is taken back, never below zero (a shortfall is recorded)."""

    async def take_back_payment(self, charge_id: str) -> Any: ...


class StaffRefunds:
    """/refund, and the payments shown by /user."""

    def __init__(
        self,
        uow: UnitOfWork,
        directory: StaffDirectory,
        payments: StaffPayments,
        people: PeopleRepository,
        subscriptions: SubscriptionRepository,
        events: EventLog,
        audit: AuditLog,
        catalog: Catalog,
        clock: Clock,
        outbox: Outbox,
        kick: DeliveryKick,
        follow_up: RefundFollowUp | None = None,
        points: RefundPoints | None = None,
    ) -> None:
        self.follow_up = follow_up
        self.points = points
        self.uow = uow
        self.directory = directory
        self.payments = payments
        self.people = people
        self.subscriptions = subscriptions
        self.events = events
        self.audit = audit
        self.catalog = catalog
        self.clock = clock
        self.outbox = outbox
        self.kick = kick

    async def propose(self, text: str) -> RefundProposal:
        """Read `/refund <who or charge id> [reason]` (nothing is changed)."""
        parts = text.strip().split(maxsplit=1)
        if not parts:
            return RefundProposal(RefundOutcome.USAGE)
        target, note = parts[0], (parts[1].strip() if len(parts) > 1 else "")[:MAX_NOTE]
        async with self.uow.begin():
            payment = await self.payments.by_charge_id(target)
            if payment is not None:
                person = await self.people.get(payment.person_id) if payment.person_id else None
                await self.uow.commit()
                if payment.refunded_at is not None:
                    return RefundProposal(RefundOutcome.ALREADY, person, (payment,), note)
                if not refundable(payment) or person is None or person.telegram_id is None:
                    return RefundProposal(RefundOutcome.NOT_FOUND, note=note)
                return RefundProposal(RefundOutcome.OK, person, (payment,), note)
            try:
                field, value = parse_who(target)
            except ValueError:
                return RefundProposal(RefundOutcome.NOT_FOUND, note=note)
            person = await self.directory.find_person(field, value)
            found = await self.payments.of(person.id, PAYMENTS_LISTED) if person else ()
            await self.uow.commit()
        if person is None:
            return RefundProposal(RefundOutcome.NOT_FOUND, note=note)
        open_ones = tuple(p for p in found if refundable(p))
        if not open_ones:
            return RefundProposal(RefundOutcome.NONE, person, (), note)
        outcome = RefundOutcome.OK if len(open_ones) == 1 else RefundOutcome.CHOOSE
        return RefundProposal(outcome, person, open_ones, note)

    async def payment(self, payment_id: int) -> RefundProposal:
        """One payment picked from a list, to confirm."""
        async with self.uow.begin():
            payment = await self.payments.get(payment_id)
            person = (
                await self.people.get(payment.person_id) if payment and payment.person_id else None
            )
            await self.uow.commit()
        if payment is None:
            return RefundProposal(RefundOutcome.NOT_FOUND)
        if not refundable(payment):
            return RefundProposal(RefundOutcome.ALREADY, person, (payment,))
        return RefundProposal(RefundOutcome.OK, person, (payment,))

    async def refund(self, *, staff_id: int, payment_id: int, note: str = "") -> Refunded:
        now = self.clock.now()
        async with self.uow.begin():
            payment = await self.payments.get(payment_id)
            if payment is None or payment.person_id is None:
                return Refunded(RefundOutcome.NOT_FOUND)
            person = await self.people.get(payment.person_id)
            if person is None or person.telegram_id is None:
                # Erased: Telegram cannot be asked without their user id.
                return Refunded(RefundOutcome.NOT_FOUND, payment, person)
            if not await self.payments.mark_refunded(payment.id, now):
                self.audit.record(
                    staff_id, "refund_refused", now, payment=payment.id, reason="already"
                )
                await self.uow.commit()
                return Refunded(RefundOutcome.ALREADY, payment, person)
            person_id = payment.person_id
            self.events.record(
                EventKind.REFUNDED,
                now,
                person_id,
                charge_id=payment.telegram_charge_id,
                amount=payment.amount,
                currency=payment.currency,
                plan=payment.plan_id,
                reason=STAFF_REASON,
                note=note or None,
                by=staff_id,
            )
            telegram_id = person.telegram_id
            await queue_refund(
                self.outbox,
                person_id=person_id,
                telegram_id=telegram_id,
                charge_id=payment.telegram_charge_id,
                reason=STAFF_REASON,
                now=now,
            )
            # The points first: the person's points lock comes before their membership row,
            # the order a redemption of extra days takes them in.
            points_back = (
                await self.points.take_back_payment(payment.telegram_charge_id)
                if self.points is not None
                else None
            )
            ended, until = await self._take_back_access(payment, telegram_id, now)
            if self.follow_up is not None:
                await self.follow_up.refunded(payment.telegram_charge_id, now)
            told = can_be_told(person)
            if told:
                plan = self.catalog.plan(payment.plan_id)
                await self.outbox.enqueue(
                    key=f"refund-told:{payment.telegram_charge_id}"[:200],
                    channel="chat",
                    person_id=person_id,
                    template=REFUND_MADE,
                    context={
                        "plan_names": dict(plan.name) if plan else {},
                        "plan_id": payment.plan_id,
                        "amount": payment.amount,
                        "paid_at": payment.created_at,
                        "ended": ended,
                        "until": until,
                    },
                    marketing=False,
                    not_before=now,
                    now=now,
                )
            self.audit.record(
                staff_id,
                "refund",
                now,
                person=person_id,
                payment=payment.id,
                charge_id=payment.telegram_charge_id,
                amount=payment.amount,
                note=note,
                points_taken=int(getattr(points_back, "points", 0) or 0),
                points_shortfall=int(getattr(points_back, "shortfall", 0) or 0),
            )
            await self.uow.commit()
        self.kick.kick()
        return Refunded(RefundOutcome.OK, payment, person, ended, until, told)

    async def _take_back_access(
        self, payment: PaymentRecord, telegram_id: int | None, now: datetime
    ) -> tuple[bool, datetime | None]:
        """Shorten or end the access `payment` bought; (ended, access left until)."""
        assert payment.person_id is not None
        row = await self.subscriptions.of(payment.person_id)
        if row is None:
            return False, None
        before = to_membership(row)
        renewing_on_it = (
            payment.billing == "monthly"
            and row.star_charge_id is not None
            and row.plan_id == payment.plan_id
        )
        effect = after_refund(
            before,
            billing=payment.billing,
            plan_id=payment.plan_id,
            recurring_subscription=renewing_on_it,
            now=now,
        )
        if effect.membership != before:
            apply_membership(row, effect.membership, now)
        if effect.stop_renewals and row.star_charge_id and telegram_id is not None:
            row.canceled_at = row.canceled_at or now
            await queue_stars_edit(
                self.outbox,
                key=f"stars-stop:refund:{payment.telegram_charge_id}"[:200],
                person_id=payment.person_id,
                telegram_id=telegram_id,
                charge_id=row.star_charge_id,
                canceled=True,
                now=now,
            )
        if effect.ended:
            self.events.record(
                EventKind.ACCESS_ENDED,
                now,
                payment.person_id,
                plan=before.plan_id,
                billing=before.billing.value if before.billing else None,
                previous_state=before.state.value,
                reason="refund",
            )
            return True, None
        still = effect.membership.has_access and effect.membership.period_end is not None
        return False, effect.membership.period_end if still else None

    async def payments_of(self, person_id: int) -> list[PaymentRecord]:
        """For /user: the person's latest payments (refunded ones show when)."""
        async with self.uow.begin():
            found = list(await self.payments.of(person_id, PAYMENTS_LISTED))
            await self.uow.commit()
        return found
