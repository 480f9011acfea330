"""Stars payments: issuing invoices (subscription links and one-off invoices), answering
pre-checkout queries, and recording successful payments exactly once.

What a payment does to the membership is a pure rule (`domain.payments.decide_payment`);
these use cases read, apply it, and commit once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from forever.domain.catalog import Catalog, Offer, OfferKind, Plan
from forever.domain.clock import Clock
from forever.domain.lifecycle import Billing, Membership
from forever.domain.payments import (
    CURRENCY,
    INVOICE_LIFETIME,
    Charge,
    InvoiceFacts,
    InvoiceKind,
    Paid,
    PaymentDecision,
    Refusal,
    StarChange,
    UpgradeCredit,
    Verdict,
    check_pre_checkout,
    decide_payment,
    make_payload,
    price,
    read_payload,
    upgrade_credit,
)
from forever.domain.promo import discounted
from forever.domain.signing import Signer
from forever.services.accounts import Snapshot
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import (
    DeliveryKick,
    EventLog,
    Outbox,
    PeopleRepository,
    SubscriptionRepository,
    UnitOfWork,
)
from forever.services.receipts import queue_receipt
from forever.services.records import PersonRecord, SubscriptionRecord
from forever.services.stars import queue_refund, queue_stars_edit

log = logging.getLogger(__name__)

# The catalog in force now: read on each use, since the owner console may replace it while
# the bot runs.
CatalogSource = Callable[[], Catalog]


class SentMessage(Protocol):
    @property
    def ok(self) -> bool: ...


class InvoicePort(Protocol):
    """Telegram's side of an invoice (the answer to the current tap)."""

    async def create_invoice_link(
        self, *, title: str, description: str, payload: str, amount: int, subscription: bool
    ) -> str: ...

    async def send_invoice(
        self, chat_id: int, *, title: str, description: str, payload: str, amount: int
    ) -> SentMessage: ...


class StarSubscriptions(Protocol):
    async def cancel_star_subscription(
        self, user_id: int, charge_id: str, canceled: bool
    ) -> None: ...


class InvoiceRecord(Protocol):
    id: int
    person_id: int
    plan_id: str
    billing: str
    amount: int
    currency: str
    offer_id: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None


class InvoiceRepository(Protocol):
    async def add(
        self,
        *,
        person_id: int,
        plan_id: str,
        billing: str,
        amount: int,
        currency: str,
        offer_id: str | None,
        created_at: datetime,
        expires_at: datetime,
    ) -> InvoiceRecord: ...

    async def get(self, invoice_id: int) -> InvoiceRecord | None: ...


class PaymentRepository(Protocol):
    async def add_once(
        self,
        *,
        charge_id: str,
        person_id: int | None,
        invoice_id: int | None,
        provider_charge_id: str | None,
        plan_id: str,
        billing: str,
        amount: int,
        currency: str,
        is_recurring: bool,
        is_first_recurring: bool,
        subscription_expires_at: datetime | None,
        now: datetime,
        refunded: bool = False,
    ) -> bool:
        """Keep the payment unless its charge id is kept already; True when this call did.
        `refunded`: it is being given back (refunded_at = now)."""
        ...

    async def count_of(self, person_id: int) -> int: ...


class Snapshots(Protocol):
    """Where a person stands, read in the open unit of work."""

    async def snapshot(self, person_id: int, now: datetime) -> Snapshot | None: ...


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    invoice_id: int
    payload: str
    amount: int
    kind: InvoiceKind
    plan: Plan
    offer: Offer | None = None


InvoiceTexts = Callable[["IssuedInvoice"], tuple[str, str]]
"""The payment screen's title and description for an invoice as issued (its amount is the
price charged: the only price they may name)."""


class PriceArms(Protocol):
    """A plan_price experiment's prices already shown to a person (services/experiments.py)."""

    async def arms(
        self, person_id: int, language: str | None, *, record: bool, plan_id: str | None = None
    ) -> dict[str, tuple[int | None, int | None]]:
        """Plan id -> the arm's (monthly, yearly) Stars, None where it keeps the catalog's."""
        ...


class KeptPrices(Protocol):
    """Stable prices: what a person last paid in full for a plan and billing."""

    async def paid(self, person_id: int, plan_id: str, billing: str, now: datetime) -> int | None:
        """Stars of the person's latest payment for this plan and billing (`invoices.billing`)
        that was not refunded and carried no offer; None if there is none, if staff moved
        them to the catalog price since (services/price_migration.py) and it is in force, or
        if their paid access ended more than 90 days ago (back as a new member)."""
        ...


