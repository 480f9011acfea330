"""Figures of the owner console beyond /stats, on the same replay (domain/kpi.py).

Cohort retention: people grouped by the month they signed up; for each later month end, the
share of the cohort with access then (paid or granted, as `kpi.ACTIVE` counts "active").
Revenue by plan: Stars received in a period per plan (the breakdown of
`Kpis.received_stars`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from forever.domain.events import EventKind as K
from forever.domain.kpi import ACTIVE, EventRow, Ratio, _apply, _Member


@dataclass(frozen=True, slots=True)
class Cohort:
    month: str  # YYYY-MM, the month they signed up (UTC)
    size: int
    active: tuple[int, ...]  # with access at the end of month 0, 1, 2... (up to now)

    def rates(self) -> tuple[Ratio, ...]:
        return tuple(Ratio(n, self.size) for n in self.active)


def _month(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def _month_ends(first: str, end: datetime) -> list[datetime]:
    """The first instant of each month after `first` up to `end`, then `end` itself."""
    year, month = int(first[:4]), int(first[5:])
    points: list[datetime] = []
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        moment = datetime(year, month, 1, tzinfo=UTC)
        if moment >= end:
            points.append(end)
            return points
        points.append(moment)


def _past(at: datetime, point: datetime, end: datetime) -> bool:
    """Whether an event at `at` comes after the snapshot at `point`: a month's first instant
    belongs to the new month; `end` itself is included, as in /stats."""
    return at > point if point == end else at >= point


def cohort_retention(events: Iterable[EventRow], end: datetime, months: int = 12) -> list[Cohort]:
    """The cohorts of the last `months` sign-up months up to `end`, oldest first."""
    ordered = sorted((e for e in events if e.at <= end), key=lambda e: e.at)
    joined: dict[int, str] = {}
    for e in ordered:
        if e.kind == K.SIGNED_UP and e.person_id is not None:
            joined.setdefault(e.person_id, _month(e.at))
    wanted = sorted(set(joined.values()))[-months:]
    if not wanted:
        return []
    checkpoints = _month_ends(wanted[0], end)
    members: dict[int, _Member] = {}
    counts: dict[str, list[int]] = {m: [] for m in wanted}
    index = 0
    for event in [*ordered, None]:
        while index < len(checkpoints) and (
            event is None or _past(event.at, checkpoints[index], end)
        ):
            point = checkpoints[index]
            at_point: Counter[str] = Counter(
                joined[p] for p, m in members.items() if m.status in ACTIVE and p in joined
            )
            for month in wanted:
                # A cohort's month 0 ends at the first checkpoint after its month begins.
                if _month(point) > month or point == end:
                    counts[month].append(at_point[month])
            index += 1
        if event is None or event.person_id is None:
            continue
        _apply(members.setdefault(event.person_id, _Member()), event)
    sizes = Counter(m for m in joined.values() if m in counts)
    return [Cohort(m, sizes[m], tuple(counts[m])) for m in wanted]


def revenue_by_plan(events: Iterable[EventRow], start: datetime, end: datetime) -> dict[str, int]:
    """Stars received in (start, end] per plan, largest first."""
    found: Counter[str] = Counter()
    for e in events:
        if start < e.at <= end and e.kind == K.PAYMENT and e.data.get("currency", "XTR") == "XTR":
            found[str(e.data.get("plan") or "?")] += int(e.data.get("amount") or 0)
    return dict(found.most_common())
