"""The numbers in /stats, computed from the event history alone (pure: no database here).

Everyone's membership is replayed from their events in time order, so figures for any period
(and the daily series for the chart) come from the same history the rest of the product
writes. Vocabulary: domain/events.py. Each figure is defined in the README ("The numbers").

A rate is a `Ratio` (its counts); it has a value only when its denominator is at least
`MIN_DENOMINATOR`: with fewer, a percentage says more than the data does, so only the counts
are shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from forever.domain.events import EventKind as K

# What a person's membership looks like to the numbers.
PAID, GRANTED, TRIAL, PAUSED, ENDED = "paid", "granted", "trial", "paused", "ended"
ACTIVE = frozenset({PAID, GRANTED})
# Billings of a membership someone paid for (a trial or a staff grant is not one).
PAID_BILLINGS = frozenset({"monthly", "yearly", "one_month"})

MIN_DENOMINATOR = 5  # below this, a rate is shown as its counts only
WINBACK_DAYS = 30  # "won back": paid again within this many days of their paid access ending


@dataclass(frozen=True, slots=True)
class EventRow:
    kind: str
    at: datetime
    person_id: int | None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ratio:
    """`part` out of `whole`; `value` is None when `whole` is too small to make a rate."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return self.part / self.whole if self.whole >= MIN_DENOMINATOR else None


@dataclass
class _Member:
    status: str = ""
    plan: str | None = None
    monthly_stars: float = 0.0  # what they pay per month while paid (their latest payment)
    past_due: bool = False
    before_pause: str = ""
    # The payments of the current paid membership not refunded (charge id, monthly value),
    # oldest first; and whether refunds took back every one of them.
    charges: list[tuple[str | None, float]] = field(default_factory=list)
    refunded_all: bool = False

    def restart(self) -> None:
        self.charges = []
        self.refunded_all = False


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: datetime  # end of the day (the instant counted, events at it included)
    active: int
    churned: int  # paid memberships that ended during that day


@dataclass(frozen=True, slots=True)
class OfferFigures:
    shown: int  # cancel attempts that saw this offer in the period
    saves: int  # of those, the ones where the offer was then accepted

    @property
    def save_rate(self) -> Ratio:
        return Ratio(self.saves, self.shown)


@dataclass(frozen=True, slots=True)
class Kpis:
    start: datetime
    end: datetime
    signups: int
    trials: int  # trials started in the period (the trial-conversion cohort)
    trials_converted: int  # of those, paid before the end of the period
    trials_running: int  # of those, still in their trial at the end
    in_trial_now: int
    active_by_plan: dict[str, int]  # paid and granted, at the end
    mrr_stars: int  # at the end
    mrr_start_stars: int  # at the start (the end of the previous period)
    retained_mrr_stars: int  # at the end, from the members who paid at the start
    paying_at_start: int
    churned: int  # of those paying at the start, how many paid memberships ended
    paid_ended: int  # every paid membership that ended in the period
    cancellations: int
    trial_cancellations: int
    cancel_reasons: dict[str, int]
    offers: dict[str, OfferFigures]  # the save offers shown in the cancel flow
    offers_accepted: dict[str, int]  # cancel-flow and win-back offers taken, per offer
    renewals: int  # recurring charges of Stars subscriptions in the period (not refunded)
    received_stars: int  # Stars paid in the period (XTR payments)
    refunded_stars: int  # Stars given back in the period (refunds of recorded payments)
    refunds: int  # how many payments were given back in the period
    pauses: int
    resumes: int
    access_ended: int  # people whose paid access ended in the period (win-back cohort)
    won_back: int  # of those, paid again within WINBACK_DAYS (seen by the end)
    winbacks_by_offer: int  # paid through a win-back offer link in the period
    emails_sent: int
    unsubscribes: int
    series: tuple[DayPoint, ...] = ()
    referred: int = 0  # people referred in the period (the referral-conversion cohort)
    referred_paid: int = 0  # of those, paid (a payment not refunded) by the end

    @property
    def referral_conversion(self) -> Ratio:
        return Ratio(self.referred_paid, self.referred)

    @property
    def revenue_stars(self) -> int:
        """Money as it really moved in the period: received minus refunded."""
        return self.received_stars - self.refunded_stars

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @property
    def winback_days(self) -> int:
        return WINBACK_DAYS

    @property
    def active_total(self) -> int:
        return sum(self.active_by_plan.values())

    @property
    def trial_conversion(self) -> Ratio:
        return Ratio(self.trials_converted, self.trials)

    @property
    def paid_churn(self) -> Ratio:
        return Ratio(self.churned, self.paying_at_start)

    @property
    def save_rate(self) -> Ratio:
        """All offers together."""
        return Ratio(
            sum(o.saves for o in self.offers.values()), sum(o.shown for o in self.offers.values())
        )

    @property
    def winback_rate(self) -> Ratio:
        return Ratio(self.won_back, self.access_ended)

    @property
    def net_revenue_retention(self) -> Ratio:
        return Ratio(self.retained_mrr_stars, self.mrr_start_stars)

    @property
    def mrr_change(self) -> Ratio:
        """The MRR trend: the change since the start, out of the MRR at the start."""
        return Ratio(self.mrr_stars - self.mrr_start_stars, self.mrr_start_stars)