class CodeDiscount(Protocol):
    @property
    def percent(self) -> int: ...


class PromoPrices(Protocol):
    """Promo codes (services/promo.py): a percent code the person used lowers their next
    invoice for its plans; the invoice remembers the price it would have had."""

    async def discount(self, person_id: int, plan_id: str) -> CodeDiscount | None: ...

    async def issued(self, invoice_id: int, discount: Any, full_stars: int) -> None: ...

    async def paid(
        self, *, invoice_id: int, person_id: int | None, plan_id: str, amount: int, at: datetime
    ) -> None: ...


PROMO_OFFER_ID = "promo"  # how an invoice at a code's price names its discount to the texts


async def kept_price(
    kept: KeptPrices | None, person_id: int, plan: Plan, kind: InvoiceKind, now: datetime
) -> int | None:
    if kept is None or kind not in (InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY):
        return None
    return await kept.paid(person_id, plan.id, kind.value, now)


def with_price(plan: Plan, kind: InvoiceKind, stars: int) -> Plan:
    if kind is InvoiceKind.YEARLY:
        return replace(plan, yearly_stars=stars)
    return replace(plan, monthly_stars=stars)


async def as_held(
    kept: KeptPrices | None, person_id: int, plan: Plan | None, m: Membership, now: datetime
) -> Plan | None:
    """The plan a member holds, at the price they were sold it (for an upgrade's credit)."""
    if plan is None:
        return None
    held = InvoiceKind.YEARLY if m.billing is Billing.YEARLY else InvoiceKind.SUBSCRIPTION
    stars = await kept_price(kept, person_id, plan, held, now)
    return plan if stars is None else with_price(plan, held, stars)


