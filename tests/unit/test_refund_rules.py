"""What a refund does to the access the payment bought (domain/refunds.py), as a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.refunds import after_refund

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def m(state: State, billing: Billing | None, days_left: float, renews: bool = False) -> Membership:
    return Membership(
        state=state,
        plan_id="plus",
        billing=billing,
        period_end=NOW + days_left * DAY,
        auto_renew=renews,
    )


@pytest.mark.parametrize(
    ("before", "billing", "recurring", "state", "days_left", "renews", "ended", "stop"),
    [
        # The only month, renewing: nothing left, access ends now, renewals stop.
        (
            m(State.ACTIVE, Billing.MONTHLY, 30, True),
            "monthly",
            True,
            State.EXPIRED,
            0,
            False,
            True,
            True,
        ),
        # A renewal on top of 20 days: 30 taken off the 50, the subscription stops.
        (
            m(State.ACTIVE, Billing.MONTHLY, 50, True),
            "monthly",
            True,
            State.CANCEL_SCHEDULED,
            20,
            False,
            False,
            True,
        ),
        # A one-off month on top of a renewing subscription: shortened, it keeps renewing.
        (
            m(State.ACTIVE, Billing.MONTHLY, 50, True),
            "one_month",
            False,
            State.ACTIVE,
            20,
            True,
            False,
            False,
        ),
        # A second yearly payment: a year taken off, the first year stays.
        (
            m(State.ACTIVE, Billing.YEARLY, 700),
            "yearly",
            False,
            State.ACTIVE,
            335,
            False,
            False,
            False,
        ),
        # Cancelled, 10 days left of a month refunded: ends now.
        (
            m(State.CANCEL_SCHEDULED, Billing.MONTHLY, 10),
            "monthly",
            False,
            State.EXPIRED,
            0,
            False,
            True,
            False,
        ),
        # A grant is not bought by the payment: unchanged.
        (
            m(State.ACTIVE, Billing.GRANT, 10),
            "monthly",
            False,
            State.ACTIVE,
            10,
            False,
            False,
            False,
        ),
        # Already ended: unchanged.
        (
            m(State.EXPIRED, Billing.MONTHLY, -5),
            "monthly",
            False,
            State.EXPIRED,
            -5,
            False,
            False,
            False,
        ),
    ],
)
def test_refund_effects(
    before: Membership,
    billing: str,
    recurring: bool,
    state: State,
    days_left: float,
    renews: bool,
    ended: bool,
    stop: bool,
) -> None:
    effect = after_refund(
        before, billing=billing, plan_id="plus", recurring_subscription=recurring, now=NOW
    )
    assert effect.membership.state is state
    assert effect.membership.period_end == NOW + days_left * DAY
    assert effect.membership.auto_renew is renews
    assert (effect.ended, effect.stop_renewals) == (ended, stop)


def test_a_paused_membership_loses_the_paid_time_it_keeps() -> None:
    paused = Membership(
        state=State.PAUSED,
        plan_id="plus",
        billing=Billing.MONTHLY,
        period_end=NOW,
        paused_until=NOW + 30 * DAY,
        paused_credit=40 * DAY,
    )
    effect = after_refund(
        paused, billing="monthly", plan_id="plus", recurring_subscription=False, now=NOW
    )
    assert effect.membership.paused_credit == 10 * DAY and not effect.ended
