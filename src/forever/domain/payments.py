"""Invoices and Stars payments as pure rules: what an invoice sells, its signed payload, and
whether a pre-checkout query may go ahead.

The payload only names an invoice row (`<id>` signed with HMAC); everything else (payer,
plan, amount) is kept in the database, so the payload stays far below Telegram's 128 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from forever.domain.catalog import Offer, OfferKind, Plan
from forever.domain.lifecycle import Billing
from forever.domain.signing import BadToken, Signer

CURRENCY = "XTR"
SUBSCRIPTION_PERIOD = timedelta(seconds=2592000)  # Telegram Stars subscriptions: 30 days
YEAR = timedelta(days=365)
PAYLOAD_PURPOSE = "invoice"
MAX_PAYLOAD_BYTES = 128
INVOICE_LIFETIME = timedelta(hours=24)  # a link or invoice older than this is stale


class InvoiceKind(StrEnum):
    """What an invoice sells (stored in `invoices.billing`)."""

    SUBSCRIPTION = "monthly"  # a Stars subscription link: renews every 30 days
    YEARLY = "yearly"  # a one-off payment for a year
    ONE_MONTH = "one_month"  # a one-off month (a discount offer), no renewal

    @property
    def billing(self) -> Billing:
        return Billing.YEARLY if self is InvoiceKind.YEARLY else Billing.MONTHLY

    @property
    def period(self) -> timedelta:
        return YEAR if self is InvoiceKind.YEARLY else SUBSCRIPTION_PERIOD

    @property
    def renews(self) -> bool:
        return self is InvoiceKind.SUBSCRIPTION


def price(plan: Plan, kind: InvoiceKind, offer: Offer | None = None) -> int:
    """Stars to charge; a discount offer lowers a one-off month (never below 1 star)."""
    base = plan.yearly_stars if kind is InvoiceKind.YEARLY else plan.monthly_stars
    if offer is not None and offer.kind is OfferKind.DISCOUNT:
        return max(1, base * (100 - offer.percent) // 100)
    return base


def make_payload(signer: Signer, invoice_id: int) -> str:
    payload = signer.sign(PAYLOAD_PURPOSE, str(invoice_id))
    assert len(payload.encode("ascii")) <= MAX_PAYLOAD_BYTES
    return payload


def read_payload(signer: Signer, payload: str) -> int | None:
    """The invoice id in a payload we signed, or None for anything else (tampered, foreign)."""
    if not payload or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        body = signer.verify(PAYLOAD_PURPOSE, payload)
    except BadToken:
        return None
    return int(body) if body.isdigit() else None


class Refusal(StrEnum):
    """Why a pre-checkout query is refused; each has its own message for the payer."""

    UNKNOWN = "unknown"  # not our payload, altered, or no such invoice
    WRONG_PAYER = "wrong_payer"
    WRONG_AMOUNT = "wrong_amount"
    STALE = "stale"
    PAID = "paid"
    PLAN_GONE = "plan_gone"


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """What we issued, as stored."""

    payer_telegram_id: int | None
    plan_exists: bool
    amount: int
    currency: str
    expires_at: datetime
    paid: bool


def check_pre_checkout(
    invoice: InvoiceFacts | None,
    *,
    payer_telegram_id: int,
    currency: str,
    amount: int,
    now: datetime,
) -> Refusal | None:
    """None when the payment may go ahead, else the first reason to refuse it."""
    if invoice is None:
        return Refusal.UNKNOWN
    if invoice.payer_telegram_id != payer_telegram_id:
        return Refusal.WRONG_PAYER
    if currency != invoice.currency or amount != invoice.amount:
        return Refusal.WRONG_AMOUNT
    if invoice.paid:
        return Refusal.PAID
    if not invoice.plan_exists:
        return Refusal.PLAN_GONE
    if invoice.expires_at <= now:
        return Refusal.STALE
    return None