class Invoicing:
    """Issuing invoices: the row is committed before Telegram sees its payload.

    Stable prices: a member who has paid for a plan before is charged what they paid (a
    catalog price change applies to new members), unless staff migrated them
    (`KeptPrices` then answers None)."""

    def __init__(
        self,
        uow: UnitOfWork,
        invoices: InvoiceRepository,
        clock: Clock,
        signer: Signer,
        prices: PriceArms | None = None,
        kept: KeptPrices | None = None,
        promos: PromoPrices | None = None,
    ) -> None:
        self.promos = promos
        self.prices = prices
        self.kept = kept
        self.uow = uow
        self.invoices = invoices
        self.clock = clock
        self.signer = signer

    async def monthly_price(self, person_id: int, plan: Plan) -> int:
        """What a Stars subscription link for `plan` would charge this person before any offer
        (their kept price, else the price experiment arm they were shown, else the catalog's)."""
        return (await self.personal_plan(person_id, plan)).monthly_stars

    async def personal_plan(self, person_id: int, plan: Plan) -> Plan:
        """`plan` at this person's own prices, monthly and yearly, before any offer: what
        its invoices would charge them (so what anything shown to them must name)."""
        now = self.clock.now()
        async with self.uow.begin():
            for kind in (InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY):
                plan = await self._priced(person_id, plan, kind, now)
            await self.uow.commit()
        return plan

    async def _priced(self, person_id: int, plan: Plan, kind: InvoiceKind, now: datetime) -> Plan:
        """In the caller's unit of work: `plan` with this kind's price set to the person's."""
        kept = await kept_price(self.kept, person_id, plan, kind, now)
        if kept is not None:
            # The price this member was sold (a discount offer then applies to it).
            return with_price(plan, kind, kept)
        if self.prices is not None and kind in (InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY):
            # A price experiment's arm, if this person was shown one: the price seen is the
            # price charged (a discount offer then applies to it).
            shown = await self.prices.arms(person_id, None, record=False, plan_id=plan.id)
            monthly, yearly = shown.get(plan.id, (None, None))
            stars = yearly if kind is InvoiceKind.YEARLY else monthly
            if stars is not None:
                return with_price(plan, kind, stars)
        return plan

    async def issue(
        self, person_id: int, plan: Plan, kind: InvoiceKind, offer: Offer | None = None
    ) -> IssuedInvoice:
        now = self.clock.now()
        async with self.uow.begin():
            plan = await self._priced(person_id, plan, kind, now)
            amount = price(plan, kind, offer)
            code = None
            if (
                self.promos is not None
                and offer is None
                and kind in (InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY)
            ):
                # A percent promo code the person used for this plan: the price charged.
                code = await self.promos.discount(person_id, plan.id)
            full = amount
            if code is not None:
                amount = discounted(amount, code.percent)
            invoice = await self.invoices.add(
                person_id=person_id,
                plan_id=plan.id,
                billing=kind.value,
                amount=amount,
                currency=CURRENCY,
                offer_id=offer.id if offer else None,
                created_at=now,
                expires_at=now + INVOICE_LIFETIME,
            )
            invoice_id = invoice.id
            if code is not None and self.promos is not None:
                await self.promos.issued(invoice_id, code, full)
                offer = Offer(id=PROMO_OFFER_ID, kind=OfferKind.DISCOUNT, percent=code.percent)
            await self.uow.commit()
        return IssuedInvoice(
            invoice_id, make_payload(self.signer, invoice_id), amount, kind, plan, offer
        )

    async def subscription_link(
        self,
        chat: InvoicePort,
        person_id: int,
        plan: Plan,
        *,
        texts: InvoiceTexts,
        offer: Offer | None = None,
    ) -> str:
        link, _ = await self.priced_subscription_link(
            chat, person_id, plan, texts=texts, offer=offer
        )
        return link

    async def priced_subscription_link(
        self,
        chat: InvoicePort,
        person_id: int,
        plan: Plan,
        *,
        texts: InvoiceTexts,
        offer: Offer | None = None,
    ) -> tuple[str, int]:
        """The link and the Stars it charges (to name that price on its button). `texts`
        gives the payment screen's title and description for the invoice as issued, so they
        name the price it charges (a kept or migrated price, not the catalog's)."""
        issued = await self.issue(person_id, plan, InvoiceKind.SUBSCRIPTION, offer)
        title, description = texts(issued)
        link = await chat.create_invoice_link(
            title=title,
            description=description,
            payload=issued.payload,
            amount=issued.amount,
            subscription=True,
        )
        return link, issued.amount

    async def send_one_off(
        self,
        chat: InvoicePort,
        chat_id: int,
        person_id: int,
        plan: Plan,
        kind: InvoiceKind,
        *,
        texts: InvoiceTexts,
        offer: Offer | None = None,
    ) -> bool:
        issued = await self.issue(person_id, plan, kind, offer)
        title, description = texts(issued)
        sent = await chat.send_invoice(
            chat_id,
            title=title,
            description=description,
            payload=issued.payload,
            amount=issued.amount,
        )
        return sent.ok


class PlanChoice(StrEnum):
    ISSUED = "issued"
    NOT_POSSIBLE = "not_possible"  # a plan that is gone, or forged data
    ALREADY_SUBSCRIBED = "already_subscribed"


@dataclass(frozen=True, slots=True)
class PlanChosen:
    choice: PlanChoice
    snap: Snapshot
    plan: Plan | None = None
    issued: IssuedInvoice | None = None
    # An upgrade mid-period: what the days left on the lower tier become (said before paying).
    credit: UpgradeCredit | None = None


