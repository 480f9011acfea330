"""The email journeys sweep: asks the database who is due for which step, queues the mail.

Set-based: for each journey step one query selects only the people whose trigger moment
falls in the step's window (`late_days` wide, never overlapping the next step), through
indexed columns. Rows go into the outbox with a key (journey, step, person, occasion), so a
second sweep for the same instant, or two sweeps at once, queue nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    String,
    cast,
    exists,
    func,
    literal,
    select,
)

from forever.db import outbox
from forever.db.functions import utc_day
from forever.db.models import Event, OutboxMessage, Person, Subscription, UsageCounter
from forever.db.repositories.customers import marketing_consent_given
from forever.domain.catalog import Catalog, Journey, OfferKind, Trigger
from forever.domain.journeys import quiet_until, zone_or_default
from forever.services.winback import winback_start_parameter

if TYPE_CHECKING:
    from forever.app import Container

log = logging.getLogger(__name__)

PARTITION = 2000
USAGE_WINDOW = timedelta(days=30)
ONE_DAY = timedelta(days=1)

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


class Candidate(NamedTuple):
    """One due person as `_candidates` selects them (plain tuples: a SQLAlchemy Row's
    attribute lookups cost more than building the whole outbox row)."""

    id: int
    language: str | None
    timezone: str | None
    plan_id: str | None
    period_end: datetime | None
    cancel_reason: str | None
    usage: int | None
    anchor: datetime
    key: str


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


def _outbox_key(window: Window, anchor: Any) -> ColumnElement[str]:
    """The outbox key (journey, step, person, occasion) as SQL: the occasion is the trigger's
    UTC day, so a later renewal, failure or departure starts the journey afresh."""
    prefix = f"j:{window.journey.id}:{window.index}:"
    return literal(prefix) + cast(Person.id, String) + literal(":") + utc_day(anchor)


def _usage(metric: str, now: datetime) -> ScalarSelect[Any]:
    """The person's usage over the last 30 days (one index probe per candidate)."""
    return (
        select(func.coalesce(func.sum(UsageCounter.value), 0))
        .where(UsageCounter.person_id == Person.id)
        .where(UsageCounter.metric == metric)
        .where(UsageCounter.period_start > now - USAGE_WINDOW)
        .scalar_subquery()
    )