def _monthly_value(data: Mapping[str, Any]) -> float:
    amount = float(data.get("amount") or 0)
    return amount / 12 if data.get("billing") == "yearly" else amount


def _apply(member: _Member, event: EventRow) -> bool:
    """Move `member` through `event`; True when a paid membership ended (churn)."""
    data = event.data
    kind = event.kind
    if kind == K.TRIAL_STARTED:
        member.status, member.plan = TRIAL, data.get("plan", member.plan)
        member.restart()
    elif kind == K.PAYMENT:
        if member.status != PAID:
            member.restart()
        member.status, member.plan = PAID, data.get("plan", member.plan)
        member.monthly_stars = _monthly_value(data)
        member.charges.append((data.get("charge_id"), member.monthly_stars))
        member.refunded_all = False
        member.past_due = False
    elif kind in (K.ACTIVATED, K.RENEWED, K.WINBACK_RECOVERED):
        if member.status != PAID:
            member.restart()
        member.status, member.plan = PAID, data.get("plan", member.plan)
        member.past_due = False
    elif kind == K.REFUNDED:
        # The refunded payment no longer pays for the membership: it pays what its latest
        # payment not refunded says, or nothing (access ends by ACCESS_ENDED, if it does).
        charge = data.get("charge_id")
        kept = [c for c in member.charges if c[0] is None or c[0] != charge]
        if len(kept) < len(member.charges):
            member.charges = kept
            member.monthly_stars = kept[-1][1] if kept else 0.0
            member.refunded_all = not kept
    elif kind == K.RESUMED:
        if member.status == PAUSED:
            member.status = member.before_pause or PAID
    elif kind == K.PLAN_CHANGED:
        member.plan = data.get("to_plan", member.plan)
    elif kind == K.PAUSED:
        if member.status != PAUSED:
            member.before_pause = member.status
        member.status = PAUSED
    elif kind == K.GRANTED:
        member.status, member.plan = GRANTED, data.get("plan", member.plan)
        member.monthly_stars = 0.0
        member.past_due = False
        member.restart()
    elif kind == K.PAYMENT_FAILED:
        member.past_due = member.status == PAID
    elif kind == K.CANCELED:
        # A cancel keeps access until the period ends (ACCESS_ENDED), except after a failed
        # renewal: then access ends at once, with no ACCESS_ENDED to follow.
        if member.past_due and member.status == PAID:
            member.status, member.past_due = ENDED, False
            return True
    elif kind == K.ACCESS_ENDED:
        was = member.status
        refunded_all = member.refunded_all
        member.status, member.past_due = ENDED, False
        member.restart()
        billing = data.get("billing")
        if was == "" and billing:  # history from before the replay knew this person
            return billing in PAID_BILLINGS
        # A membership whose every payment was given back was never paid for: not churn.
        return was == PAID and not refunded_all
    return False


