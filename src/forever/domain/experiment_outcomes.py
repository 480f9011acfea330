"""What counts as success on each experiment surface, read from a person's events after their
first exposure. An outcome is known (the person is "measured") only once its window has
passed, so a fresh exposure never counts as a failure.

- cancel_offer: still keeping the membership 30 days after the cancel: the last word in the
  window is a payment, an undone cancel or an accepted offer (a pause counts), not a new
  cancel or the end of access.
- winback_offer: paying again within 30 days.
- trial_length: converted to paid within 60 days of the trial's start.
- plan_price: converted within 90 days, and the Stars received (less refunds) in them.
- upgrade_prompt: moved to a higher plan within 14 days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from forever.domain.events import EventKind
from forever.domain.experiments import Surface

WINDOW_DAYS = {
    Surface.CANCEL_OFFER: 30,
    Surface.WINBACK_OFFER: 30,
    Surface.TRIAL_LENGTH: 60,
    Surface.PLAN_PRICE: 90,
    Surface.UPGRADE_PROMPT: 14,
}

_KEEPS = frozenset({EventKind.PAYMENT, EventKind.CANCEL_UNDONE, EventKind.OFFER_ACCEPTED})
_LOSES = frozenset({EventKind.CANCELED, EventKind.ACCESS_ENDED})


@dataclass(frozen=True, slots=True)
class Happened:
    """One event of the person, as outcomes need it."""

    kind: str
    at: datetime
    data: dict[str, object]


@dataclass(frozen=True, slots=True)
class Outcome:
    measured: bool
    converted: bool
    stars: int = 0
    churned: bool = False  # plan_price: paid, then the paid access ended within the window


def window(surface: Surface) -> timedelta:
    return timedelta(days=WINDOW_DAYS[surface])


def outcome(
    surface: Surface,
    exposed_at: datetime,
    events: Iterable[Happened],
    now: datetime,
    *,
    tiers: dict[str, int] | None = None,
    from_plan: str | None = None,
) -> Outcome:
    """The outcome of one exposed person; `tiers` (plan id -> tier) tells an upgrade from
    `from_plan` (the plan at exposure): a plan change upwards, or a trial member buying a
    higher plan than the trial's."""
    end = exposed_at + window(surface)
    if now < end:
        return Outcome(measured=False, converted=False)
    inside = sorted((e for e in events if exposed_at < e.at <= end), key=lambda e: e.at)
    if surface is Surface.CANCEL_OFFER:
        kept = False
        for e in inside:
            if e.kind in _KEEPS:
                kept = True
            elif e.kind in _LOSES:
                kept = False
        return Outcome(True, kept)
    if surface is Surface.UPGRADE_PROMPT:
        ranks = tiers or {}

        def higher(plan: object, than: object) -> bool:
            return ranks.get(str(plan), 0) > ranks.get(str(than), 0)

        up = any(
            (
                e.kind == EventKind.PLAN_CHANGED
                and higher(e.data.get("to_plan"), e.data.get("from_plan"))
            )
            or (e.kind == EventKind.ACTIVATED and higher(e.data.get("plan"), from_plan))
            for e in inside
        )
        return Outcome(True, up)
    paid = [e for e in inside if e.kind == EventKind.PAYMENT]
    if surface is Surface.PLAN_PRICE:
        received = sum(_stars(e) for e in paid) - sum(
            _stars(e) for e in inside if e.kind == EventKind.REFUNDED
        )
        # Paid churn: their paid access ended again within the window, after paying.
        churned = bool(paid) and any(
            e.kind == EventKind.ACCESS_ENDED and e.at > paid[0].at for e in inside
        )
        return Outcome(True, bool(paid), max(0, received), churned)
    return Outcome(True, bool(paid))


def _stars(e: Happened) -> int:
    amount = e.data.get("amount")
    return amount if isinstance(amount, int) and e.data.get("currency", "XTR") == "XTR" else 0
