"""What-if from prices charged in the past (issue 18): paid churn per first price, from a
synthetic payment history; below the minimum it says how many more members it needs."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from forever.domain.whatif import MIN_MEASURED, history_points, what_if
from forever.rendering import Renderer
from forever.sandbox.fake_bot_api.html_entities import parse_html
from forever.telegram.experiment_texts import ExperimentTexts

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=300)


def history(seed: int) -> list[tuple[int, int, datetime]]:
    """300 members at 250 (true 90-day churn 20%) who joined in the first 100 days, then 40 at
    300 who joined later; each pays monthly until they leave."""
    rng = random.Random(seed)
    out = []
    for person in range(340):
        price, start = (250, T0) if person < 300 else (300, T0 + timedelta(days=150))
        start += timedelta(days=rng.uniform(0, 100))
        months = rng.randint(1, 2) if rng.random() < 0.2 else 12
        for k in range(months):
            at = start + timedelta(days=30 * k)
            if at <= NOW:
                out.append((person, price, at))
    return out


def test_paid_churn_per_price_with_an_interval_and_what_is_missing() -> None:
    points = {p.stars: p for p in history_points(history(7), NOW)}
    low = points[250]
    assert low.measured == 300 and low.needed == 0
    assert low.paid_churn_90d is not None
    assert low.paid_churn_90d.low < 0.20 < low.paid_churn_90d.high  # the true churn is inside
    high = points[300]
    assert high.paid_churn_90d is None  # 40 measured at most: nothing is guessed
    assert high.needed == MIN_MEASURED - high.measured > 0


def test_a_member_counts_once_at_their_first_price_and_only_when_the_90_days_are_over() -> None:
    paid = [(1, 250, T0), (1, 300, T0 + timedelta(days=30)), (2, 250, NOW - timedelta(days=10))]
    (point,) = history_points(paid, NOW)
    assert (point.stars, point.measured, point.churned) == (250, 1, 1)


def test_the_report_says_payments_give_churn_only() -> None:
    w = what_if("plus", 250, 300, [], 0.0)
    w = type(w)(**{**asdict(w), "history": history_points(history(7), NOW)})
    text, _ = parse_html(ExperimentTexts(Renderer())("whatif_report", "en", w=asdict(w)))
    assert "payments do not show who saw a price and did not pay" in text
    assert "250 ⭐: 300 members, paid churn in 90 days" in text
    assert "300 ⭐: " in text and "more needed" in text
