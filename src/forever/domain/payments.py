"""Invoices and Stars payments as pure rules: what an invoice sells, its signed payload, and
whether a pre-checkout query may go ahead.

The payload only names an invoice row (`<id>` signed with HMAC); everything else (payer,
plan, amount) is kept in the database, so the payload stays far below Telegram's 128 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from forever.domain import lifecycle
from forever.domain.catalog import LateCharge, Offer, OfferKind, Plan
from forever.domain.events import EventKind
from forever.domain.lifecycle import Billing, Membership, State
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


# What a successful payment does to the membership ---------------------------------------

PAID_STATES = frozenset({State.ACTIVE, State.CANCEL_SCHEDULED, State.PAST_DUE})


class Charge(StrEnum):
    """The kind of charge Telegram says it was (successful_payment's flags)."""

    FIRST = "first"  # is_recurring and is_first_recurring: a Stars subscription's first
    RECURRING = "recurring"  # is_recurring alone: a later period of a Stars subscription
    ONE_OFF = "one_off"  # neither: a one-off invoice

    @classmethod
    def of(cls, *, is_recurring: bool, is_first_recurring: bool) -> Charge:
        if not is_recurring:
            return cls.ONE_OFF
        return cls.FIRST if is_first_recurring else cls.RECURRING


class Verdict(StrEnum):
    """What a recorded payment comes to. Every refund is given back in full, grants nothing
    and is said to the payer in chat; the ones no member could cause alert staff too."""

    ACTIVATED = "activated"  # a new purchase (first, again, or a plan change)
    RENEWED = "renewed"  # a recurring charge of the Stars subscription in force
    # A renewal charged after the member cancelled (a race with Telegram): refunded, the
    # cancel stands; or, if the catalog says so, kept: the paid period added, still cancelled.
    REFUNDED_AFTER_CANCEL = "refunded_after_cancel"
    KEPT_AFTER_CANCEL = "kept_after_cancel"
    # A renewal of a Stars subscription no longer in force (replaced by a plan change, a
    # yearly plan, or stopped by a pause): refunded, nothing switches back.
    REFUNDED_REPLACED = "refunded_replaced"
    REFUNDED_WRONG_PAYER = "refunded_wrong_payer"  # paid by someone the invoice is not for
    REFUNDED_MISMATCH = "refunded_mismatch"  # amount, currency, plan or kind of charge differ

    @property
    def refunded(self) -> bool:
        return self.value.startswith("refunded_")


class RefundReason(StrEnum):
    """Kept with the refund (the REFUNDED event, the outbox row staff see)."""

    LATE_CHARGE_AFTER_CANCEL = "late_charge_after_cancel"
    REPLACED_SUBSCRIPTION = "replaced_subscription"
    WRONG_PAYER = "wrong_payer"
    WRONG_AMOUNT = "wrong_amount"  # the amount or the currency
    WRONG_PLAN = "wrong_plan"  # a plan no longer sold, or the wrong kind of charge for it


@dataclass(frozen=True, slots=True)
class Paid:
    """A successful payment for one of our invoices, with the membership it lands on.

    The fields after `star_payload` are what the payment is checked against; their defaults
    describe a payment that matches its invoice exactly."""

    kind: InvoiceKind
    plan_id: str
    payload: str
    charge_id: str
    amount: int
    currency: str
    offer_id: str | None
    invoice_paid_before: bool  # a Stars subscription invoice charged again: a renewal
    membership: Membership
    star_charge_id: str | None  # the Stars subscription the membership runs on, if any
    star_payload: str | None
    payer_telegram_id: int | None = None  # who paid
    owner_telegram_id: int | None = None  # whom the invoice was made for
    invoice_amount: int | None = None  # what the invoice asked for (None: `amount`)
    invoice_currency: str = CURRENCY
    plan_sold: bool = True  # the invoice's plan is still in the catalog
    charge: Charge | None = None  # None: the flags were not told
    canceled: bool = False  # the member cancelled (and has not undone it since)
    late_charge: LateCharge = LateCharge.REFUND  # the catalog's choice


class StarChange(StrEnum):
    KEEP = "keep"  # as it was
    SET = "set"  # this payment's charge id and payload
    CLEAR = "clear"  # none any more


@dataclass(frozen=True, slots=True)
class PaymentDecision:
    renewal: bool
    membership: Membership
    # The Stars subscription the membership runs on afterwards.
    star: StarChange
    # An older Stars subscription still renewing after a plan change: stop it.
    stop_charge_id: str | None
    invoice_now_paid: bool  # mark the invoice paid
    fresh_purchase: bool  # clears a cancel reason; sets started_at when missing
    events: tuple[tuple[str, dict[str, object]], ...]
    verdict: Verdict = Verdict.ACTIVATED
    # Give the payment back (refundStarPayment), with this reason; None: keep the money.
    refund: RefundReason | None = None
    alert_staff: bool = False  # tell the owners in chat (no member can cause it by mistake)


def _refusal(paid: Paid) -> tuple[Verdict, RefundReason] | None:
    """A payment that must not grant anything, whatever the membership: paid by someone
    else, or not what the invoice asked for."""
    if paid.payer_telegram_id != paid.owner_telegram_id:
        return Verdict.REFUNDED_WRONG_PAYER, RefundReason.WRONG_PAYER
    expected = paid.amount if paid.invoice_amount is None else paid.invoice_amount
    if paid.currency != paid.invoice_currency or paid.amount != expected:
        return Verdict.REFUNDED_MISMATCH, RefundReason.WRONG_AMOUNT
    one_off_charged_as_subscription = not paid.kind.renews and paid.charge not in (
        None,
        Charge.ONE_OFF,
    )
    if not paid.plan_sold or one_off_charged_as_subscription:
        return Verdict.REFUNDED_MISMATCH, RefundReason.WRONG_PLAN
    return None


def _payment_event(paid: Paid, renewal: bool) -> tuple[str, dict[str, object]]:
    return (
        EventKind.PAYMENT,
        {
            "plan": paid.plan_id,
            "billing": paid.kind.value,
            "amount": paid.amount,
            "currency": paid.currency,
            "recurring": renewal,
            "charge_id": paid.charge_id,
            "offer": paid.offer_id,
        },
    )


def _given_back(
    paid: Paid, renewal: bool, verdict: Verdict, reason: RefundReason
) -> PaymentDecision:
    """The money is recorded and given back in full; the membership stays as it is."""
    refunded = (
        EventKind.REFUNDED,
        {
            "charge_id": paid.charge_id,
            "amount": paid.amount,
            "currency": paid.currency,
            "plan": paid.plan_id,
            "reason": reason.value,
            "by": None,
        },
    )
    return PaymentDecision(
        renewal=renewal,
        membership=paid.membership,
        star=StarChange.KEEP,
        stop_charge_id=None,
        invoice_now_paid=False,
        fresh_purchase=False,
        events=(_payment_event(paid, renewal), refunded),
        verdict=verdict,
        refund=reason,
        alert_staff=verdict in (Verdict.REFUNDED_WRONG_PAYER, Verdict.REFUNDED_MISMATCH),
    )


def after_cancel(m: Membership, canceled: bool) -> bool:
    """The member cancelled: the cancel is pending, or it ended their access."""
    return m.state is State.CANCEL_SCHEDULED or (m.state is State.EXPIRED and canceled)


def decide_payment(paid: Paid, now: datetime) -> PaymentDecision:
    """What a recorded payment does: renew, buy a fresh period, change plan; or give it back
    (refund) when it was paid by someone else, does not match its invoice, renews a Stars
    subscription no longer in force, or renews one the member cancelled (unless the catalog
    keeps such a charge: then the paid period is added and the membership stays cancelled).
    The payer is told in each case; see `Verdict`."""
    m = paid.membership
    kind = paid.kind
    events: list[tuple[str, dict[str, object]]] = []
    renewal = paid.invoice_paid_before and kind.renews
    refused = _refusal(paid)
    if refused is not None:
        return _given_back(paid, renewal, *refused)
    verdict = Verdict.RENEWED if renewal else Verdict.ACTIVATED
    if renewal:
        if paid.star_payload != paid.payload:
            # A late charge of a subscription already replaced (a plan change, a yearly plan,
            # a pause): given back; the current membership is not switched back.
            return _given_back(
                paid, renewal, Verdict.REFUNDED_REPLACED, RefundReason.REPLACED_SUBSCRIPTION
            )
        if after_cancel(m, paid.canceled):
            if paid.late_charge is not LateCharge.KEEP:
                return _given_back(
                    paid,
                    renewal,
                    Verdict.REFUNDED_AFTER_CANCEL,
                    RefundReason.LATE_CHARGE_AFTER_CANCEL,
                )
            # Kept: the paid period is added, and the membership stays cancelled.
            new = lifecycle.extend_canceled(m, now=now, period=kind.period)
            verdict = Verdict.KEPT_AFTER_CANCEL
        elif m.state in lifecycle.ALLOWED[lifecycle.Action.RENEW] and m.plan_id == paid.plan_id:
            new = lifecycle.renew(m, now=now, period=kind.period)
        else:  # the renewal came after a lapse: it buys a fresh period
            new = lifecycle.pay(
                m,
                plan_id=paid.plan_id,
                billing=kind.billing,
                now=now,
                period=kind.period,
                auto_renew=True,
            )
        if verdict is Verdict.RENEWED:
            events.append((EventKind.RENEWED, {"plan": paid.plan_id, "billing": "monthly"}))
        star = StarChange.KEEP
        stop_charge_id = None
    else:
        # An older Stars subscription that could still charge (renewing, or retrying after a
        # failed renewal) must stop, unless this is a one-off month on top of it.
        old_may_charge = (
            bool(paid.star_charge_id)
            and m.billing is Billing.MONTHLY
            and (m.auto_renew or m.state is State.PAST_DUE)
        )
        top_up = kind is InvoiceKind.ONE_MONTH and m.plan_id == paid.plan_id and m.auto_renew
        stop_charge_id = paid.star_charge_id if old_may_charge and not top_up else None
        new = lifecycle.pay(
            m,
            plan_id=paid.plan_id,
            billing=kind.billing,
            now=now,
            period=kind.period,
            auto_renew=kind.renews or top_up,
        )
        if kind.renews:
            star = StarChange.SET
        elif not top_up:
            star = StarChange.CLEAR
        else:
            star = StarChange.KEEP
        had_paid_access = m.state in PAID_STATES and m.billing in (Billing.MONTHLY, Billing.YEARLY)
        if had_paid_access and m.plan_id != paid.plan_id:
            events.append(
                (
                    EventKind.PLAN_CHANGED,
                    {
                        "from_plan": m.plan_id,
                        "to_plan": paid.plan_id,
                        # when the old plan's paid period would have ended: a downgrade keeps
                        # the old plan's chats until then (membership access)
                        "from_period_end": m.period_end.isoformat() if m.period_end else None,
                    },
                )
            )
        if not had_paid_access:
            events.append(
                (EventKind.ACTIVATED, {"plan": paid.plan_id, "billing": kind.billing.value})
            )
        if paid.offer_id and m.state is State.EXPIRED:
            events.append(
                (
                    EventKind.WINBACK_RECOVERED,
                    {
                        "plan": paid.plan_id,
                        "days_since_end": (now - m.period_end).days if m.period_end else None,
                        "offer": paid.offer_id,
                    },
                )
            )
    events.append(_payment_event(paid, renewal))
    return PaymentDecision(
        renewal=renewal,
        membership=new,
        star=star,
        stop_charge_id=stop_charge_id,
        invoice_now_paid=not renewal,
        fresh_purchase=not renewal,
        events=tuple(events),
        verdict=verdict,
    )


# What an upgrade does with the days left on the lower tier -------------------------------

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class UpgradeCredit:
    """The unused, paid days of the lower tier, turned into days of the new one.

    `stars` is what those days are worth at the price per day paid for them (rounded down);
    `bonus_days` is how many days of the new plan that buys at its price per day (rounded
    down), added to the new period's end."""

    from_plan: str
    days_left: int
    stars: int
    bonus_days: int


def upgrade_credit(
    m: Membership,
    current: Plan | None,
    new: Plan,
    kind: InvoiceKind,
    now: datetime,
    *,
    amount: int | None = None,
) -> UpgradeCredit | None:
    """The credit a paid member gets for moving to a higher tier mid-period, or None when the
    purchase is no upgrade (no paid time left, a trial, the same or a lower tier).

    The lower tier's price per day is its catalog price for the billing held (a month is 30
    days, a year 365); the new one's is `amount` (what the invoice charges; by default the
    catalog price of `kind`) over `kind`'s period. Whole days only: a part of a day left is
    not counted, and the credit buys whole days."""
    if current is None or new.tier <= current.tier:
        return None
    if m.state not in (State.ACTIVE, State.CANCEL_SCHEDULED, State.PAST_DUE):
        return None
    if m.billing not in (Billing.MONTHLY, Billing.YEARLY) or m.period_end is None:
        return None
    days_left = (m.period_end - now) // ONE_DAY
    if days_left <= 0:
        return None
    held = InvoiceKind.YEARLY if m.billing is Billing.YEARLY else InvoiceKind.SUBSCRIPTION
    stars = days_left * price(current, held) // held.period.days
    new_amount = price(new, kind) if amount is None else amount
    bonus = stars * kind.period.days // new_amount if new_amount > 0 else 0
    return UpgradeCredit(current.id, days_left, stars, bonus)
