"""Points (issue 19): earned for paid months, usage milestones and other events, redeemed for
add-ons or extra days, expiring by the catalog's rule. Pure rules: what to earn, what is due
to expire, what a balance may pay for.

The ledger is append-only: earnings are positive entries (each with the instant it expires),
redemptions and expiries negative ones. Points are spent first-to-expire first (FIFO when the
rule is the same for every earning), so the points that must expire at an instant are the
earnings expiring by then less everything already taken out of the balance.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# The event kind the referral reward hands to `earn_for` (the referrals area calls it).
REFERRAL_REWARDED = "referral_rewarded"

# A guard against typos in the catalog, not a business limit.
MAX_POINTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Milestone:
    """`points` once, when a person's credits consumed in total reach `credits`."""

    credits: int
    points: int


@dataclass(frozen=True, slots=True)
class Reward:
    """What points buy: an add-on of the catalog (`addon`) or `days` more of membership."""

    id: str
    points: int
    addon: str | None = None
    days: int | None = None


@dataclass(frozen=True, slots=True)
class PointsRules:
    """The catalog's `[points]` table. All zero (the default): points are off."""

    per_paid_month: int = 0
    expire_months: int = 0  # 0: points never expire
    notice_days: int = 7
    star_value: float = 0.0  # Stars one point stands for (the liability staff see)
    events: dict[str, int] = field(default_factory=dict)
    milestones: tuple[Milestone, ...] = ()
    rewards: tuple[Reward, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.per_paid_month or self.events or self.milestones or self.rewards)

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)

    def for_event(self, event_kind: str) -> int:
        return self.events.get(event_kind, 0)

    def expires_at(self, earned_at: datetime) -> datetime | None:
        return add_months(earned_at, self.expire_months) if self.expire_months else None


def add_months(at: datetime, months: int) -> datetime:
    """The same day `months` later (the month's last day when it is shorter)."""
    index = at.month - 1 + months
    year, month = at.year + index // 12, index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def months_paid(period: timedelta) -> int:
    """Whole months a paid period stands for: 30 days is one, a year twelve."""
    return max(1, min(12, round(period.days / 30.4)))


def earned_for_payment(rules: PointsRules, period: timedelta) -> int:
    return rules.per_paid_month * months_paid(period)


def milestones_crossed(rules: PointsRules, before: int, after: int) -> tuple[Milestone, ...]:
    """The milestones that credits consumed going from `before` to `after` reach."""
    return tuple(m for m in rules.milestones if before < m.credits <= after)


@dataclass(frozen=True, slots=True)
class Lot:
    """One earning: how many points and when they expire (None: never)."""

    points: int
    expires_at: datetime | None


def due_to_expire(lots: Iterable[Lot], taken: int, now: datetime) -> int:
    """Points to expire at `now`: earnings expired by then, less what already left the balance
    (redemptions and earlier expiries took the first-to-expire points first)."""
    if taken < 0:
        raise ValueError("points taken out are never negative")
    expired = sum(
        lot.points for lot in lots if lot.expires_at is not None and lot.expires_at <= now
    )
    return max(0, expired - taken)


@dataclass(frozen=True, slots=True)
class Expiring:
    points: int
    by: datetime  # the last of the earnings expiring in the window


def expiring_within(lots: Iterable[Lot], taken: int, now: datetime, days: int) -> Expiring | None:
    """Points that will expire in the next `days` days (for the notice), or None."""
    horizon = now + timedelta(days=days)
    soon = [lot for lot in lots if lot.expires_at is not None and lot.expires_at <= horizon]
    if not soon:
        return None
    points = max(0, sum(lot.points for lot in soon) - taken)
    last = max(lot.expires_at for lot in soon if lot.expires_at is not None)
    if points <= 0 or last <= now:
        return None
    return Expiring(points, last)


@dataclass(frozen=True, slots=True)
class Spend:
    balance_after: int


def spend(balance: int, points: int) -> Spend | None:
    """Take `points` from `balance`, all or nothing (None: not enough)."""
    if balance < 0 or points <= 0:
        raise ValueError("a balance is never negative and a redemption is positive")
    if points > balance:
        return None
    return Spend(balance - points)


def liability_stars(points: int, rules: PointsRules) -> int:
    """What outstanding points stand for in Stars, rounded to the nearest Star (halves up)."""
    return int(points * rules.star_value + 0.5)
