"""The numbers in /stats, computed from the event history alone (pure: no database here).

Everyone's membership is replayed from their events in time order, so figures for any period
(and the daily series for the chart) come from the same history the rest of the product
writes. Vocabulary: domain/events.py.
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


@dataclass(frozen=True, slots=True)
class EventRow:
    kind: str
    at: datetime
    person_id: int | None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Member:
    status: str = ""
    plan: str | None = None
    monthly_stars: float = 0.0  # what they pay per month while paid


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: datetime  # end of the day (the instant counted)
    active: int
    churned: int  # paid memberships that ended during that day


@dataclass(frozen=True, slots=True)
class Kpis:
    start: datetime
    end: datetime
    signups: int
    trials: int
    trials_converted: int
    active_by_plan: dict[str, int]
    mrr_stars: int
    paying_at_start: int
    churned: int
    cancellations: int
    cancel_reasons: dict[str, int]
    offers_shown: dict[str, int]
    offers_accepted: dict[str, int]
    pauses: int
    resumes: int
    winbacks: int
    emails_sent: int
    unsubscribes: int
    series: tuple[DayPoint, ...] = ()

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    @property
    def active_total(self) -> int:
        return sum(self.active_by_plan.values())

    @property
    def trial_to_paid(self) -> float | None:
        return self.trials_converted / self.trials if self.trials else None

    @property
    def monthly_churn(self) -> float | None:
        """Paid memberships that ended, per paying member at the start, scaled to 30 days."""
        if not self.paying_at_start or self.days <= 0:
            return None
        return self.churned / self.paying_at_start * 30 / self.days


def _monthly_value(data: Mapping[str, Any]) -> float:
    amount = float(data.get("amount") or 0)
    return amount / 12 if data.get("billing") == "yearly" else amount


def _apply(member: _Member, event: EventRow) -> bool:
    """Move `member` through `event`; True when a paid membership ended (churn)."""
    data = event.data
    kind = event.kind
    if kind == K.TRIAL_STARTED:
        member.status, member.plan = TRIAL, data.get("plan", member.plan)
    elif kind == K.PAYMENT:
        member.status, member.plan = PAID, data.get("plan", member.plan)
        member.monthly_stars = _monthly_value(data)
    elif kind in (K.ACTIVATED, K.RENEWED, K.RESUMED, K.WINBACK_RECOVERED):
        # A cancellation keeps access until ACCESS_ENDED, so it changes nothing here.
        member.status, member.plan = PAID, data.get("plan", member.plan)
    elif kind == K.PLAN_CHANGED:
        member.plan = data.get("to_plan", member.plan)
    elif kind == K.PAUSED:
        member.status = PAUSED
    elif kind == K.GRANTED:
        member.status, member.plan = GRANTED, data.get("plan", member.plan)
    elif kind == K.ACCESS_ENDED:
        was = member.status
        member.status = ENDED
        return was == PAID or data.get("previous_state") in ("active", "cancel_scheduled")
    return False


def _count(events: Iterable[EventRow], kind: str, key: str | None = None) -> Counter[str]:
    found: Counter[str] = Counter()
    for event in events:
        if event.kind == kind:
            found[str(event.data.get(key, "")) if key else kind] += 1
    return found


def compute(events: Iterable[EventRow], start: datetime, end: datetime) -> Kpis:
    """Figures for the period [start, end); `events` may reach back before `start`."""
    ordered = sorted((e for e in events if e.at < end), key=lambda e: e.at)
    in_period = [e for e in ordered if e.at >= start]
    members: dict[int, _Member] = {}
    paying_at_start = 0
    churned = 0
    checkpoints = _day_ends(start, end)
    series: list[DayPoint] = []
    day_churn = 0
    index = 0
    started = False
    for event in [*ordered, None]:
        at = event.at if event is not None else end
        if not started and at >= start:
            paying_at_start = sum(1 for m in members.values() if m.status == PAID)
            started = True
        while index < len(checkpoints) and at >= checkpoints[index]:
            active = sum(1 for m in members.values() if m.status in ACTIVE)
            series.append(DayPoint(checkpoints[index], active, day_churn))
            day_churn = 0
            index += 1
        if event is None or event.person_id is None:
            continue
        member = members.setdefault(event.person_id, _Member())
        if _apply(member, event) and event.at >= start:
            churned += 1
            day_churn += 1
    trial_people = {e.person_id: e.at for e in in_period if e.kind == K.TRIAL_STARTED}
    converted = {
        e.person_id
        for e in in_period
        if e.kind in (K.PAYMENT, K.ACTIVATED)
        and e.person_id in trial_people
        and e.at >= trial_people[e.person_id]
    }
    active_by_plan: Counter[str] = Counter(
        m.plan or "?" for m in members.values() if m.status in ACTIVE
    )
    mrr = sum(m.monthly_stars for m in members.values() if m.status == PAID)
    return Kpis(
        start=start,
        end=end,
        signups=sum(1 for e in in_period if e.kind == K.SIGNED_UP),
        trials=len(trial_people),
        trials_converted=len(converted),
        active_by_plan=dict(sorted(active_by_plan.items())),
        mrr_stars=round(mrr),
        paying_at_start=paying_at_start,
        churned=churned,
        cancellations=sum(1 for e in in_period if e.kind == K.CANCELED),
        cancel_reasons=dict(_count(in_period, K.CANCEL_REASON, "reason").most_common()),
        offers_shown=dict(_count(in_period, K.OFFER_SHOWN, "offer").most_common()),
        offers_accepted=dict(_count(in_period, K.OFFER_ACCEPTED, "offer").most_common()),
        pauses=sum(1 for e in in_period if e.kind == K.PAUSED),
        resumes=sum(1 for e in in_period if e.kind == K.RESUMED),
        winbacks=sum(1 for e in in_period if e.kind == K.WINBACK_RECOVERED),
        emails_sent=sum(1 for e in in_period if e.kind == K.EMAIL_SENT),
        unsubscribes=sum(1 for e in in_period if e.kind == K.UNSUBSCRIBED),
        series=tuple(series),
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
