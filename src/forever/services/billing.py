"""Stars payments: issuing invoices (subscription links and one-off invoices), answering
pre-checkout queries, and recording successful payments exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from forever.db.models import Invoice, Payment, Person
from forever.db.repositories.lifecycle_compat import subscription_for
from forever.domain import lifecycle
from forever.domain.catalog import Offer, Plan
from forever.domain.events import EventKind
from forever.domain.lifecycle import Billing, State
from forever.domain.payments import (
    CURRENCY,
    INVOICE_LIFETIME,
    InvoiceFacts,
    InvoiceKind,
    Refusal,
    check_pre_checkout,
    make_payload,
    price,
    read_payload,
)
from forever.services.events import record_event
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import ChatPort

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forever.app import Container

log = logging.getLogger(__name__)

PAID_STATES = frozenset({State.ACTIVE, State.CANCEL_SCHEDULED, State.PAST_DUE})


@dataclass(frozen=True, slots=True)
class IssuedInvoice:
    invoice_id: int
    payload: str
    amount: int
    kind: InvoiceKind


async def issue_invoice(
    container: Container,
    person_id: int,
    plan: Plan,
    kind: InvoiceKind,
    offer: Offer | None = None,
) -> IssuedInvoice:
    """Store the invoice (so its payload can name it) and commit before Telegram sees it."""
    now = container.clock.now()
    amount = price(plan, kind, offer)
    async with container.sessions.begin() as session:
        invoice = Invoice(
            person_id=person_id,
            plan_id=plan.id,
            billing=kind.value,
            amount=amount,
            currency=CURRENCY,
            offer_id=offer.id if offer else None,
            created_at=now,
            expires_at=now + INVOICE_LIFETIME,
        )
        session.add(invoice)
        await session.flush()
        invoice_id = invoice.id
    return IssuedInvoice(invoice_id, make_payload(container.signer, invoice_id), amount, kind)


async def subscription_link(
    container: Container,
    chat: ChatPort,
    person_id: int,
    plan: Plan,
    *,
    title: str,
    description: str,
    offer: Offer | None = None,
) -> str:
    issued = await issue_invoice(container, person_id, plan, InvoiceKind.SUBSCRIPTION, offer)
    return await chat.create_invoice_link(
        title=title,
        description=description,
        payload=issued.payload,
        amount=issued.amount,
        subscription=True,
    )


async def send_one_off_invoice(
    container: Container,
    chat: ChatPort,
    chat_id: int,
    person_id: int,
    plan: Plan,
    kind: InvoiceKind,
    *,
    title: str,
    description: str,
    offer: Offer | None = None,
) -> bool:
    issued = await issue_invoice(container, person_id, plan, kind, offer)
    sent = await chat.send_invoice(
        chat_id, title=title, description=description, payload=issued.payload, amount=issued.amount
    )
    return sent.ok


async def pre_checkout(
    container: Container, *, payer_telegram_id: int, currency: str, amount: int, payload: str
) -> Refusal | None:
    """Read-only and quick: Telegram waits at most 10 seconds for the answer."""
    now = container.clock.now()
    invoice_id = read_payload(container.signer, payload)
    async with container.sessions() as session:
        facts = await _invoice_facts(container, session, invoice_id) if invoice_id else None
    return check_pre_checkout(
        facts, payer_telegram_id=payer_telegram_id, currency=currency, amount=amount, now=now
    )


async def _invoice_facts(
    container: Container, session: AsyncSession, invoice_id: int
) -> InvoiceFacts | None:
    invoice = await session.get(Invoice, invoice_id)
    if invoice is None:
        return None
    payer = await session.scalar(select(Person.telegram_id).where(Person.id == invoice.person_id))
    return InvoiceFacts(
        payer_telegram_id=payer,
        plan_exists=container.catalog.plan(invoice.plan_id) is not None,
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


@dataclass(frozen=True, slots=True)
class PaymentResult:
    outcome: PaymentOutcome
    person_id: int | None = None
    plan_id: str | None = None
    period_end: datetime | None = None
    # An older Stars subscription still renewing after a plan change: stop it.
    stop_charge_id: str | None = None


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


async def record_payment(container: Container, paid: IncomingPayment) -> PaymentResult:
    """Record a successful payment once (the charge id is unique) and grant what it bought."""
    try:
        async with container.sessions.begin() as session:
            return await _record(container, session, paid)
    except IntegrityError:
        # The same charge recorded by a concurrent delivery.
        return PaymentResult(PaymentOutcome.DUPLICATE)


async def _record(
    container: Container, session: AsyncSession, paid: IncomingPayment
) -> PaymentResult:
    now = container.clock.now()
    seen = await session.scalar(
        select(Payment.id).where(Payment.telegram_charge_id == paid.charge_id)
    )
    if seen is not None:
        return PaymentResult(PaymentOutcome.DUPLICATE)
    invoice_id = read_payload(container.signer, paid.payload)
    invoice = await session.get(Invoice, invoice_id) if invoice_id else None
    plan = container.catalog.plan(invoice.plan_id) if invoice else None
    payer = await session.scalar(select(Person).where(Person.telegram_id == paid.payer_telegram_id))
    payment = Payment(
        person_id=invoice.person_id if invoice else (payer.id if payer else None),
        invoice_id=invoice.id if invoice else None,
        telegram_charge_id=paid.charge_id,
        provider_charge_id=paid.provider_charge_id,
        plan_id=invoice.plan_id if invoice else "?",
        billing=invoice.billing if invoice else "?",
        amount=paid.amount,
        currency=paid.currency,
        is_recurring=paid.is_recurring,
        is_first_recurring=paid.is_first_recurring,
        subscription_expires_at=paid.subscription_expires_at,
        created_at=now,
    )
    session.add(payment)
    await session.flush()  # the unique charge id guards against a concurrent twin here
    if invoice is None or plan is None:
        log.warning("payment %s names no known invoice or plan; kept for staff", paid.charge_id)
        return PaymentResult(PaymentOutcome.UNKNOWN, person_id=payment.person_id)

    kind = InvoiceKind(invoice.billing)
    sub = await subscription_for(session, invoice.person_id, now)
    m = to_membership(sub)
    renewal = invoice.paid_at is not None and kind.renews
    stop_charge_id = None
    if renewal:
        if sub.star_payload != paid.payload:
            # A late charge of a subscription we already replaced (a plan change): the money
            # is recorded for staff; the current membership is not switched back.
            log.warning("renewal %s of a replaced subscription; recorded only", paid.charge_id)
            new = m
        elif m.state in lifecycle.ALLOWED[lifecycle.Action.RENEW] and m.plan_id == plan.id:
            new = lifecycle.renew(m, now=now, period=kind.period)
        else:  # the renewal came after a lapse: it buys a fresh period
            new = lifecycle.pay(
                m,
                plan_id=plan.id,
                billing=kind.billing,
                now=now,
                period=kind.period,
                auto_renew=True,
            )
        record_event(
            session, EventKind.RENEWED, now, invoice.person_id, plan=plan.id, billing="monthly"
        )
    else:
        # An older Stars subscription that could still charge (renewing, or retrying after a
        # failed renewal) must stop, unless this is a one-off month on top of it.
        old_may_charge = (
            bool(sub.star_charge_id)
            and m.billing is Billing.MONTHLY
            and (sub.auto_renew or m.state is State.PAST_DUE)
        )
        top_up = kind is InvoiceKind.ONE_MONTH and m.plan_id == plan.id and sub.auto_renew
        if old_may_charge and not top_up:
            stop_charge_id = sub.star_charge_id
        new = lifecycle.pay(
            m,
            plan_id=plan.id,
            billing=kind.billing,
            now=now,
            period=kind.period,
            auto_renew=kind.renews or top_up,
        )
        if kind.renews:
            sub.star_charge_id = paid.charge_id
            sub.star_payload = paid.payload
        elif not top_up:
            sub.star_charge_id = None
            sub.star_payload = None
        invoice.paid_at = now
        had_paid_access = m.state in PAID_STATES and m.billing in (Billing.MONTHLY, Billing.YEARLY)
        if had_paid_access and m.plan_id != plan.id:
            record_event(
                session,
                EventKind.PLAN_CHANGED,
                now,
                invoice.person_id,
                from_plan=m.plan_id,
                to_plan=plan.id,
            )
        if not had_paid_access:
            record_event(
                session,
                EventKind.ACTIVATED,
                now,
                invoice.person_id,
                plan=plan.id,
                billing=kind.billing.value,
            )
        if invoice.offer_id and m.state is State.EXPIRED:
            record_event(
                session,
                EventKind.WINBACK_RECOVERED,
                now,
                invoice.person_id,
                plan=plan.id,
                days_since_end=(now - m.period_end).days if m.period_end else None,
                offer=invoice.offer_id,
            )
        sub.cancel_reason = None
        sub.canceled_at = None
        sub.started_at = sub.started_at or now
    apply_membership(sub, new, now)
    record_event(
        session,
        EventKind.PAYMENT,
        now,
        invoice.person_id,
        plan=plan.id,
        billing=kind.value,
        amount=paid.amount,
        currency=paid.currency,
        recurring=renewal,
        charge_id=paid.charge_id,
        offer=invoice.offer_id,
    )
    return PaymentResult(
        PaymentOutcome.RENEWED if renewal else PaymentOutcome.ACTIVATED,
        person_id=invoice.person_id,
        plan_id=plan.id,
        period_end=new.period_end,
        stop_charge_id=stop_charge_id,
    )
