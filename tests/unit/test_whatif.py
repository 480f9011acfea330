"""What-if pricing: only observed prices are estimated, with intervals; otherwise it says how
many more people it needs. Numbers checked by hand."""

from __future__ import annotations

import pytest

from forever.domain.experiment_stats import wilson
from forever.domain.whatif import MIN_MEASURED, PricePoint, what_if


def test_an_observed_price_is_estimated_against_today() -> None:
    points = [PricePoint(300, 200, 40, 8), PricePoint(250, 200, 60, 6)]
    got = what_if("plus", 250, 300, points, monthly_new=100.0)
    assert got.at_price is not None and got.today is not None
    e = got.at_price
    assert e.conversion.value == pytest.approx(0.30)
    assert (e.conversion.low, e.conversion.high) == pytest.approx(wilson(60, 200))
    assert e.paid_churn_90d.value == pytest.approx(0.10)
    # Monthly churn from 10% in 90 days: 1 - 0.9^(1/3) = 0.03451; twelve cohorts.
    h = 1 - 0.9 ** (1 / 3)
    kept = sum((1 - h) ** j for j in range(12))
    assert e.mrr_12m.value == pytest.approx(100 * 0.30 * 250 * kept)
    total = sum((1 - h) ** j for k in range(12) for j in range(12 - k))
    assert e.revenue_12m.value == pytest.approx(100 * 0.30 * 250 * total)
    for r in (e.conversion, e.paid_churn_90d, e.mrr_12m, e.revenue_12m):
        assert r.low <= r.value <= r.high
    assert got.today.conversion.value == pytest.approx(0.20)
    assert got.needed_at_price == got.needed_today == 0


def test_an_unobserved_price_is_not_estimated_and_says_what_it_needs() -> None:
    points = [PricePoint(300, 200, 40, 8), PricePoint(250, 30, 9, 1)]
    at_275 = what_if("plus", 275, 300, points, monthly_new=100.0)
    assert at_275.at_price is None and at_275.needed_at_price == MIN_MEASURED
    at_250 = what_if("plus", 250, 300, points, monthly_new=100.0)
    assert at_250.at_price is None and at_250.needed_at_price == MIN_MEASURED - 30
    assert at_250.today is not None


def test_several_experiments_at_one_price_are_pooled() -> None:
    points = [PricePoint(250, 60, 18, 2), PricePoint(250, 60, 18, 2)]
    got = what_if("plus", 250, 300, points, monthly_new=10.0)
    assert got.at_price is not None and got.at_price.measured == 120
