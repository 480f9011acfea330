# ruff: noqa: E501  (a decision table reads best one row a line)
"""The payment decision as a table: who paid, whose invoice, how much, in what currency, the
membership's state, the kind of charge, and whether it renews the Stars subscription in force
-> what it comes to. Every branch of `decide_payment`, without HTTP or a database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from forever.domain.catalog import LateCharge
from forever.domain.events import EventKind
from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.payments import (
    SUBSCRIPTION_PERIOD,
    Charge,
    InvoiceKind,
    Paid,
    RefundReason,
    StarChange,
    Verdict,
    decide_payment,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
END = NOW + timedelta(days=5)  # the paid period in force ends in 5 days
OWNER, OTHER = 500, 501
CURRENT, OLD = "payload-current", "payload-old"
M, Y, ONE = InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY, InvoiceKind.ONE_MONTH
F, R, X = Charge.FIRST, Charge.RECURRING, Charge.ONE_OFF


@dataclass(frozen=True)
class Row:
    payer: int
    amount: int
    currency: str
    state: State
    invoice: InvoiceKind
    charge: Charge
    payload: str  # CURRENT: the Stars subscription in force; OLD: one replaced or stopped
    paid_before: bool  # the invoice was paid before: a renewal when it is a subscription
    canceled: bool = False
    plan_sold: bool = True
    late: LateCharge = LateCharge.REFUND


def paid(row: Row) -> Paid:
    membership = Membership(
        state=row.state,
        plan_id="basic",
        billing=Billing.MONTHLY if row.state is not State.NONE else None,
        period_end=END if row.state is not State.EXPIRED else NOW - timedelta(days=2),
        auto_renew=row.state is State.ACTIVE,
    )
    if row.state is State.NONE:
        membership = Membership()
    return Paid(
        kind=row.invoice,
        plan_id="basic",
        payload=row.payload,
        charge_id="ch-9",
        amount=row.amount,
        currency=row.currency,
        offer_id=None,
        invoice_paid_before=row.paid_before,
        membership=membership,
        star_charge_id="ch-1" if row.state is not State.NONE else None,
        star_payload=CURRENT if row.state is not State.NONE else None,
        payer_telegram_id=row.payer,
        owner_telegram_id=OWNER,
        invoice_amount=150,
        invoice_currency="XTR",
        plan_sold=row.plan_sold,
        charge=row.charge,
        canceled=row.canceled,
        late_charge=row.late,
    )


A, C, E, P = State.ACTIVE, State.CANCEL_SCHEDULED, State.EXPIRED, State.PAST_DUE
OK = 150

TABLE: list[tuple[str, Row, Verdict, RefundReason | None, bool]] = [
    # name, row, verdict, refund reason, staff alerted
    ("first monthly", Row(OWNER, OK, "XTR", State.NONE, M, F, CURRENT, False), Verdict.ACTIVATED, None, False),
    ("yearly", Row(OWNER, OK, "XTR", A, Y, X, OLD, False), Verdict.ACTIVATED, None, False),
    ("one-off month", Row(OWNER, OK, "XTR", A, ONE, X, OLD, False), Verdict.ACTIVATED, None, False),
    ("renewal", Row(OWNER, OK, "XTR", A, M, R, CURRENT, True), Verdict.RENEWED, None, False),
    ("renewal past due", Row(OWNER, OK, "XTR", P, M, R, CURRENT, True), Verdict.RENEWED, None, False),
    ("renewal after a lapse", Row(OWNER, OK, "XTR", E, M, R, CURRENT, True), Verdict.RENEWED, None, False),
    ("renewal after cancel", Row(OWNER, OK, "XTR", C, M, R, CURRENT, True, canceled=True), Verdict.REFUNDED_AFTER_CANCEL, RefundReason.LATE_CHARGE_AFTER_CANCEL, False),
    ("renewal after cancel ended access", Row(OWNER, OK, "XTR", E, M, R, CURRENT, True, canceled=True), Verdict.REFUNDED_AFTER_CANCEL, RefundReason.LATE_CHARGE_AFTER_CANCEL, False),
    ("renewal after cancel, kept", Row(OWNER, OK, "XTR", C, M, R, CURRENT, True, canceled=True, late=LateCharge.KEEP), Verdict.KEPT_AFTER_CANCEL, None, False),
    ("renewal of a replaced subscription", Row(OWNER, OK, "XTR", A, M, R, OLD, True), Verdict.REFUNDED_REPLACED, RefundReason.REPLACED_SUBSCRIPTION, False),
    ("replaced, after cancel too", Row(OWNER, OK, "XTR", C, M, R, OLD, True, canceled=True), Verdict.REFUNDED_REPLACED, RefundReason.REPLACED_SUBSCRIPTION, False),
    ("someone else pays a first charge", Row(OTHER, OK, "XTR", State.NONE, M, F, CURRENT, False), Verdict.REFUNDED_WRONG_PAYER, RefundReason.WRONG_PAYER, True),
    ("someone else, a renewal", Row(OTHER, OK, "XTR", A, M, R, CURRENT, True), Verdict.REFUNDED_WRONG_PAYER, RefundReason.WRONG_PAYER, True),
    ("someone else, yearly", Row(OTHER, OK, "XTR", A, Y, X, OLD, False), Verdict.REFUNDED_WRONG_PAYER, RefundReason.WRONG_PAYER, True),
    ("too little", Row(OWNER, 1, "XTR", A, Y, X, OLD, False), Verdict.REFUNDED_MISMATCH, RefundReason.WRONG_AMOUNT, True),
    ("too much on a renewal", Row(OWNER, 999, "XTR", A, M, R, CURRENT, True), Verdict.REFUNDED_MISMATCH, RefundReason.WRONG_AMOUNT, True),
    ("wrong amount after cancel", Row(OWNER, 1, "XTR", C, M, R, CURRENT, True, canceled=True), Verdict.REFUNDED_MISMATCH, RefundReason.WRONG_AMOUNT, True),
    ("another currency", Row(OWNER, OK, "EUR", State.NONE, M, F, CURRENT, False), Verdict.REFUNDED_MISMATCH, RefundReason.WRONG_AMOUNT, True),
    ("a plan no longer sold", Row(OWNER, OK, "XTR", A, M, R, CURRENT, True, plan_sold=False), Verdict.REFUNDED_MISMATCH, RefundReason.WRONG_PLAN, True),
    ("a one-off invoice charged as a subscription", Row(OWNER, OK, "XTR", A, Y, R, OLD, False), Verdict.REFUNDED_MISMATCH, RefundReason.WRONG_PLAN, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("row", "verdict", "reason", "alert"),
    [pytest.param(*rest, id=name) for name, *rest in TABLE],
)
def test_the_payment_decision_table(
    row: Row, verdict: Verdict, reason: RefundReason | None, alert: bool
) -> None:
    before = paid(row)
    decision = decide_payment(before, NOW)
    assert decision.verdict is verdict
    assert decision.refund is reason
    assert decision.alert_staff is alert
    kinds = [kind for kind, _ in decision.events]
    assert kinds.count(EventKind.PAYMENT) == 1  # the money is always on record
    if verdict.refunded:
        # Given back: nothing granted, nothing switched, the refund on record.
        assert decision.membership == before.membership
        assert decision.star is StarChange.KEEP and decision.stop_charge_id is None
        assert not decision.invoice_now_paid and not decision.fresh_purchase
        assert EventKind.REFUNDED in kinds and EventKind.RENEWED not in kinds
        refunded = dict(decision.events)[EventKind.REFUNDED]
        assert refunded["reason"] == reason and refunded["amount"] == row.amount
    else:
        assert EventKind.REFUNDED not in kinds
        assert decision.membership.state is State.ACTIVE or verdict is Verdict.KEPT_AFTER_CANCEL


def test_a_kept_late_charge_adds_the_period_and_stays_cancelled() -> None:
    row = Row(OWNER, OK, "XTR", C, M, R, CURRENT, True, canceled=True, late=LateCharge.KEEP)
    decision = decide_payment(paid(row), NOW)
    m = decision.membership
    assert m.state is State.CANCEL_SCHEDULED and not m.auto_renew
    assert m.period_end == END + SUBSCRIPTION_PERIOD
    assert EventKind.RENEWED not in [kind for kind, _ in decision.events]
    # After access ended, the paid period counts from now.
    ended = Row(OWNER, OK, "XTR", E, M, R, CURRENT, True, canceled=True, late=LateCharge.KEEP)
    m = decide_payment(paid(ended), NOW).membership
    assert m.state is State.CANCEL_SCHEDULED and m.period_end == NOW + SUBSCRIPTION_PERIOD


def test_a_renewal_in_force_still_renews() -> None:
    decision = decide_payment(paid(Row(OWNER, OK, "XTR", A, M, R, CURRENT, True)), NOW)
    assert decision.membership.auto_renew
    assert decision.membership.period_end == END + SUBSCRIPTION_PERIOD
