"""KPI math over a small, hand-made event history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forever.domain.events import EventKind as K
from forever.domain.kpi import MIN_DENOMINATOR, EventRow, OfferFigures, Ratio, compute
from forever.domain.progress import duration_text, progress
from forever.domain.segments import SegmentError, SegmentKind, parse_segment

END = datetime(2026, 11, 23, tzinfo=UTC)
START = END - timedelta(days=30)


def ev(kind: K, days_before_end: float, person: int | None, **data: object) -> EventRow:
    return EventRow(kind.value, END - timedelta(days=days_before_end), person, data)


# A hand-made history. Times are days before END; the period is the 30 days up to END, so
# an event less than 30 days before END is in it, one 30 or more before it, one below 0 after
# it (ignored).
# Prices (Stars): basic 150/month, plus 300/month, pro 600/month; yearly basic 1500 (125 a
# month), yearly pro 6000 (500 a month).
HISTORY = [
    # --- Before the period -------------------------------------------------------------
    ev(K.PAYMENT, 45, 1, plan="plus", billing="monthly", amount=300),  # P1 pays
    ev(K.PAYMENT, 40, 2, plan="basic", billing="monthly", amount=150),  # P2 pays
    ev(K.PAYMENT, 50, 3, plan="pro", billing="yearly", amount=6000),  # P3 pays yearly
    ev(K.TRIAL_STARTED, 35, 4, plan="plus", days=7),  # P4: a trial...
    ev(K.CANCELED, 33, 4, plan="plus"),  # ...cancelled before the period
    ev(K.GRANTED, 40, 5, plan="pro", days=30, by=1),  # P5: staff grant
    ev(K.PAYMENT, 45, 6, plan="plus", billing="monthly", amount=300),  # P6 pays
    ev(K.PAYMENT, 50, 7, plan="plus", billing="monthly", amount=300),  # P7 pays
    ev(K.PAYMENT, 40, 8, plan="basic", billing="monthly", amount=150),  # P8 pays
    ev(K.PAYMENT, 70, 15, plan="basic", billing="monthly", amount=150),  # P15 pays...
    ev(K.ACCESS_ENDED, 36, 15, billing="monthly", previous_state="cancel_scheduled"),  # ...left
    ev(K.EMAIL_SENT, 31, 15, template="winback"),
    ev(K.PAYMENT, 45, 18, plan="plus", billing="monthly", amount=300, charge_id="c18a"),  # P18
    ev(K.PAYMENT, 35, 20, plan="basic", billing="monthly", amount=150, charge_id="c20a"),  # P20
    # At the start, paying: P1 300, P2 150, P3 500, P6 300, P7 300, P8 150, P18 300, P20 150
    #   -> 8 paid memberships, MRR at the start 2150.
    # --- In the period -------------------------------------------------------------------
    # P4's trial ends: NOT paid churn (it was a trial, though cancelled: the old bug).
    ev(K.ACCESS_ENDED, 28, 4, plan="plus", billing="trial", previous_state="cancel_scheduled"),
    # P5's grant ends: not paid churn either.
    ev(K.ACCESS_ENDED, 10, 5, plan="pro", billing="grant", previous_state="active"),
    # P1 renews, then cancels (too expensive), is shown 30% off and takes it: a save.
    ev(K.RENEWED, 15, 1, plan="plus", billing="monthly"),
    ev(K.PAYMENT, 15, 1, plan="plus", billing="monthly", amount=300, recurring=True),
    ev(K.CANCELED, 8, 1, plan="plus"),
    ev(K.CANCEL_REASON, 8, 1, reason="too_expensive"),
    ev(K.OFFER_SHOWN, 8, 1, offer="discount_30", reason="too_expensive"),
    ev(K.OFFER_ACCEPTED, 8, 1, offer="discount_30"),
    ev(K.PAYMENT, 7, 1, plan="plus", billing="one_month", amount=210, offer="discount_30"),
    # P2 cancels (too expensive), is shown 30% off, says no; access ends: paid churn.
    ev(K.CANCELED, 20, 2, plan="basic"),
    ev(K.CANCEL_REASON, 20, 2, reason="too_expensive"),
    ev(K.OFFER_SHOWN, 20, 2, offer="discount_30", reason="too_expensive"),
    ev(K.ACCESS_ENDED, 10, 2, billing="monthly", previous_state="cancel_scheduled"),
    # ...and comes back 6 days later (won back within 30 days).
    ev(K.ACTIVATED, 4, 2, plan="basic", billing="monthly"),
    ev(K.PAYMENT, 4, 2, plan="basic", billing="monthly", amount=150),
    # P6 upgrades plus -> pro (monthly 600).
    ev(K.PLAN_CHANGED, 12, 6, from_plan="plus", to_plan="pro"),
    ev(K.PAYMENT, 12, 6, plan="pro", billing="monthly", amount=600),
    # P7's renewal fails, then P7 cancels: access ends at once: paid churn, no ACCESS_ENDED.
    ev(K.PAYMENT_FAILED, 20, 7, plan="plus"),
    ev(K.CANCELED, 19, 7, plan="plus"),
    # P8 cancels (not using it), is shown a month's pause and takes it.
    ev(K.CANCELED, 26, 8, plan="basic"),
    ev(K.CANCEL_REASON, 26, 8, reason="not_using"),
    ev(K.OFFER_SHOWN, 26, 8, offer="pause_month", reason="not_using"),
    ev(K.OFFER_ACCEPTED, 26, 8, offer="pause_month"),
    ev(K.PAUSED, 26, 8, months=1),
    # New people: P9..P13 sign up and start trials.
    ev(K.SIGNED_UP, 20, 9),
    ev(K.TRIAL_STARTED, 20, 9, plan="plus", days=7),
    ev(K.ACTIVATED, 14, 9, plan="plus", billing="monthly"),  # P9 converts
    ev(K.PAYMENT, 14, 9, plan="plus", billing="monthly", amount=300),
    ev(K.SIGNED_UP, 5, 10),
    ev(K.TRIAL_STARTED, 5, 10, plan="plus", days=7),  # P10: still in the trial at the end
    ev(K.SIGNED_UP, 25, 11),
    ev(K.TRIAL_STARTED, 25, 11, plan="plus", days=7),
    ev(K.CANCELED, 22, 11, plan="plus"),  # P11 cancels the trial (not using it)
    ev(K.CANCEL_REASON, 22, 11, reason="not_using"),
    ev(K.OFFER_SHOWN, 22, 11, offer="pause_month", reason="not_using"),
    ev(K.ACCESS_ENDED, 18, 11, billing="trial", previous_state="cancel_scheduled"),
    ev(K.SIGNED_UP, 15, 12),
    ev(K.TRIAL_STARTED, 15, 12, plan="plus", days=7),
    ev(K.ACCESS_ENDED, 8, 12, billing="trial", previous_state="trial"),  # P12: trial ran out
    ev(K.SIGNED_UP, 12, 13),
    ev(K.TRIAL_STARTED, 12, 13, plan="plus", days=7),
    ev(K.ACTIVATED, 9, 13, plan="basic", billing="yearly"),  # P13 converts, yearly basic
    ev(K.PAYMENT, 9, 13, plan="basic", billing="yearly", amount=1500),
    # P15 (left before the period) pays through a win-back offer.
    ev(K.ACTIVATED, 6, 15, plan="basic", billing="monthly"),
    ev(K.WINBACK_RECOVERED, 6, 15, plan="basic", days_since_end=30, offer="comeback_40"),
    ev(K.PAYMENT, 6, 15, plan="basic", billing="one_month", amount=90, offer="comeback_40"),
    # P16 is granted Plus by staff.
    ev(K.GRANTED, 3, 16, plan="plus", days=30, by=1),
    # --- Refunds (money given back: domain/refunds.py, services/refunds.py) --------------
    # P18 cancels (too expensive), takes 30% off and pays 210 for a month; staff refund that
    # payment: not a save. Their first month (c18a, paid 45 days before END) still runs, so
    # their access ends when that month does: paid churn.
    ev(K.CANCELED, 25, 18, plan="plus"),
    ev(K.CANCEL_REASON, 25, 18, reason="too_expensive"),
    ev(K.OFFER_SHOWN, 25, 18, offer="discount_30", reason="too_expensive"),
    ev(K.OFFER_ACCEPTED, 25, 18, offer="discount_30"),
    ev(
        K.PAYMENT,
        24,
        18,
        plan="plus",
        billing="one_month",
        amount=210,
        offer="discount_30",
        charge_id="c18b",
    ),
    ev(K.REFUNDED, 20, 18, charge_id="c18b", amount=210, plan="plus", reason="staff", by=1),
    ev(K.ACCESS_ENDED, 15, 18, billing="monthly", previous_state="active"),
    # P19 signs up, starts a trial, pays 300, and is refunded the next day: access ends, and
    # it is neither a conversion nor paid churn (every payment of it was given back).
    ev(K.SIGNED_UP, 24, 19),
    ev(K.TRIAL_STARTED, 24, 19, plan="plus", days=7),
    ev(K.ACTIVATED, 20, 19, plan="plus", billing="monthly"),
    ev(K.PAYMENT, 20, 19, plan="plus", billing="monthly", amount=300, charge_id="c19"),
    ev(K.REFUNDED, 19, 19, charge_id="c19", amount=300, plan="plus", reason="staff", by=1),
    ev(K.ACCESS_ENDED, 19, 19, billing="monthly", previous_state="active", reason="refund"),
    # P20's renewal (150) is refunded the day after: not a renewal; the month it paid for is
    # taken off, which leaves no access: their paid membership (c20a's) ends: paid churn.
    ev(K.RENEWED, 5, 20, plan="basic", billing="monthly"),
    ev(
        K.PAYMENT,
        5,
        20,
        plan="basic",
        billing="monthly",
        amount=150,
        recurring=True,
        charge_id="c20b",
    ),
    ev(K.REFUNDED, 4, 20, charge_id="c20b", amount=150, plan="basic", reason="staff", by=1),
    ev(K.ACCESS_ENDED, 4, 20, billing="monthly", previous_state="active", reason="refund"),
    # A refund of a charge no payment event knows (never counted as received): ignored.
    ev(K.REFUNDED, 3, None, charge_id="unknown", amount=999, reason="wrong_payer"),
    ev(K.EMAIL_SENT, 20, 9, template="trial_tips"),
    ev(K.EMAIL_SENT, 10, 2, template="cancel_confirmed"),
    ev(K.EMAIL_SENT, 2, 15, template="receipt"),
    ev(K.UNSUBSCRIBED, 1, 11, source="link"),
    # --- After the period: ignored ---------------------------------------------------------
    ev(K.SIGNED_UP, -1, 17),
    ev(K.PAYMENT, -1, 10, plan="plus", billing="monthly", amount=300),
]


def test_every_kpi_matches_the_hand_computed_figures() -> None:
    k = compute(HISTORY, START, END)
    # Sign-ups in the period: P9, P10, P11, P12, P13, P19.
    assert k.signups == 6
    # Trial conversion: trials started in the period P9..P13 and P19 = 6; paid by the end:
    # P9, P13. P19 paid too, but that payment was refunded: not a conversion.
    assert (k.trials, k.trials_converted, k.trials_running) == (6, 2, 1)  # P10 still trying
    assert k.trial_conversion == Ratio(2, 6) and k.trial_conversion.value == 2 / 6
    assert k.in_trial_now == 1
    # Active at the end: basic P2, P13, P15; plus P1, P9, P16 (granted); pro P3, P6.
    # Not: P4, P11, P12 (trials over), P5 (grant over), P7 (ended), P8 (paused), P10 (trial),
    # P18, P19, P20 (ended).
    assert k.active_by_plan == {"basic": 3, "plus": 3, "pro": 2}
    # Paid churn: of the 8 paying at the start, P2, P7, P18 and P20 ended. P4's trial and
    # P5's grant ending are not paid churn, nor P19's membership, all of whose payment was
    # refunded.
    assert (k.churned, k.paying_at_start, k.paid_ended) == (4, 8, 4)
    assert k.paid_churn.value == 4 / 8
    # MRR at the end: P1 210 + P2 150 + P3 500 + P6 600 + P9 300 + P13 125 + P15 90 = 1975;
    # at the start 2150 (1700 + P18 300 + P20 150), so the trend is -175 (-8.1%).
    assert (k.mrr_stars, k.mrr_start_stars) == (1975, 2150)
    assert k.mrr_change == Ratio(-175, 2150)
    # Net revenue retention: now from those paying at the start: P1 210 + P2 150 + P3 500
    # + P6 600 = 1460 (P7, P18, P20 ended, P8 paused), of 2150 = 67.9%.
    assert k.net_revenue_retention == Ratio(1460, 2150)
    assert round(k.net_revenue_retention.value or 0, 3) == 0.679
    # Cancellations in the period: P1, P2, P7, P8, P11 (a trial) and P18. P4's was before.
    assert (k.cancellations, k.trial_cancellations) == (6, 1)
    assert k.cancel_reasons == {"too_expensive": 3, "not_using": 2}
    # Save rate per offer: 30% off shown to P1, P2 and P18, taken by P1 and P18, but P18's
    # payment for it was refunded: 1 save of 3. A month's pause shown to P8 and P11, taken
    # by P8: 1 of 2. Overall 2 of 5: 40%.
    assert k.offers == {"discount_30": OfferFigures(3, 1), "pause_month": OfferFigures(2, 1)}
    assert k.save_rate == Ratio(2, 5) and k.save_rate.value == 0.4
    # Offers accepted: the two saves, and P15's win-back offer (P18's refunded take is not).
    assert k.offers_accepted == {"discount_30": 1, "pause_month": 1, "comeback_40": 1}
    assert (k.pauses, k.resumes) == (1, 0)
    # Win-back: paid access ended in the period for P2, P7, P18 and P20; P2 paid again 6 days
    # later. P15 ended before the period (not in the cohort) but came back through an offer.
    assert (k.access_ended, k.won_back, k.winbacks_by_offer) == (4, 1, 1)
    assert k.winback_rate == Ratio(1, 4) and k.winback_rate.value is None  # too few
    # Emails sent in the period: 3 (one to P15 was before it); unsubscribed: P11.
    assert (k.emails_sent, k.unsubscribes) == (3, 1)
    # Renewals: P1's (15 days before END); P20's was refunded, so it is not one.
    assert k.renewals == 1
    # Revenue: received in the period P1 300 + P1 210 + P2 150 + P6 600 + P9 300
    # + P13 1500 + P15 90 = 3150, plus P18 210 + P19 300 + P20 150 = 3810; refunded
    # P18 210 + P19 300 + P20 150 = 660 in 3 refunds (the refund of a charge never recorded
    # as paid is not counted); revenue 3810 - 660 = 3150.
    assert (k.received_stars, k.refunded_stars, k.refunds) == (3810, 660, 3)
    assert k.revenue_stars == 3150


def test_a_refund_takes_money_and_mrr_back_when_it_happens() -> None:
    """A period that ended before the refund still counts the payment; the period of the
    refund has it taken off revenue and MRR."""
    history = [
        ev(K.PAYMENT, 40, 1, plan="plus", billing="monthly", amount=300, charge_id="a"),
        ev(K.PAYMENT, 35, 1, plan="plus", billing="yearly", amount=3000, charge_id="b"),
        ev(K.REFUNDED, 10, 1, charge_id="b", amount=3000, plan="plus", reason="staff"),
    ]
    before = compute(history, START - timedelta(days=30), START)
    # P1 pays 300 (a) and 3000 (b) in that period: received 3300; MRR their latest, 3000/12.
    assert (before.received_stars, before.refunded_stars, before.mrr_stars) == (3300, 0, 250)
    k = compute(history, START, END)
    # In the period: nothing received, 3000 refunded: revenue -3000. P1 still has the month
    # paid by (a) (the refund's effect on access is its own ACCESS_ENDED, none here), so
    # they pay what (a) says: 300 at the end, 250 at the start.
    assert (k.received_stars, k.refunded_stars, k.revenue_stars) == (0, 3000, -3000)
    assert (k.mrr_start_stars, k.mrr_stars) == (250, 300)


def test_a_rate_needs_five_in_its_denominator() -> None:
    assert Ratio(0, 0).value is None
    assert Ratio(4, 4).value is None
    assert Ratio(1, 5).value == 0.2
    assert MIN_DENOMINATOR == 5


def test_a_trial_that_ends_is_not_paid_churn_but_a_paid_membership_that_ends_is() -> None:
    """The /stats that said "200.0% (2 paid memberships ended, 1 paying at the start)"."""
    history = [
        ev(K.PAYMENT, 40, 1, plan="plus", billing="monthly", amount=300),
        ev(K.TRIAL_STARTED, 35, 2, plan="plus", days=7),
        ev(K.CANCELED, 33, 2, plan="plus"),
        ev(K.ACCESS_ENDED, 28, 2, billing="trial", previous_state="cancel_scheduled"),
        ev(K.CANCELED, 20, 1, plan="plus"),
        ev(K.ACCESS_ENDED, 10, 1, billing="monthly", previous_state="cancel_scheduled"),
    ]
    k = compute(history, START, END)
    assert (k.churned, k.paying_at_start, k.paid_ended) == (1, 1, 1)
    assert k.paid_churn == Ratio(1, 1) and k.paid_churn.value is None


def test_daily_series_for_the_chart() -> None:
    k = compute(HISTORY, START, END)
    assert len(k.series) == 30
    assert k.series[-1].day == END
    assert sum(p.churned for p in k.series) == 4  # P2, P7, P18 and P20
    # After the first day: P1, P2, P3, P6, P7, P8, P18, P20 paid (P5's grant too): 9.
    assert k.series[0].active == 9
    assert k.series[-1].active == k.active_total


def test_empty_history() -> None:
    k = compute([], START, END)
    assert k.trial_conversion.value is None and k.paid_churn.value is None
    assert k.active_total == 0 and k.mrr_stars == 0 and k.net_revenue_retention == Ratio(0, 0)


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


def test_what_happens_at_the_very_end_counts_and_at_the_start_does_not() -> None:
    """A sweep and /stats at the same instant agree: the period is (start, end]."""
    history = [
        ev(K.PAYMENT, 40, 1, plan="plus", billing="monthly", amount=300),
        ev(K.SIGNED_UP, 30, 2),  # exactly at the start: the previous period's
        ev(K.ACCESS_ENDED, 0, 1, billing="monthly", previous_state="cancel_scheduled"),
    ]
    k = compute(history, START, END)
    assert (k.signups, k.churned, k.paid_ended, k.mrr_stars, k.mrr_start_stars) == (0, 1, 1, 0, 300)
    assert k.series[-1].churned == 1 and k.series[-1].active == 0
