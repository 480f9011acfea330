"""The email journeys sweep: asks the database who is due for which step, queues the mail.

Set-based: for each journey step one query selects only the people whose trigger moment
falls in the step's window (`late_days` wide, never overlapping the next step), through
indexed columns. Rows go into the outbox with a key (journey, step, person, occasion), so a
second sweep for the same instant, or two sweeps at once, queue nothing new.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import Event, Person, Subscription, UsageCounter
from forever.domain.catalog import Catalog, Journey, OfferKind, Trigger
from forever.domain.journeys import quiet_until, zone_or_default
from forever.services import outbox
from forever.services.consent import marketing_consent_given
from forever.services.winback import winback_start_parameter

if TYPE_CHECKING:
    from forever.app import Container

log = logging.getLogger(__name__)

PARTITION = 2000
USAGE_WINDOW = timedelta(days=30)

# The subscription states in which each journey still makes sense; the sender checks them
# again just before sending, so a resubscription ends a journey even for queued mail.
JOURNEY_STATES: dict[Trigger, tuple[str, ...] | None] = {
    Trigger.SIGNUP: None,
    Trigger.TRIAL_START: ("trial",),
    Trigger.TRIAL_END: ("trial", "cancel_scheduled"),
    Trigger.TRIAL_EXPIRED: ("expired", "none"),
    Trigger.RENEWAL: ("active",),
    Trigger.PAYMENT_FAILED: ("past_due",),
    Trigger.INACTIVE: ("trial", "active", "cancel_scheduled"),
    Trigger.ACCESS_ENDED: ("expired", "none"),
}


@dataclass(frozen=True, slots=True)
class Window:
    """Step `index` of `journey` is due for anchors in (low, high]."""

    journey: Journey
    index: int
    low: datetime
    high: datetime


def windows(catalog: Catalog, now: datetime) -> list[Window]:
    late = timedelta(days=catalog.email.late_days)
    out = []
    for journey in catalog.journeys:
        for index, days in enumerate(journey.days):
            width = late
            if index + 1 < len(journey.days):
                width = min(width, timedelta(days=journey.days[index + 1] - days))
            due = now - timedelta(days=days)  # anchor + days <= now  <=>  anchor <= due
            out.append(Window(journey, index, low=due - width, high=due))
    return out


def _candidates(catalog: Catalog, window: Window) -> Select[Any]:
    """The due people for one step, with what the mail needs; only indexed ranges scanned."""
    journey, low, high = window.journey, window.low, window.high
    sub = Subscription
    columns = [
        Person.id,
        Person.first_name,
        Person.language,
        Person.timezone,
        sub.plan_id,
        sub.billing,
        sub.period_end,
        sub.cancel_reason,
    ]
    trigger = journey.trigger
    if trigger is Trigger.PAYMENT_FAILED:
        stmt = (
            select(*columns, Event.at.label("anchor"))
            .select_from(Event)
            .join(Person, Person.id == Event.person_id)
            .join(sub, sub.person_id == Person.id)
            .where(Event.kind == "payment_failed", Event.at > low, Event.at <= high)
            .where(sub.state == "past_due")
        )
    elif trigger in (Trigger.SIGNUP, Trigger.INACTIVE):
        anchor = Person.created_at if trigger is Trigger.SIGNUP else Person.last_seen_at
        stmt = (
            select(*columns, anchor.label("anchor"))
            .select_from(Person)
            .outerjoin(sub, sub.person_id == Person.id)
            .where(anchor > low, anchor <= high)
        )
        if trigger is Trigger.INACTIVE:
            stmt = stmt.where(sub.state.in_(("trial", "active")))
    else:
        shift = timedelta(days=catalog.trial.days) if trigger is Trigger.TRIAL_START else None
        lo, hi = (low + shift, high + shift) if shift else (low, high)
        anchor_col = sub.period_end
        stmt = (
            select(*columns, anchor_col.label("anchor"))
            .select_from(sub)
            .join(Person, Person.id == sub.person_id)
            .where(anchor_col > lo, anchor_col <= hi)
        )
        if trigger in (Trigger.TRIAL_START,):
            stmt = stmt.where(sub.state == "trial")
        elif trigger is Trigger.TRIAL_END:
            stmt = stmt.where(sub.state.in_(("trial", "cancel_scheduled")), sub.billing == "trial")
        elif trigger is Trigger.TRIAL_EXPIRED:
            stmt = stmt.where(sub.state == "expired", sub.billing == "trial")
        elif trigger is Trigger.RENEWAL:
            stmt = stmt.where(sub.state == "active", sub.billing == "yearly")
        elif trigger is Trigger.ACCESS_ENDED:
            stmt = stmt.where(sub.state == "expired", sub.billing != "trial")
    stmt = (
        stmt.where(Person.erased_at.is_(None))
        .where(Person.email.is_not(None))
        .where(Person.email_status != "undeliverable")
    )
    if journey.marketing:
        stmt = stmt.where(exists().where(marketing_consent_given(Person.id)))
    return stmt


class JourneyPlanner:
    """Turns due people into outbox rows with personal content."""

    def __init__(self, container: Container, now: datetime) -> None:
        self.c = container
        self.catalog = container.catalog
        self.now = now
        self.default_zone = ZoneInfo(container.settings.timezone)

    def _locale(self, language: str | None) -> str:
        return self.c.renderer.locale_for(language)

    def _plan_name(self, plan_id: str | None, locale: str) -> str:
        plan = self.catalog.plan(plan_id) if plan_id else None
        return plan.name[locale] if plan else ""

    def _offer(self, journey: Journey, row: Any, locale: str) -> dict[str, Any]:
        offer_id = journey.offer_id_for(row.cancel_reason)
        offer = self.catalog.offers.get(offer_id) if offer_id else None
        out: dict[str, Any] = {
            "offer_kind": None,
            "offer_percent": 0,
            "offer_plan_name": "",
            "offer_until": None,
        }
        target = None
        if offer is not None and offer.kind is OfferKind.LOWER_TIER:
            target = self.catalog.next_tier_down(row.plan_id) if row.plan_id else None
            if target is None:  # nothing cheaper: fall back to the journey's default offer
                offer_id = journey.offers.get("default")
                offer = self.catalog.offers.get(offer_id) if offer_id else None
                if offer is not None and offer.kind is OfferKind.LOWER_TIER:
                    offer = None
        expires = self.now + timedelta(days=journey.offer_valid_days)
        # The chat side reads this /start parameter (services/winback.py) and applies the
        # offer for this person only; "none" opens the bot with no offer.
        token_offer = offer.id if offer is not None else "none"
        out["start_token"] = winback_start_parameter(self.c, row.id, token_offer, expires)
        if offer is not None:
            out["offer_kind"] = offer.kind.value
            out["offer_percent"] = offer.percent
            out["offer_until"] = expires
            if target is not None:
                out["offer_plan_name"] = target.name[locale]
        return out

    def _anchor(self, row: Any) -> datetime:
        anchor: datetime = row.anchor
        if anchor.tzinfo is None:  # defensive: a labelled column that lost its type
            anchor = anchor.replace(tzinfo=self.now.tzinfo)
        return anchor

    def key(self, window: Window, row: Any) -> str:
        """(journey, step, person, occasion): the occasion is the trigger's day, so a later
        renewal, failure or departure starts the journey afresh."""
        return f"j:{window.journey.id}:{window.index}:{row.id}:{self._anchor(row):%Y%m%d}"

    def rows_for(
        self, window: Window, found: Iterable[Any], usage: dict[int, int]
    ) -> list[dict[str, Any]]:
        journey, step = window.journey, window.index
        days = journey.days[step]
        rules = self.catalog.email
        out = []
        for row in found:
            locale = self._locale(row.language)
            anchor = self._anchor(row)
            context: dict[str, Any] = {
                "journey": journey.id,
                "step": step + 1,
                "steps": len(journey.days),
                "plan_name": self._plan_name(row.plan_id, locale),
                "plan_id": row.plan_id or "",
                "cancel_reason": row.cancel_reason or "",
                "access_until": row.period_end,
                "days_left": max(0, math.ceil((anchor - self.now) / timedelta(days=1)))
                if days < 0
                else 0,
                "days_since": max(0, (self.now - anchor).days),
                "trial_days": self.catalog.trial.days,
                "usage": usage.get(row.id, 0),
                "usage_metric": self.catalog.upgrade.usage_metric,
            }
            states = JOURNEY_STATES[journey.trigger]
            if states is not None:
                context["journey_states"] = list(states)
            if journey.trigger in (Trigger.TRIAL_EXPIRED, Trigger.ACCESS_ENDED):
                context.update(self._offer(journey, row, locale))
            zone = zone_or_default(row.timezone, self.default_zone, row.language)
            out.append(
                {
                    "key": self.key(window, row),
                    "channel": "email",
                    "person_id": row.id,
                    "template": journey.template,
                    "context": context,
                    "marketing": journey.marketing,
                    "not_before": quiet_until(
                        self.now, zone, rules.quiet_start_hour, rules.quiet_end_hour
                    ),
                }
            )
        return out


async def _usage(
    session: AsyncSession, metric: str, ids: list[int], now: datetime
) -> dict[int, int]:
    if not ids:
        return {}
    result = await session.execute(
        select(UsageCounter.person_id, func.sum(UsageCounter.value))
        .where(UsageCounter.person_id.in_(ids))
        .where(UsageCounter.metric == metric)
        .where(UsageCounter.period_start > now - USAGE_WINDOW)
        .group_by(UsageCounter.person_id)
    )
    return {pid: int(total or 0) for pid, total in result}


async def sweep_journeys(container: Container, now: datetime) -> int:
    """Queue every journey email due at `now`; returns how many new rows were queued."""
    planner = JourneyPlanner(container, now)
    metric = container.catalog.upgrade.usage_metric
    queued = 0
    for window in windows(container.catalog, now):
        stmt = _candidates(container.catalog, window)
        async with container.sessions() as reader:
            result = await reader.stream(stmt.execution_options(yield_per=PARTITION))
            async for part in result.partitions(PARTITION):
                async with container.sessions.begin() as writer:
                    # Skip who is queued already before doing any work for them: a second
                    # sweep for the same instant costs one indexed lookup per partition.
                    keyed = {planner.key(window, row): row for row in part}
                    done = await outbox.queued_keys(writer, list(keyed))
                    new = [row for key, row in keyed.items() if key not in done]
                    if not new:
                        continue
                    usage = await _usage(writer, metric, [r.id for r in new], now)
                    rows = planner.rows_for(window, new, usage)
                    queued += await outbox.enqueue_many(writer, rows, now)
    if queued:
        log.info("journeys: %d new emails queued", queued)
    return queued
