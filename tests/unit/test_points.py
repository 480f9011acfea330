"""Points (issue 19) as pure rules: what a payment or a milestone earns, what is due to expire
first-to-expire first, what a balance can pay for; and the catalog's `[points]` checks, each
mistake named with its file, line and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forever.domain import points
from forever.domain.catalog import CatalogError, parse_catalog
from forever.domain.points import Lot, Milestone, PointsRules, Reward

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
TEXT = (Path(__file__).resolve().parents[2] / "catalog.toml").read_text(encoding="utf-8")
RULES = PointsRules(
    per_paid_month=10,
    expire_months=12,
    star_value=0.5,
    events={"referral_rewarded": 50},
    milestones=(Milestone(100, 5), Milestone(1000, 25)),
    rewards=(Reward("week", 100, days=7),),
)


@pytest.mark.parametrize(
    ("days", "months"), [(30, 1), (31, 1), (60, 2), (365, 12), (1, 1), (3000, 12)]
)
def test_a_paid_period_counts_in_whole_months(days: int, months: int) -> None:
    assert points.months_paid(timedelta(days=days)) == months
    assert points.earned_for_payment(RULES, timedelta(days=days)) == 10 * months


def test_months_later_keeps_the_day_or_takes_the_last_of_a_shorter_month() -> None:
    assert points.add_months(T0, 1) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert points.add_months(T0, 12) == datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    assert points.add_months(datetime(2027, 12, 5, tzinfo=UTC), 3) == datetime(
        2028, 3, 5, tzinfo=UTC
    )
    assert RULES.expires_at(T0) == datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    assert PointsRules().expires_at(T0) is None  # 0: points never expire


@pytest.mark.parametrize(
    ("before", "after", "reached"),
    [(0, 99, []), (0, 100, [100]), (99, 1000, [100, 1000]), (100, 999, []), (1000, 5000, [])],
)
def test_each_usage_milestone_is_reached_once(before: int, after: int, reached: list[int]) -> None:
    assert [m.credits for m in points.milestones_crossed(RULES, before, after)] == reached


def test_events_award_what_the_catalog_says_or_nothing() -> None:
    assert RULES.for_event(points.REFERRAL_REWARDED) == 50
    assert RULES.for_event("birthday") == 0
    assert RULES.enabled and not PointsRules().enabled


def test_expiry_takes_the_points_that_expired_less_what_was_already_taken() -> None:
    lots = [Lot(100, T0), Lot(50, T0 + timedelta(days=100)), Lot(30, None)]
    assert points.due_to_expire(lots, taken=0, now=T0 - timedelta(seconds=1)) == 0
    assert points.due_to_expire(lots, taken=0, now=T0) == 100
    # 120 were redeemed first: they came from the first lot, then 20 from the second.
    assert points.due_to_expire(lots, taken=120, now=T0) == 0
    assert points.due_to_expire(lots, taken=120, now=T0 + timedelta(days=100)) == 30
    # Points that never expire are never due.
    assert points.due_to_expire(lots, taken=150, now=T0 + timedelta(days=9999)) == 0
    with pytest.raises(ValueError, match="never negative"):
        points.due_to_expire(lots, taken=-1, now=T0)


def test_the_notice_names_the_points_expiring_in_the_window() -> None:
    lots = [Lot(100, T0), Lot(50, T0 + timedelta(days=10))]
    now = T0 - timedelta(days=5)
    assert points.expiring_within(lots, taken=30, now=now, days=14) == points.Expiring(70, T0)
    both = points.expiring_within(lots, taken=30, now=now, days=15)
    assert both == points.Expiring(120, T0 + timedelta(days=10))
    assert points.expiring_within(lots, taken=30, now=now, days=3) is None
    assert points.expiring_within(lots, taken=150, now=now, days=15) is None  # all spent


@pytest.mark.parametrize(
    ("balance", "cost", "after"), [(100, 100, 0), (150, 100, 50), (99, 100, None)]
)
def test_a_redemption_is_all_or_nothing(balance: int, cost: int, after: int | None) -> None:
    spent = points.spend(balance, cost)
    assert (spent.balance_after if spent else None) == after


def test_a_negative_balance_or_cost_is_a_bug() -> None:
    with pytest.raises(ValueError):
        points.spend(-1, 10)
    with pytest.raises(ValueError):
        points.spend(10, 0)


def test_the_liability_in_stars_rounds_halves_up() -> None:
    assert points.liability_stars(151, RULES) == 76
    assert points.liability_stars(49, RULES) == 25
    assert points.liability_stars(0, RULES) == 0


def test_the_shipped_catalog_has_points_rules() -> None:
    rules = parse_catalog(TEXT).points
    assert rules.per_paid_month == 10 and rules.expire_months == 12
    assert rules.reward("coaching") == Reward("coaching", 300, addon="coaching")
    assert rules.reward("week") == Reward("week", 100, days=7)
    assert rules.for_event("referral_rewarded") == 50


def test_milestones_and_rewards_must_be_tables() -> None:
    text = TEXT[: TEXT.index("[[points.milestones]]")]
    bad = text.replace("star_value = 0.5", "star_value = 0.5\nmilestones = 5")
    with pytest.raises(CatalogError) as info:
        parse_catalog(bad, source="catalog.toml")
    line = bad.splitlines().index("milestones = 5") + 1
    assert str(info.value) == (
        f"catalog.toml:{line}: points.milestones: use [[points.milestones]] tables"
    )


def test_no_points_table_means_points_are_off() -> None:
    start = TEXT.index("[points]")
    assert not parse_catalog(TEXT[:start]).points.enabled


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("per_paid_month = 10", "per_paid_month = -1", "points.per_paid_month", "between 0"),
        ("expire_months = 12", 'expire_months = "a year"', "points.expire_months", "whole"),
        ("star_value = 0.5", "star_value = true", "points.star_value", "a number"),
        (
            "referral_rewarded = 50",
            "referral_rewarded = 0",
            "points.events.referral_rewarded",
            "between 1",
        ),
        ('addon = "coaching"', 'addon = "massage"', "points.rewards[0].addon", "unknown add-on"),
        ("days = 7\npoints = 100", "points = 100", "points.rewards[1]", "either addon"),
        ("credits = 1000", "credits = 100", "points.milestones[1].credits", "twice"),
    ],
)
def test_points_mistakes_name_file_line_and_field(
    old: str, new: str, field: str, message: str
) -> None:
    bad = TEXT.replace(old, new, 1)
    assert bad != TEXT
    with pytest.raises(CatalogError, match=message) as info:
        parse_catalog(bad, source="catalog.toml")
    assert f": {field}:" in str(info.value)
