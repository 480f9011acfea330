"""What a refund does to the access the refunded payment bought (pure).

The period the payment paid for (30 days for a month, 365 for a year) is taken off the end of
the membership's paid time. If nothing is left, access ends now. A paused membership loses the
time from the paid time it keeps for the resume. A trial, a staff grant or a membership that
has already ended keeps what it is: that access was not bought by the payment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.payments import InvoiceKind

# Memberships whose paid time a refund can shorten.
SHORTENED = frozenset({State.ACTIVE, State.CANCEL_SCHEDULED, State.PAST_DUE})


@dataclass(frozen=True, slots=True)
class RefundEffect:
    membership: Membership
    ended: bool  # access ended now (an ACCESS_ENDED event is due)
    shortened: bool  # the paid time was shortened (and access goes on)
    stop_renewals: bool  # the Stars subscription must not renew again


def paid_period(billing: str) -> timedelta:
    """What one payment of `billing` (payments.billing: monthly, yearly, one_month) bought."""
    try:
        return InvoiceKind(billing).period
    except ValueError:
        return timedelta(0)


def after_refund(
    m: Membership, *, billing: str, plan_id: str, recurring_subscription: bool, now: datetime
) -> RefundEffect:
    """`m` after refunding a payment of `billing` for `plan_id`.

    `recurring_subscription` says the payment belongs to the Stars subscription the membership
    still renews on: that subscription is stopped (no new charge after a refund)."""
    period = paid_period(billing)
    paid = m.billing in (Billing.MONTHLY, Billing.YEARLY)
    stop = recurring_subscription and m.auto_renew
    if m.state is State.PAUSED and paid and m.plan_id == plan_id:
        credit = max((m.paused_credit or timedelta(0)) - period, timedelta(0))
        return RefundEffect(replace(m, paused_credit=credit), False, True, stop)
    if m.state not in SHORTENED or not paid or m.period_end is None or period <= timedelta(0):
        if stop:
            return RefundEffect(_stop(m), False, False, True)
        return RefundEffect(m, False, False, False)
    end = m.period_end - period
    if end <= now:
        ended = replace(m, state=State.EXPIRED, period_end=now, auto_renew=False)
        return RefundEffect(ended, True, False, bool(m.auto_renew) or stop)
    shortened = replace(m, period_end=end)
    if stop:
        shortened = _stop(shortened)
    return RefundEffect(shortened, False, True, stop)


def _stop(m: Membership) -> Membership:
    state = State.CANCEL_SCHEDULED if m.state is State.ACTIVE else m.state
    return replace(m, state=state, auto_renew=False)