def _count(events: Iterable[EventRow], kind: str, key: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for event in events:
        if event.kind == kind:
            found[str(event.data.get(key) or "")] += 1
    return found


def _offer_figures(
    in_period: list[EventRow], refunded_takes: set[tuple[int, datetime]]
) -> dict[str, OfferFigures]:
    """Each OFFER_SHOWN is one cancel attempt that saw that offer; it is a save when the same
    person accepts that offer before being shown another (and before the end), unless the
    payment that took the offer was refunded (`refunded_takes`: person and instant)."""
    shown: Counter[str] = Counter()
    saves: Counter[str] = Counter()
    open_offer: dict[int, str] = {}  # person -> the offer they were last shown, not yet taken
    for event in in_period:
        if event.person_id is None:
            continue
        offer = str(event.data.get("offer") or "")
        if event.kind == K.OFFER_SHOWN:
            shown[offer] += 1
            open_offer[event.person_id] = offer
        elif event.kind == K.OFFER_ACCEPTED and open_offer.get(event.person_id) == offer:
            if (event.person_id, event.at) not in refunded_takes:
                saves[offer] += 1
            del open_offer[event.person_id]
    return {o: OfferFigures(n, saves[o]) for o, n in shown.most_common()}


def _winbacks(
    ordered: list[EventRow],
    endings: dict[int, datetime],
    end: datetime,
    refunded_at: set[tuple[int, datetime]],
) -> int:
    """People in `endings` (person -> when their paid access ended) who paid again within
    WINBACK_DAYS of that (payments seen by `end`, not refunded)."""
    back: set[int] = set()
    for event in ordered:
        person = event.person_id
        if person is None or person not in endings or event.kind not in (K.PAYMENT, K.ACTIVATED):
            continue
        if (person, event.at) in refunded_at:
            continue
        ended = endings[person]
        if ended < event.at <= ended + timedelta(days=WINBACK_DAYS) and event.at <= end:
            back.add(person)
    return len(back)


def _refunds(
    ordered: list[EventRow],
) -> tuple[set[str], set[tuple[int, datetime]], set[tuple[int, datetime]]]:
    """What the refunds seen by the end take back: the refunded charge ids (of recorded
    payments), the (person, instant) of each refunded payment (the ACTIVATED, RENEWED or
    WINBACK_RECOVERED written with it share that instant), and the (person, instant) of each
    OFFER_ACCEPTED whose offer was then paid for by a refunded payment."""
    paid = {
        str(e.data["charge_id"]) for e in ordered if e.kind == K.PAYMENT and e.data.get("charge_id")
    }
    refunded = {
        str(e.data["charge_id"])
        for e in ordered
        if e.kind == K.REFUNDED and str(e.data.get("charge_id")) in paid
    }
    moments: set[tuple[int, datetime]] = set()
    takes: set[tuple[int, datetime]] = set()
    open_takes: dict[tuple[int, str], datetime] = {}  # (person, offer) -> accepted at
    for e in ordered:
        if e.person_id is None:
            continue
        offer = str(e.data.get("offer") or "")
        if e.kind == K.OFFER_ACCEPTED:
            open_takes[(e.person_id, offer)] = e.at
        elif e.kind == K.PAYMENT:
            refunded_payment = str(e.data.get("charge_id")) in refunded
            if refunded_payment:
                moments.add((e.person_id, e.at))
            taken = open_takes.pop((e.person_id, offer), None) if offer else None
            if taken is not None and refunded_payment:
                takes.add((e.person_id, taken))
    return refunded, moments, takes


def compute(events: Iterable[EventRow], start: datetime, end: datetime) -> Kpis:
    """Figures for the period (start, end]: what happened after `start` up to and including
    `end` (so a sweep and /stats at the same instant agree); `events` may reach back before
    `start`, and any after `end` are left out."""
    ordered = sorted((e for e in events if e.at <= end), key=lambda e: e.at)
    in_period = [e for e in ordered if e.at > start]
    refunded, refunded_at, refunded_takes = _refunds(ordered)

    def kept(e: EventRow) -> bool:  # not taken back by a refund seen by the end
        return e.person_id is None or (e.person_id, e.at) not in refunded_at

    members: dict[int, _Member] = {}
    at_start: dict[int, float] = {}  # person -> monthly value, for those paying at the start
    churned: set[int] = set()
    first_paid_end: dict[int, datetime] = {}
    paid_ended = 0
    trial_cancels = 0
    checkpoints = _day_ends(start, end)
    series: list[DayPoint] = []
    day_churn = 0
    index = 0
    started = False
    for event in [*ordered, None]:
        if not started and (event is None or event.at > start):
            at_start = {p: m.monthly_stars for p, m in members.items() if m.status == PAID}
            started = True
        while index < len(checkpoints) and (event is None or event.at > checkpoints[index]):
            active = sum(1 for m in members.values() if m.status in ACTIVE)
            series.append(DayPoint(checkpoints[index], active, day_churn))
            day_churn = 0
            index += 1
        if event is None or event.person_id is None:
            continue
        member = members.setdefault(event.person_id, _Member())
        if event.kind == K.CANCELED and event.at > start and member.status == TRIAL:
            trial_cancels += 1
        if _apply(member, event) and event.at > start:
            paid_ended += 1
            day_churn += 1
            first_paid_end.setdefault(event.person_id, event.at)
            if event.person_id in at_start:
                churned.add(event.person_id)
    trial_people: dict[int, datetime] = {}
    for e in in_period:
        if e.kind == K.TRIAL_STARTED and e.person_id is not None:
            trial_people.setdefault(e.person_id, e.at)
    converted = {
        e.person_id
        for e in in_period
        if e.kind in (K.PAYMENT, K.ACTIVATED)
        and kept(e)
        and e.person_id in trial_people
        and e.at >= trial_people[e.person_id]
    }
    running = sum(1 for p in trial_people if p not in converted and members[p].status == TRIAL)
    referred_people: dict[int, datetime] = {}
    for e in in_period:
        if e.kind == K.REFERRED and e.person_id is not None:
            referred_people.setdefault(e.person_id, e.at)
    referred_paid = {
        e.person_id
        for e in ordered
        if e.kind == K.PAYMENT
        and kept(e)
        and e.person_id in referred_people
        and e.at >= referred_people[e.person_id]
    }
    active_by_plan: Counter[str] = Counter(
        m.plan or "?" for m in members.values() if m.status in ACTIVE
    )
    paying_now = {p: m.monthly_stars for p, m in members.items() if m.status == PAID}
    accepted = _count(
        [e for e in in_period if (e.person_id, e.at) not in refunded_takes],
        K.OFFER_ACCEPTED,
        "offer",
    )
    by_winback = [e for e in in_period if e.kind == K.WINBACK_RECOVERED and kept(e)]
    accepted.update(str(e.data["offer"]) for e in by_winback if e.data.get("offer"))
    return Kpis(
        start=start,
        end=end,
        signups=sum(1 for e in in_period if e.kind == K.SIGNED_UP),
        trials=len(trial_people),
        trials_converted=len(converted),
        trials_running=running,
        in_trial_now=sum(1 for m in members.values() if m.status == TRIAL),
        active_by_plan=dict(sorted(active_by_plan.items())),
        mrr_stars=round(sum(paying_now.values())),
        mrr_start_stars=round(sum(at_start.values())),
        retained_mrr_stars=round(sum(v for p, v in paying_now.items() if p in at_start)),
        paying_at_start=len(at_start),
        churned=len(churned),
        paid_ended=paid_ended,
        cancellations=sum(1 for e in in_period if e.kind == K.CANCELED),
        trial_cancellations=trial_cancels,
        cancel_reasons=dict(_count(in_period, K.CANCEL_REASON, "reason").most_common()),
        offers=_offer_figures(in_period, refunded_takes),
        offers_accepted=dict(accepted.most_common()),
        renewals=sum(1 for e in in_period if e.kind == K.RENEWED and kept(e)),
        received_stars=sum(
            int(e.data.get("amount") or 0)
            for e in in_period
            if e.kind == K.PAYMENT and e.data.get("currency", "XTR") == "XTR"
        ),
        refunded_stars=sum(
            int(e.data.get("amount") or 0)
            for e in in_period
            if e.kind == K.REFUNDED and str(e.data.get("charge_id")) in refunded
        ),
        refunds=sum(
            1
            for e in in_period
            if e.kind == K.REFUNDED and str(e.data.get("charge_id")) in refunded
        ),
        pauses=sum(1 for e in in_period if e.kind == K.PAUSED),
        resumes=sum(1 for e in in_period if e.kind == K.RESUMED),
        access_ended=len(first_paid_end),
        won_back=_winbacks(ordered, first_paid_end, end, refunded_at),
        winbacks_by_offer=len(by_winback),
        emails_sent=sum(1 for e in in_period if e.kind == K.EMAIL_SENT),
        unsubscribes=sum(1 for e in in_period if e.kind == K.UNSUBSCRIBED),
        series=tuple(series),
        referred=len(referred_people),
        referred_paid=len(referred_paid),
    )


def _day_ends(start: datetime, end: datetime) -> list[datetime]:
    """One instant per day of the period, the last being `end` itself."""
    points: list[datetime] = []
    moment = start + timedelta(days=1)
    while moment < end:
        points.append(moment)
        moment += timedelta(days=1)
    points.append(end)
    return points