class ChoosePlan:
    """A tap on a plan button: an invoice for it, unless it makes no sense now."""

    def __init__(
        self,
        uow: UnitOfWork,
        snapshots: Snapshots,
        invoicing: Invoicing,
        catalog: CatalogSource,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.snapshots = snapshots
        self.invoicing = invoicing
        self.catalog = catalog
        self.clock = clock

    async def __call__(self, person_id: int, plan_id: str, kind_value: str) -> PlanChosen:
        async with self.uow.begin():
            snap = await self.snapshots.snapshot(person_id, self.clock.now())
        assert snap is not None
        plan = self.catalog().plan(plan_id)
        try:
            kind: InvoiceKind | None = InvoiceKind(kind_value)
        except ValueError:
            kind = None
        if plan is None or kind not in (InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY):
            return PlanChosen(PlanChoice.NOT_POSSIBLE, snap)
        assert kind is not None
        if (
            kind is InvoiceKind.SUBSCRIPTION
            and snap.renewing_star_subscription
            and snap.membership.plan_id == plan.id
        ):
            return PlanChosen(PlanChoice.ALREADY_SUBSCRIBED, snap, plan)
        issued = await self.invoicing.issue(person_id, plan, kind)
        catalog = self.catalog()
        now = self.clock.now()
        async with self.uow.begin():
            current = await as_held(
                self.invoicing.kept,
                person_id,
                catalog.plan(snap.membership.plan_id or ""),
                snap.membership,
                now,
            )
        credit = upgrade_credit(snap.membership, current, plan, kind, now, amount=issued.amount)
        return PlanChosen(PlanChoice.ISSUED, snap, plan, issued, credit)


@dataclass(frozen=True, slots=True)
class PreCheckoutAnswer:
    refusal: Refusal | None
    language: str | None  # the payer's, when we know them


class PreCheckout:
    """Read-only and quick: Telegram waits at most 10 seconds for the answer."""

    def __init__(
        self,
        uow: UnitOfWork,
        invoices: InvoiceRepository,
        people: PeopleRepository,
        catalog: CatalogSource,
        clock: Clock,
        signer: Signer,
    ) -> None:
        self.uow = uow
        self.invoices = invoices
        self.people = people
        self.catalog = catalog
        self.clock = clock
        self.signer = signer

    async def __call__(
        self, *, payer_telegram_id: int, currency: str, amount: int, payload: str
    ) -> PreCheckoutAnswer:
        now = self.clock.now()
        invoice_id = read_payload(self.signer, payload)
        async with self.uow.begin():
            facts = await self._facts(invoice_id) if invoice_id else None
            payer = await self.people.by_telegram_id(payer_telegram_id)
            language = payer.language if payer is not None else None
        refusal = check_pre_checkout(
            facts, payer_telegram_id=payer_telegram_id, currency=currency, amount=amount, now=now
        )
        return PreCheckoutAnswer(refusal, language)

    async def _facts(self, invoice_id: int) -> InvoiceFacts | None:
        invoice = await self.invoices.get(invoice_id)
        if invoice is None:
            return None
        payer = await self.people.get(invoice.person_id)
        return InvoiceFacts(
            payer_telegram_id=payer.telegram_id if payer is not None else None,
            plan_exists=self.catalog().plan(invoice.plan_id) is not None,
            amount=invoice.amount,
            currency=invoice.currency,
            expires_at=invoice.expires_at,
            paid=invoice.paid_at is not None,
        )


class PaymentOutcome(StrEnum):
    ACTIVATED = "activated"  # a new purchase (first, again, or a plan change)
    RENEWED = "renewed"  # a recurring charge of a Stars subscription
    DUPLICATE = "duplicate"  # the same charge delivered again: nothing changed
    UNKNOWN = "unknown"  # money for no invoice of ours: kept for staff, no access change
    # The rest as domain.payments.Verdict says (refunds are given back in full).
    REFUNDED_AFTER_CANCEL = Verdict.REFUNDED_AFTER_CANCEL.value
    KEPT_AFTER_CANCEL = Verdict.KEPT_AFTER_CANCEL.value
    REFUNDED_REPLACED = Verdict.REFUNDED_REPLACED.value
    REFUNDED_WRONG_PAYER = Verdict.REFUNDED_WRONG_PAYER.value
    REFUNDED_MISMATCH = Verdict.REFUNDED_MISMATCH.value

    @property
    def refunded(self) -> bool:
        return self.value.startswith("refunded_")


@dataclass(frozen=True, slots=True)
class PaymentResult:
    outcome: PaymentOutcome
    person_id: int | None = None
    plan_id: str | None = None
    period_end: datetime | None = None
    # An older Stars subscription still renewing after a plan change: stopped after commit.
    stop_charge_id: str | None = None
    renews: bool = False  # the membership renews by itself afterwards
    language: str | None = None
    kind: str | None = None  # what the invoice sold (an InvoiceKind value), for the receipt
    amount: int | None = None  # Stars paid (and, for a refund, given back)
    # Telegram effects or staff alerts queued: the delivery worker is kicked after commit.
    urgent: bool = False
    # An upgrade mid-period: the lower tier's days left, credited as days of the new plan.
    credit: UpgradeCredit | None = None


STAFF_REFUND_ALERT = "payment_refunded_staff"  # message_templates/chat/, to owners


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    payer_telegram_id: int
    currency: str
    amount: int
    payload: str
    charge_id: str
    provider_charge_id: str | None
    is_recurring: bool
    is_first_recurring: bool
    subscription_expires_at: datetime | None


class PaidPoints(Protocol):
    """services.points.PointsLedger: points for a paid period, once per charge id."""

    async def hold(self, person_id: int) -> None: ...

    async def on_payment(self, person_id: int, period: timedelta, charge_id: str) -> Any: ...


class PaymentFollowUp(Protocol):
    """Called inside the payment's transaction for each kept Stars payment of a plan
    (services.referrals.ReferralRewards: the reward at a referred person's first payment).
    True when it queued a message."""

    async def paid(self, person_id: int, charge_id: str, now: datetime) -> bool: ...


KEPT_OUTCOMES = frozenset({"activated", "renewed", "kept_after_cancel"})


class RecordPayment:
    """Record a successful payment once (the charge id is unique) and grant what it bought."""

    def __init__(
        self,
        uow: UnitOfWork,
        invoices: InvoiceRepository,
        payments: PaymentRepository,
        people: PeopleRepository,
        subscriptions: SubscriptionRepository,
        events: EventLog,
        catalog: CatalogSource,
        clock: Clock,
        signer: Signer,
        outbox: Outbox,
        kick: DeliveryKick,
        staff_chat_ids: Iterable[int] = (),
        kept: KeptPrices | None = None,
        promos: PromoPrices | None = None,
        points: PaidPoints | None = None,
        follow_up: PaymentFollowUp | None = None,
    ) -> None:
        self.promos = promos  # a payment at a promo code's price: the discount given
        self.kept = kept  # an upgrade's credit values the held days at the price paid
        self.points = points  # points per paid month (issue 19), in the payment's transaction
        self.follow_up = follow_up
        self.uow = uow
        self.invoices = invoices
        self.payments = payments
        self.people = people
        self.subscriptions = subscriptions
        self.events = events
        self.catalog = catalog
        self.clock = clock
        self.signer = signer
        self.outbox = outbox
        self.kick = kick
        # Owners (ADMIN_IDS): alerted in chat of a payment no member could cause by mistake.
        self.staff_chat_ids = tuple(staff_chat_ids)

    async def __call__(self, paid: IncomingPayment) -> PaymentResult:
        async with self.uow.begin():
            result = await self._record(paid)
            followed = (
                self.follow_up is not None
                and result.person_id is not None
                and result.outcome.value in KEPT_OUTCOMES
                and paid.currency == "XTR"
                and await self.follow_up.paid(result.person_id, paid.charge_id, self.clock.now())
            )
            await queue_receipt(self.outbox, self.people, result, paid, self.clock.now())
            if result.stop_charge_id is not None and result.person_id is not None:
                # The plan changed: the old Stars subscription must not renew too.
                await queue_stars_edit(
                    self.outbox,
                    key=f"stars-stop:{paid.charge_id}"[:200],
                    person_id=result.person_id,
                    telegram_id=paid.payer_telegram_id,
                    charge_id=result.stop_charge_id,
                    canceled=True,
                    now=self.clock.now(),
                )
            if result.outcome is not PaymentOutcome.DUPLICATE:
                await self.uow.commit()
        if result.stop_charge_id is not None or result.urgent or followed:
            self.kick.kick()
        return result

    async def _record(self, paid: IncomingPayment) -> PaymentResult:
        now = self.clock.now()
        catalog = self.catalog()
        invoice_id = read_payload(self.signer, paid.payload)
        invoice = await self.invoices.get(invoice_id) if invoice_id else None
        payer = await self.people.by_telegram_id(paid.payer_telegram_id)
        language = payer.language if payer else None
        if invoice is None:
            kept = await self._keep(paid, invoice, payer.id if payer else None, now)
            if not kept:
                return PaymentResult(PaymentOutcome.DUPLICATE)
            log.warning("payment %s names no invoice of ours; kept for staff", paid.charge_id)
            return PaymentResult(
                PaymentOutcome.UNKNOWN, person_id=payer.id if payer else None, language=language
            )

        if self.points is not None:  # the person before the membership (services.points)
            await self.points.hold(invoice.person_id)
        owner = await self.people.get(invoice.person_id)
        plan = catalog.plan(invoice.plan_id)
        sub = await self.subscriptions.get_or_create(invoice.person_id, now)
        credit = None
        if invoice.paid_at is None and plan is not None:  # a purchase: maybe an upgrade
            held = to_membership(sub)
            credit = upgrade_credit(
                held,
                await as_held(
                    self.kept, invoice.person_id, catalog.plan(sub.plan_id or ""), held, now
                ),
                plan,
                InvoiceKind(invoice.billing),
                now,
                amount=invoice.amount,
            )
        decision = decide_payment(
            Paid(
                kind=InvoiceKind(invoice.billing),
                plan_id=invoice.plan_id,
                payload=paid.payload,
                charge_id=paid.charge_id,
                amount=paid.amount,
                currency=paid.currency,
                offer_id=invoice.offer_id,
                invoice_paid_before=invoice.paid_at is not None,
                membership=to_membership(sub),
                star_charge_id=sub.star_charge_id,
                star_payload=sub.star_payload,
                payer_telegram_id=paid.payer_telegram_id,
                owner_telegram_id=owner.telegram_id if owner is not None else None,
                invoice_amount=invoice.amount,
                invoice_currency=invoice.currency,
                plan_sold=plan is not None,
                charge=Charge.of(
                    is_recurring=paid.is_recurring, is_first_recurring=paid.is_first_recurring
                ),
                canceled=sub.canceled_at is not None,
                late_charge=catalog.late_charge_after_cancel,
            ),
            now,
        )
        verdict = decision.verdict
        # Money paid by someone else is theirs: the row (and the refund) belongs to the payer.
        wrong_payer = verdict is Verdict.REFUNDED_WRONG_PAYER
        person_id = (payer.id if payer else None) if wrong_payer else invoice.person_id
        if not await self._keep(
            paid, invoice, person_id, now, refunded=decision.refund is not None
        ):
            return PaymentResult(PaymentOutcome.DUPLICATE)
        membership = decision.membership
        if verdict.refunded:
            log.warning("payment %s given back: %s", paid.charge_id, verdict.value)
            await self._give_back(paid, decision, invoice, person_id, owner, now)
            credit = None
        else:
            membership = self._with_credit(paid, decision, credit, invoice.plan_id)
            if membership is decision.membership:
                credit = None
            self._apply(paid, decision, sub, invoice, now, membership)
            if self.promos is not None and decision.invoice_now_paid:
                await self.promos.paid(
                    invoice_id=invoice.id,
                    person_id=person_id,
                    plan_id=invoice.plan_id,
                    amount=paid.amount,
                    at=now,
                )
            if self.points is not None and person_id is not None and paid.amount > 0:
                await self.points.on_payment(
                    person_id, InvoiceKind(invoice.billing).period, paid.charge_id
                )
        for kind, data in decision.events:
            self.events.record(kind, now, person_id, **data)
        return PaymentResult(
            PaymentOutcome(verdict.value),
            person_id=person_id,
            plan_id=invoice.plan_id,
            period_end=membership.period_end,
            stop_charge_id=decision.stop_charge_id,
            renews=membership.auto_renew,
            language=language,
            kind=invoice.billing,
            amount=paid.amount,
            urgent=decision.refund is not None,
            credit=credit,
        )

    @staticmethod
    def _with_credit(
        paid: IncomingPayment,
        decision: PaymentDecision,
        credit: UpgradeCredit | None,
        plan_id: str,
    ) -> Membership:
        """An upgrade keeps the value of the lower tier's days left (domain.payments)."""
        membership = decision.membership
        if (
            credit is None
            or credit.bonus_days <= 0
            or decision.renewal
            or membership.plan_id != plan_id
            or membership.period_end is None
        ):
            return membership
        log.info(
            "upgrade %s: %d days left on %s become %d days on %s",
            paid.charge_id,
            credit.days_left,
            credit.from_plan,
            credit.bonus_days,
            plan_id,
        )
        return replace(
            membership, period_end=membership.period_end + timedelta(days=credit.bonus_days)
        )

    async def _keep(
        self,
        paid: IncomingPayment,
        invoice: InvoiceRecord | None,
        person_id: int | None,
        now: datetime,
        *,
        refunded: bool = False,
    ) -> bool:
        """The payment's row, once per charge id: False when it was kept before."""
        return await self.payments.add_once(
            charge_id=paid.charge_id,
            person_id=person_id,
            invoice_id=invoice.id if invoice else None,
            provider_charge_id=paid.provider_charge_id,
            plan_id=invoice.plan_id if invoice else "?",
            billing=invoice.billing if invoice else "?",
            amount=paid.amount,
            currency=paid.currency,
            is_recurring=paid.is_recurring,
            is_first_recurring=paid.is_first_recurring,
            subscription_expires_at=paid.subscription_expires_at,
            now=now,
            refunded=refunded,
        )

    def _apply(
        self,
        paid: IncomingPayment,
        decision: PaymentDecision,
        sub: SubscriptionRecord,
        invoice: InvoiceRecord,
        now: datetime,
        membership: Membership,
    ) -> None:
        if decision.star is StarChange.SET:
            sub.star_charge_id = paid.charge_id
            sub.star_payload = paid.payload
        elif decision.star is StarChange.CLEAR:
            sub.star_charge_id = None
            sub.star_payload = None
        if decision.invoice_now_paid:
            invoice.paid_at = now
        if decision.fresh_purchase:
            sub.cancel_reason = None
            sub.canceled_at = None
            sub.started_at = sub.started_at or now
        apply_membership(sub, membership, now)

    async def _give_back(
        self,
        paid: IncomingPayment,
        decision: PaymentDecision,
        invoice: InvoiceRecord,
        person_id: int | None,
        owner: PersonRecord | None,
        now: datetime,
    ) -> None:
        """Nothing granted: Telegram is asked to refund the charge (once, whoever else decides
        to), and the owners are alerted when no member could have caused it by mistake."""
        assert decision.refund is not None
        reason = decision.refund.value
        await queue_refund(
            self.outbox,
            person_id=person_id,
            telegram_id=paid.payer_telegram_id,
            charge_id=paid.charge_id,
            reason=reason,
            now=now,
        )
        if not decision.alert_staff:
            return
        context: dict[str, object] = {
            "reason": reason,
            "payer_id": paid.payer_telegram_id,
            "owner_id": owner.telegram_id if owner is not None else None,
            "charge_id": paid.charge_id,
            "amount": paid.amount,
            "currency": paid.currency,
            "invoice_amount": invoice.amount,
            "invoice_currency": invoice.currency,
            "plan_id": invoice.plan_id,
        }
        for chat_id in self.staff_chat_ids:
            await self.outbox.enqueue(
                key=f"refund:{paid.charge_id}:staff:{chat_id}"[:200],
                channel="chat",
                person_id=None,
                template=STAFF_REFUND_ALERT,
                context={**context, "chat_id": chat_id},
                marketing=False,
                not_before=now,
                now=now,
            )


class SubscriptionChange(Protocol):
    @property
    def kind(self) -> str:
        """canceled | reactivated | failed | ignored"""
        ...

    @property
    def snap(self) -> Snapshot | None: ...


class SubscriptionChanges(Protocol):
    """The lifecycle side of Telegram's `subscription` updates (cancel, re-enable, failed
    renewal): the same change the bot's own buttons make."""

    async def telegram_update(
        self, telegram_id: int, payload: str, state: str
    ) -> SubscriptionChange: ...


@dataclass(frozen=True, slots=True)
class SubscriptionUpdated:
    change: SubscriptionChange
    # A failed renewal: a fresh subscription invoice to pay with, committed.
    pay_again: IssuedInvoice | None = None


class TelegramSubscriptionUpdate:
    def __init__(
        self,
        changes: SubscriptionChanges,
        mark_blocked: Callable[[int], Awaitable[None]],
        invoicing: Invoicing,
        catalog: CatalogSource,
    ) -> None:
        self.changes = changes
        self._mark_blocked = mark_blocked
        self.invoicing = invoicing
        self.catalog = catalog

    async def __call__(self, telegram_id: int, payload: str, state: str) -> SubscriptionUpdated:
        change = await self.changes.telegram_update(telegram_id, payload, state)
        snap = change.snap
        if change.kind != "failed" or snap is None:
            return SubscriptionUpdated(change)
        plan = self.catalog().plan(snap.membership.plan_id or "")
        if plan is None:
            return SubscriptionUpdated(change)
        issued = await self.invoicing.issue(snap.person_id, plan, InvoiceKind.SUBSCRIPTION)
        return SubscriptionUpdated(change, issued)

    async def blocked(self, telegram_id: int) -> None:
        """Telling them failed with 403: they blocked the bot."""
        await self._mark_blocked(telegram_id)
