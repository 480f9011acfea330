"""What-if pricing from the business's own price experiments, and nothing else.

An estimate at a price exists only where people were actually shown that price (an arm of a
price experiment, or its holdout at the catalog's price) and enough of them have a known
outcome; between or beyond observed prices nothing is estimated, because that would need an
elasticity the data do not give.

From the people measured at a price (90 days after seeing it): the conversion rate and the
paid churn (of those who paid, the share whose paid access ended within the 90 days), each
with a 95% Wilson interval, turned into a monthly churn h = 1 - (1 - churn90)^(1/3). With V
new people a month seeing the price (the experiment's observed exposures per 30 days, scaled
to everyone), c the conversion and P the price:

  MRR after 12 months     = V c P * sum_{j<12} (1 - h)^j       (twelve monthly cohorts)
  revenue over 12 months  = V c P * sum_{k<12} sum_{j<12-k} (1 - h)^j

Their intervals take the ends of the two rate intervals together (low conversion with high
churn, and the reverse): wider than exact, never narrower. A price change applies to new
members only, so these are the new members' figures.

Without a price experiment, the prices charged in the past are observations too, but only of
paid churn: payments do not show who saw a price and did not pay, so no conversion (and so no
MRR) is estimated from them. Each member counts once, at the price of their first full-price
monthly payment for the plan, once 90 days have passed since it; they churned if their last
payment's 30 days ended within those 90 days (`history_points`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from forever.domain.experiment_stats import wilson

MIN_MEASURED = 100  # people with a known outcome at a price before it is estimated
WINDOW = timedelta(days=90)
PAID_PERIOD = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class PricePoint:
    """What happened to the people shown one price."""

    stars: int
    measured: int
    converted: int
    churned: int  # of the converted


@dataclass(frozen=True, slots=True)
class Range:
    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class PriceEstimate:
    stars: int
    measured: int
    conversion: Range
    paid_churn_90d: Range
    mrr_12m: Range
    revenue_12m: Range


@dataclass(frozen=True, slots=True)
class ChurnPoint:
    """Paid churn among members whose first payment was at one price (payment history)."""

    stars: int
    measured: int
    churned: int
    paid_churn_90d: Range | None  # None below MIN_MEASURED
    needed: int  # more measured members before it is estimated (0: none)


@dataclass(frozen=True, slots=True)
class WhatIf:
    plan_id: str
    price: int
    today_price: int
    monthly_new: float  # people a month who see the plan's price
    at_price: PriceEstimate | None
    today: PriceEstimate | None
    # When an estimate is missing: how many more measured people each price needs (0: none).
    needed_at_price: int
    needed_today: int
    # Prices charged in the past (no experiment needed): paid churn only, by first price.
    history: tuple[ChurnPoint, ...] = ()


def _monthly_churn(churn_90d: float) -> float:
    return 1 - float((1 - min(max(churn_90d, 0.0), 1.0)) ** (1 / 3))


def _mrr(v: float, c: float, price: int, h: float) -> float:
    return v * c * price * sum((1 - h) ** j for j in range(12))


def _revenue(v: float, c: float, price: int, h: float) -> float:
    return v * c * price * sum((1 - h) ** j for k in range(12) for j in range(12 - k))


def estimate(point: PricePoint, monthly_new: float) -> PriceEstimate | None:
    if point.measured < MIN_MEASURED:
        return None
    c = point.converted / point.measured
    c_low, c_high = wilson(point.converted, point.measured)
    churn = point.churned / point.converted if point.converted else 0.0
    k_low, k_high = wilson(point.churned, point.converted) if point.converted else (0.0, 1.0)
    h, h_low, h_high = (_monthly_churn(x) for x in (churn, k_low, k_high))
    return PriceEstimate(
        stars=point.stars,
        measured=point.measured,
        conversion=Range(c, c_low, c_high),
        paid_churn_90d=Range(churn, k_low, k_high),
        mrr_12m=Range(
            _mrr(monthly_new, c, point.stars, h),
            _mrr(monthly_new, c_low, point.stars, h_high),
            _mrr(monthly_new, c_high, point.stars, h_low),
        ),
        revenue_12m=Range(
            _revenue(monthly_new, c, point.stars, h),
            _revenue(monthly_new, c_low, point.stars, h_high),
            _revenue(monthly_new, c_high, point.stars, h_low),
        ),
    )


def what_if(
    plan_id: str,
    price: int,
    today_price: int,
    points: Sequence[PricePoint],
    monthly_new: float,
) -> WhatIf:
    """The estimate at `price` against today's, from the points observed at exactly those
    prices (several experiments at one price are pooled)."""

    def pooled(stars: int) -> PricePoint:
        same = [p for p in points if p.stars == stars]
        return PricePoint(
            stars,
            sum(p.measured for p in same),
            sum(p.converted for p in same),
            sum(p.churned for p in same),
        )

    at, now = pooled(price), pooled(today_price)
    return WhatIf(
        plan_id=plan_id,
        price=price,
        today_price=today_price,
        monthly_new=monthly_new,
        at_price=estimate(at, monthly_new),
        today=estimate(now, monthly_new),
        needed_at_price=max(0, MIN_MEASURED - at.measured),
        needed_today=max(0, MIN_MEASURED - now.measured),
    )


def history_points(
    payments: Sequence[tuple[int, int, datetime]], now: datetime
) -> tuple[ChurnPoint, ...]:
    """From full-price monthly payments (person, Stars, when) for one plan: per first price,
    the members measured (90 days past their first payment) and those whose paid access ended
    within the 90 days, with a 95% Wilson interval once MIN_MEASURED are measured."""
    first: dict[int, tuple[datetime, int]] = {}
    last: dict[int, datetime] = {}
    for person, stars, at in sorted(payments, key=lambda p: (p[2], p[0])):
        first.setdefault(person, (at, stars))
        last[person] = at
    measured: dict[int, int] = {}
    churned: dict[int, int] = {}
    for person, (start, stars) in first.items():
        if start + WINDOW > now:
            continue  # outcome not known yet
        measured[stars] = measured.get(stars, 0) + 1
        if last[person] + PAID_PERIOD < start + WINDOW:
            churned[stars] = churned.get(stars, 0) + 1
    seen = sorted({stars for _, stars in first.values()})
    out = []
    for stars in seen:
        n, k = measured.get(stars, 0), churned.get(stars, 0)
        rate = None
        if n >= MIN_MEASURED:
            low, high = wilson(k, n)
            rate = Range(k / n, low, high)
        out.append(ChurnPoint(stars, n, k, rate, max(0, MIN_MEASURED - n)))
    return tuple(out)