def _candidates(catalog: Catalog, window: Window, now: datetime) -> Select[Any]:
    """The due people for one step who are not queued for it yet, with what the mail needs;
    only indexed ranges scanned, and the already-queued test is one key probe per person."""
    journey, low, high = window.journey, window.low, window.high
    sub = Subscription
    columns = [  # in the order of `Candidate`
        Person.id,
        Person.language,
        Person.timezone,
        sub.plan_id,
        sub.period_end,
        sub.cancel_reason,
        _usage(catalog.upgrade.usage_metric, now).label("usage"),
    ]
    trigger = journey.trigger
    if trigger is Trigger.PAYMENT_FAILED:
        anchor: Any = Event.at
        stmt = (
            select(*columns, anchor.label("anchor"))
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
        anchor = sub.period_end
        stmt = (
            select(*columns, anchor.label("anchor"))
            .select_from(sub)
            .join(Person, Person.id == sub.person_id)
            .where(anchor > lo, anchor <= hi)
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
    key = _outbox_key(window, anchor)
    # Skipping who is queued already here keeps a repeated or steady-state sweep to the
    # read; the insert's ON CONFLICT still guards against a sweep running at the same time.
    stmt = stmt.add_columns(key.label("key")).where(
        ~exists().where(OutboxMessage.idempotency_key == key)
    )
    assert tuple(stmt.selected_columns.keys()) == Candidate._fields
    return stmt


class JourneyPlanner:
    """Turns due people into outbox rows with personal content."""

    def __init__(self, container: Container, now: datetime) -> None:
        self.c = container
        self.catalog = container.catalog
        self.now = now
        self.default_zone = ZoneInfo(container.settings.timezone)
        self._quiet: dict[tuple[str | None, str | None], datetime] = {}
        # Memos for what repeats across rows: a sweep sees few distinct values of each.
        self._locales: dict[str | None, str] = {}
        self._plan_names: dict[tuple[str | None, str], str] = {}

    def _locale(self, language: str | None) -> str:
        found = self._locales.get(language)
        if found is None:
            found = self._locales[language] = self.c.renderer.locale_for(language)
        return found

    def _plan_name(self, plan_id: str | None, locale: str) -> str:
        found = self._plan_names.get((plan_id, locale))
        if found is None:
            plan = self.catalog.plan(plan_id) if plan_id else None
            found = self._plan_names[(plan_id, locale)] = plan.name[locale] if plan else ""
        return found

    def _offer(self, journey: Journey, row: Candidate, locale: str) -> dict[str, Any]:
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
        out["start_token"] = winback_start_parameter(self.c.signer, row.id, token_offer, expires)
        if offer is not None:
            out["offer_kind"] = offer.kind.value
            out["offer_percent"] = offer.percent
            out["offer_until"] = expires
            if target is not None:
                out["offer_plan_name"] = target.name[locale]
        return out

    def _anchor(self, row: Candidate) -> datetime:
        anchor: datetime = row.anchor
        if anchor.tzinfo is None:  # defensive: a labelled column that lost its type
            anchor = anchor.replace(tzinfo=self.now.tzinfo)
        return anchor

    def _not_before(self, timezone: str | None, language: str | None) -> datetime:
        """When quiet hours let a mail go at `now` for this zone and language."""
        found = self._quiet.get((timezone, language))
        if found is None:
            rules = self.catalog.email
            zone = zone_or_default(timezone, self.default_zone, language)
            found = quiet_until(self.now, zone, rules.quiet_start_hour, rules.quiet_end_hour)
            self._quiet[(timezone, language)] = found
        return found

    def rows_for(self, window: Window, found: Iterable[Any]) -> list[dict[str, Any]]:
        """Outbox rows for candidates that carry their outbox `key` and `usage` (see
        `_candidates`)."""
        journey, step = window.journey, window.index
        days = journey.days[step]
        with_offer = journey.trigger in (Trigger.TRIAL_EXPIRED, Trigger.ACCESS_ENDED)
        states = JOURNEY_STATES[journey.trigger]
        shared: dict[str, Any] = {
            "journey": journey.id,
            "step": step + 1,
            "steps": len(journey.days),
            "trial_days": self.catalog.trial.days,
            "usage_metric": self.catalog.upgrade.usage_metric,
        }
        if states is not None:
            shared["journey_states"] = list(states)
        out = []
        for row in map(Candidate._make, found):
            locale = self._locale(row.language)
            anchor = self._anchor(row)
            context = {
                **shared,
                "plan_name": self._plan_name(row.plan_id, locale),
                "plan_id": row.plan_id or "",
                "cancel_reason": row.cancel_reason or "",
                "access_until": row.period_end,
                "days_left": max(0, math.ceil((anchor - self.now) / ONE_DAY)) if days < 0 else 0,
                "days_since": max(0, (self.now - anchor).days),
                "usage": int(row.usage or 0),
            }
            if with_offer:
                context.update(self._offer(journey, row, locale))
            out.append(
                {
                    "key": row.key,
                    "channel": "email",
                    "person_id": row.id,
                    "template": journey.template,
                    "context": context,
                    "marketing": journey.marketing,
                    "not_before": self._not_before(row.timezone, row.language),
                }
            )
        return out


async def _queue(
    container: Container, planner: JourneyPlanner, window: Window, part: list[Any]
) -> int:
    rows = planner.rows_for(window, part)
    async with container.sessions.begin() as writer:
        return await outbox.enqueue_many(writer, rows, planner.now)


async def sweep_journeys(container: Container, now: datetime) -> int:
    """Queue every journey email due at `now`; returns how many new rows were queued.

    Each partition is built and written (in its own transaction) by a task while the next
    one is fetched, so the database's read, its insert and our Python work overlap; at
    most one partition is being written at a time, in order.
    """
    planner = JourneyPlanner(container, now)
    queued = 0
    writing: asyncio.Task[int] | None = None
    try:
        for window in windows(container.catalog, now):
            stmt = _candidates(container.catalog, window, now)
            async with container.sessions() as reader:
                # Core rows (no ORM entities to load), streamed so memory stays flat.
                connection = await reader.connection()
                result = await connection.stream(stmt.execution_options(yield_per=PARTITION))
                async for part in result.partitions(PARTITION):
                    if writing is not None:
                        queued += await writing
                    writing = asyncio.create_task(_queue(container, planner, window, part))
        if writing is not None:
            queued += await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
            with contextlib.suppress(BaseException):
                await writing
    if queued:
        log.info("journeys: %d new emails queued", queued)
    return queued
