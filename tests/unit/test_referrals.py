"""Referral rules (domain/referrals.py) and the catalog's [referrals] and [[partners]]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forever.domain.catalog import CatalogError, parse_catalog
from forever.domain.events import EventKind
from forever.domain.kpi import EventRow, compute
from forever.domain.lifecycle import Billing, Membership, State
from forever.domain.referrals import (
    add_days,
    commission,
    personal_code,
    read_start,
    same_confirmed_email,
    take_days,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CATALOG = (Path(__file__).parents[2] / "catalog.toml").read_text(encoding="utf-8")


def test_a_personal_code_is_stable_per_person_and_key_and_differs_otherwise() -> None:
    key = b"k" * 32
    code = personal_code(key, 7)
    assert code == personal_code(key, 7)
    assert len(code) == 10 and set(code) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert personal_code(key, 8) != code
    assert personal_code(b"other" * 8, 7) != code
    assert read_start(f"r_{code}") == code


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        (None, None),
        ("", None),
        ("w_abc", None),  # not a referral link (a win-back one)
        ("r_lumen", "lumen"),
        ("r_LUMEN", "lumen"),
        ("r_ab", ""),  # too short for any code
        ("r_" + "a" * 33, ""),  # too long for a partner's code
        ("r_a b", ""),  # not what Telegram allows
        ("r_<script>", ""),
        ("r_", ""),
    ],
)
def test_a_start_parameter_is_read_strictly(parameter: str | None, expected: str | None) -> None:
    assert read_start(parameter) == expected


def test_commission_is_rounded_down() -> None:
    assert commission(300, 20) == 60
    assert commission(299, 15) == 44
    assert commission(0, 20) == 0 and commission(300, 0) == 0


def test_bonus_days_go_to_the_end_of_access_or_the_kept_time_of_a_pause() -> None:
    active = Membership(State.ACTIVE, "plus", Billing.MONTHLY, NOW + timedelta(days=10), True)
    assert add_days(active, now=NOW, days=7) == Membership(
        State.ACTIVE, "plus", Billing.MONTHLY, NOW + timedelta(days=17), True
    )
    paused = Membership(State.PAUSED, "plus", Billing.MONTHLY, paused_credit=timedelta(days=3))
    longer = add_days(paused, now=NOW, days=7)
    assert longer is not None and longer.paused_credit == timedelta(days=10)
    assert add_days(Membership(), now=NOW, days=7) is None  # nothing to extend: a grant
    ended = Membership(State.EXPIRED, "plus", Billing.MONTHLY, NOW - timedelta(days=1))
    assert add_days(ended, now=NOW, days=7) is None


def test_taking_days_back_never_ends_access_before_now() -> None:
    active = Membership(State.ACTIVE, "plus", Billing.MONTHLY, NOW + timedelta(days=10), True)
    assert take_days(active, now=NOW, days=7).period_end == NOW + timedelta(days=3)
    assert take_days(active, now=NOW, days=30).period_end == NOW
    paused = Membership(State.PAUSED, "plus", Billing.MONTHLY, paused_credit=timedelta(days=3))
    assert take_days(paused, now=NOW, days=7).paused_credit == timedelta(0)
    assert take_days(Membership(), now=NOW, days=7) == Membership()


def test_a_second_account_is_one_address_confirmed_by_either_side() -> None:
    assert same_confirmed_email("ana@example.com", "confirmed", "Ana@Example.com", "unconfirmed")
    assert same_confirmed_email("ana@example.com", "unconfirmed", "ana@example.com", "confirmed")
    assert not same_confirmed_email("ana@example.com", "unconfirmed", "ana@example.com", "none")
    assert not same_confirmed_email("ana@example.com", "confirmed", "bo@example.com", "confirmed")
    assert not same_confirmed_email(None, "none", "ana@example.com", "confirmed")


def test_the_shipped_catalog_has_referral_rules_and_a_partner() -> None:
    catalog = parse_catalog(CATALOG)
    assert catalog.referrals.referrer_days == 7 and catalog.referrals.plan_id == "plus"
    partner = catalog.partner_by_code("lumen")
    assert partner is not None and partner.commission_percent == 20


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("referrer_days = 7", "referrer_days = -1", "referrals.referrer_days: must be between"),
        ("referred_days = 7", 'referred_days = 7\nplan = "gold"', "referrals.plan: unknown plan"),
        ('code = "lumen"', 'code = "Lumen!"', "partners[0].code: 3-32 lowercase"),
        ('code = "lumen"', 'code = "abcdefgh23"', "shape of members' own codes"),
        ("commission_percent = 20", "commission_percent = 120", "must be between 0 and 100"),
        ('id = "studio_lumen"', 'id = "Studio"', "partners[0].id: lowercase letters"),
    ],
)
def test_catalog_mistakes_name_the_line_and_field(old: str, new: str, message: str) -> None:
    assert old in CATALOG
    with pytest.raises(CatalogError, match=r"catalog\.toml:\d+: ") as raised:
        parse_catalog(CATALOG.replace(old, new))
    assert message in str(raised.value)


def test_two_partners_may_not_share_a_code() -> None:
    twice = (
        CATALOG
        + '\n[[partners]]\nid = "other"\nname = "Other"\ncode = "lumen"\ncommission_percent = 5\n'
    )
    with pytest.raises(CatalogError, match="duplicate code 'lumen'"):
        parse_catalog(twice)


def test_referral_conversion_counts_people_referred_in_the_period_who_paid_and_kept_it() -> None:
    start, end = NOW - timedelta(days=30), NOW
    day = timedelta(days=1)

    def paid(person: int, at: datetime, charge: str) -> EventRow:
        data = {"amount": 300, "currency": "XTR", "charge_id": charge, "plan": "plus"}
        return EventRow(EventKind.PAYMENT, at, person, data)

    history = [
        EventRow(EventKind.REFERRED, start - day, 1),  # before the period: not in the cohort
        paid(1, start + day, "c1"),
        EventRow(EventKind.REFERRED, start + day, 2),  # paid: converted
        paid(2, start + 2 * day, "c2"),
        EventRow(EventKind.REFERRED, start + day, 3),  # paid, then refunded: not converted
        paid(3, start + 2 * day, "c3"),
        EventRow(EventKind.REFUNDED, start + 3 * day, 3, {"charge_id": "c3", "amount": 300}),
        EventRow(EventKind.REFERRED, start + day, 4),  # never paid
        EventRow(EventKind.REFERRED, start + day, 5),  # paid after the end: not yet
        paid(5, end + day, "c5"),
        paid(6, start + day, "c6"),  # paid, never referred
    ]
    kpis = compute(history, start, end)
    assert (kpis.referred, kpis.referred_paid) == (4, 1)
    assert kpis.referral_conversion.value is None  # fewer than 5: counts only
    assert (kpis.referral_conversion.part, kpis.referral_conversion.whole) == (1, 4)
