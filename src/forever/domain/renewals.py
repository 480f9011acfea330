"""When a yearly member is told in chat that their year ends (issue 16, item 6).

A yearly plan is paid once and never renews by itself, so a member is told twice, whether or
not we have their email: `days_before` days before the end and when it has ended. Each step
is due from its moment for `late_days` (a sweep that did not run in time still sends it; an
older one is skipped), once per person, year (the end's UTC day) and step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from forever.domain.catalog import Trigger


class YearlyStep(StrEnum):
    ENDING = "ending"  # the year ends in a few days
    ENDED = "ended"  # the year has ended


@dataclass(frozen=True, slots=True)
class YearlyWindow:
    """Step `step` is due for yearly members whose period ends in (low, high], in `states`."""

    step: YearlyStep
    low: datetime
    high: datetime
    states: tuple[str, ...]
    # The delivery policy re-checks the step by this journey trigger's eligibility
    # (domain.marketing.JOURNEY_ELIGIBILITY): still an active yearly member, or still ended.
    trigger: Trigger


def yearly_windows(now: datetime, days_before: int, late_days: int) -> list[YearlyWindow]:
    """Each step's window at `now`."""
    before = timedelta(days=days_before)
    late = timedelta(days=max(late_days, 1))
    return [
        # Due from `days_before` before the end, until the end (or for `late`, if shorter).
        YearlyWindow(
            YearlyStep.ENDING,
            low=max(now, now + before - late),
            high=now + before,
            states=("active",),
            trigger=Trigger.RENEWAL,
        ),
        # Due from the end, for `late`.
        YearlyWindow(
            YearlyStep.ENDED,
            low=now - late,
            high=now,
            states=("expired",),
            trigger=Trigger.ACCESS_ENDED,
        ),
    ]


def yearly_key(person_id: int, period_end: datetime, step: YearlyStep) -> str:
    """One message per person, year (the end's UTC day) and step."""
    return f"yearly:{person_id}:{period_end.astimezone(UTC):%Y%m%d}:{step.value}"
