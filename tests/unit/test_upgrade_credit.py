"""Upgrades mid-period keep the value of the days left on the lower tier (issue 16, item 7):
the unused Stars of the lower tier (whole days left × the price per day paid) become bonus
days of the new tier (the credit over the new price per day), rounded down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from forever.domain.catalog import load_catalog
from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.payments import InvoiceKind, UpgradeCredit, upgrade_credit
from tests.conftest import ROOT

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CATALOG = load_catalog(ROOT / "catalog.toml")
BASIC, PLUS, PRO = (CATALOG.plan(p) for p in ("basic", "plus", "pro"))
MONTHLY, YEARLY = InvoiceKind.SUBSCRIPTION, InvoiceKind.YEARLY


def held(
    plan: str = "basic",
    billing: Billing = Billing.MONTHLY,
    left: timedelta = timedelta(days=12),
    state: State = State.ACTIVE,
) -> Membership:
    return Membership(state=state, plan_id=plan, billing=billing, period_end=NOW + left)


@pytest.mark.parametrize(
    ("membership", "current", "new", "kind", "expected"),
    [
        # The README's example: 12 days of Basic (150 ⭐ / 30 days = 5 a day) are worth 60 ⭐,
        # 6 days of Plus (300 ⭐ / 30 days = 10 a day).
        (held(), BASIC, PLUS, MONTHLY, UpgradeCredit("basic", 12, 60, 6)),
        # Part of a day left is not counted: 12 days and 23 hours are 12 days.
        (
            held(left=timedelta(days=12, hours=23)),
            BASIC,
            PLUS,
            MONTHLY,
            UpgradeCredit("basic", 12, 60, 6),
        ),
        # Rounded down: 7 days of Basic are 35 ⭐, 3.5 days of Plus: 3.
        (held(left=timedelta(days=7)), BASIC, PLUS, MONTHLY, UpgradeCredit("basic", 7, 35, 3)),
        # Two tiers up, to a year of Pro: 30 days of Plus (300 ⭐) are 18 days at 6000/365.
        (
            held("plus", left=timedelta(days=30)),
            PLUS,
            PRO,
            YEARLY,
            UpgradeCredit("plus", 30, 300, 18),
        ),
        # A year of Basic with 100 days left (1500 × 100 / 365 = 410 ⭐) to a month of Plus.
        (
            held(billing=Billing.YEARLY, left=timedelta(days=100)),
            BASIC,
            PLUS,
            MONTHLY,
            UpgradeCredit("basic", 100, 410, 41),
        ),
        # A cancelled member who upgrades before the end keeps the value too.
        (
            held(state=State.CANCEL_SCHEDULED),
            BASIC,
            PLUS,
            MONTHLY,
            UpgradeCredit("basic", 12, 60, 6),
        ),
        # Worth less than a day of the new tier: said, but no extra day.
        (held(left=timedelta(days=1)), BASIC, PRO, MONTHLY, UpgradeCredit("basic", 1, 5, 0)),
        # No credit: less than a whole day left, no paid time, a trial, same or lower tier.
        (held(left=timedelta(hours=20)), BASIC, PLUS, MONTHLY, None),
        (held(left=-timedelta(days=2)), BASIC, PLUS, MONTHLY, None),
        (held(billing=Billing.TRIAL, state=State.TRIAL), PLUS, PRO, MONTHLY, None),
        (held(state=State.EXPIRED), BASIC, PLUS, MONTHLY, None),
        (held(state=State.PAUSED), BASIC, PLUS, MONTHLY, None),
        (held("plus"), PLUS, PLUS, YEARLY, None),
        (held("pro"), PRO, BASIC, MONTHLY, None),
        (Membership(), None, PLUS, MONTHLY, None),
    ],
)
def test_upgrade_credit_table(membership, current, new, kind, expected) -> None:  # type: ignore[no-untyped-def]
    assert upgrade_credit(membership, current, new, kind, NOW) == expected


def test_the_credit_is_priced_at_what_the_invoice_charges() -> None:
    # A discounted Plus month (210 ⭐, 7 a day): 60 ⭐ buy 8 days, not 6.
    credit = upgrade_credit(held(), BASIC, PLUS, MONTHLY, NOW, amount=210)
    assert credit == UpgradeCredit("basic", 12, 60, 8)
