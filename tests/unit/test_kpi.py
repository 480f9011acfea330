"""KPI math over a small, hand-made event history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forever.domain.events import EventKind as K
from forever.domain.kpi import EventRow, compute
from forever.domain.progress import duration_text, progress
from forever.domain.segments import SegmentError, SegmentKind, parse_segment

END = datetime(2026, 11, 23, tzinfo=UTC)
START = END - timedelta(days=30)


def ev(kind: K, days_before_end: float, person: int | None, **data: object) -> EventRow:
    return EventRow(kind.value, END - timedelta(days=days_before_end), person, data)


HISTORY = [
    # Before the period: three paying members (one yearly), one trial.
    ev(K.PAYMENT, 60, 1, plan="plus", billing="monthly", amount=300),
    ev(K.PAYMENT, 60, 2, plan="basic", billing="monthly", amount=150),
    ev(K.PAYMENT, 50, 3, plan="pro", billing="yearly", amount=6000),
    # In the period.
    ev(K.SIGNED_UP, 20, 4),
    ev(K.TRIAL_STARTED, 20, 4, plan="plus"),
    ev(K.PAYMENT, 13, 4, plan="plus", billing="monthly", amount=300),
    ev(K.SIGNED_UP, 10, 5),
    ev(K.TRIAL_STARTED, 10, 5, plan="plus"),
    ev(K.CANCELED, 15, 2, plan="basic"),
    ev(K.CANCEL_REASON, 15, 2, reason="too_expensive"),
    ev(K.OFFER_SHOWN, 15, 2, offer="discount20"),
    ev(K.ACCESS_ENDED, 5, 2, previous_state="cancel_scheduled"),
    ev(K.PAUSED, 8, 1, months=1),
    ev(K.GRANTED, 3, 6, plan="pro", days=30, by=1),
    ev(K.EMAIL_SENT, 2, 4, template="welcome"),
    ev(K.UNSUBSCRIBED, 1, 4, source="link"),
    ev(K.WINBACK_RECOVERED, 1, 7, plan="basic"),
    # After the period: ignored.
    ev(K.SIGNED_UP, -1, 8),
]


def test_funnel_money_and_churn() -> None:
    k = compute(HISTORY, START, END)
    assert k.signups == 2
    assert (k.trials, k.trials_converted, k.trial_to_paid) == (2, 1, 0.5)
    # Active now: 3 (pro yearly), 4 (plus), 6 (granted pro), 7 (won back, basic); 1 is paused.
    assert k.active_by_plan == {"basic": 1, "plus": 1, "pro": 2}
    assert k.mrr_stars == 500 + 300  # yearly 6000/12 + monthly 300 (grants pay nothing)
    assert k.paying_at_start == 3
    assert k.churned == 1
    assert k.monthly_churn == 1 / 3
    assert k.cancellations == 1
    assert k.cancel_reasons == {"too_expensive": 1}
    assert k.offers_shown == {"discount20": 1}
    assert (k.pauses, k.resumes, k.winbacks, k.emails_sent, k.unsubscribes) == (1, 0, 1, 1, 1)


def test_daily_series_for_the_chart() -> None:
    k = compute(HISTORY, START, END)
    assert len(k.series) == 30
    assert k.series[-1].day == END
    assert sum(p.churned for p in k.series) == 1
    assert k.series[0].active == 3
    assert k.series[-1].active == k.active_total


def test_empty_history() -> None:
    k = compute([], START, END)
    assert k.trial_to_paid is None and k.monthly_churn is None and k.active_total == 0


def test_progress_figures() -> None:
    p = progress(done=500, total=2000, sent_this_run=280, elapsed=10)
    assert (p.percent, p.rate, p.seconds_left) == (25, 28.0, 54)
    assert p.bar(8) == "██░░░░░░"
    assert progress(0, 10, 0, 0).seconds_left is None
    assert duration_text(3725) == "1h 02m" and duration_text(65) == "1m 05s"


def test_segments_are_checked() -> None:
    assert parse_segment("plan", "plus", plans=frozenset({"plus"})).kind is SegmentKind.PLAN
    for kind, value in [("plan", "gold"), ("nobody", None), ("all", "x"), ("language", None)]:
        try:
            parse_segment(kind, value, plans=frozenset({"plus"}), locales=frozenset({"en"}))
        except SegmentError:
            continue
        raise AssertionError((kind, value))
