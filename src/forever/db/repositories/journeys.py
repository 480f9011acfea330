"""Who is due for a journey step: the policy's window and eligibility as one indexed query.

Set-based: for each step one query selects only the people whose trigger moment falls in the
step's window, through indexed columns; the already-queued test is one key probe per person,
so a repeated or steady-state sweep costs only the read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, String, cast, exists, func, literal
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from forever.db.functions import utc_day
from forever.db.models import Consent, Event, OutboxMessage, Person, Subscription, UsageCounter
from forever.domain.catalog import Trigger
from forever.domain.marketing import Eligibility, Window

PARTITION = 2000
USAGE_WINDOW = timedelta(days=30)
CONSENT_CHANNEL = "email"
CONSENT_PURPOSE = "marketing"

# The columns of a candidate, in the order services.journeys.Candidate names them.
CANDIDATE_FIELDS = (
    "id",
    "language",
    "timezone",
    "plan_id",
    "period_end",
    "cancel_reason",
    "usage",
    "anchor",
    "key",
)


_GIFT_EVENTS = ("offer_accepted", "winback_recovered")


class SqlGiftHistory:
    """services.journeys.GiftHistory: gift offers taken (a save accepted, a win-back paid)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def gifted(
        self, person_ids: Sequence[int], offer_ids: Sequence[str], since: datetime
    ) -> set[int]:
        if not person_ids or not offer_ids:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(
                sql_select(Event.person_id)
                .where(Event.person_id.in_(list(person_ids)))
                .where(Event.kind.in_(_GIFT_EVENTS), Event.at >= since)
                .where(Event.data["offer"].as_string().in_(list(offer_ids)))
                .distinct()
            )
            return {pid for pid in rows if pid is not None}


def consent_given(person_id: Any) -> ColumnElement[bool]:
    """Confirmed, not withdrawn marketing consent for `person_id` (a column or a value)."""
    condition: ColumnElement[bool] = (
        (Consent.person_id == person_id)
        & (Consent.channel == CONSENT_CHANNEL)
        & (Consent.purpose == CONSENT_PURPOSE)
        & Consent.confirmed_at.is_not(None)
        & Consent.withdrawn_at.is_(None)
    )
    return condition


def eligible(rule: Eligibility) -> list[ColumnElement[bool]]:
    """`Eligibility.applies` as SQL over the joined subscription."""
    sub = Subscription
    out: list[ColumnElement[bool]] = []
    if rule.states is not None:
        out.append(sub.state.in_(sorted(rule.states)))
    if rule.billings is not None:
        out.append(sub.billing.in_(sorted(rule.billings)))
    if rule.not_billings is not None:
        out.append(sub.billing.not_in(sorted(rule.not_billings)))  # NULL does not qualify
    return out


def _usage(metric: str, now: datetime) -> ScalarSelect[Any]:
    """The person's usage over the last 30 days (one index probe per candidate)."""
    return (
        sql_select(func.coalesce(func.sum(UsageCounter.value), 0))
        .where(UsageCounter.person_id == Person.id)
        .where(UsageCounter.metric == metric)
        .where(UsageCounter.period_start > now - USAGE_WINDOW)
        .scalar_subquery()
    )


def candidates(window: Window, *, now: datetime, usage_metric: str, trial_days: int) -> Select[Any]:
    """The due people for one step who are not queued for it yet, with what the mail needs."""
    journey, low, high = window.journey, window.low, window.high
    sub = Subscription
    columns = [
        Person.id,
        Person.language,
        Person.timezone,
        sub.plan_id,
        sub.period_end,
        sub.cancel_reason,
        _usage(usage_metric, now).label("usage"),
    ]
    trigger = journey.trigger
    anchor: Any
    if trigger is Trigger.PAYMENT_FAILED:
        anchor = Event.at
        stmt = (
            sql_select(*columns, anchor.label("anchor"))
            .select_from(Event)
            .join(Person, Person.id == Event.person_id)
            .join(sub, sub.person_id == Person.id)
            .where(Event.kind == "payment_failed", Event.at > low, Event.at <= high)
        )
    elif trigger in (Trigger.SIGNUP, Trigger.INACTIVE):
        anchor = Person.created_at if trigger is Trigger.SIGNUP else Person.last_seen_at
        stmt = (
            sql_select(*columns, anchor.label("anchor"))
            .select_from(Person)
            .outerjoin(sub, sub.person_id == Person.id)
            .where(anchor > low, anchor <= high)
        )
    else:  # anchored on the end of the period
        shift = timedelta(days=trial_days) if trigger is Trigger.TRIAL_START else timedelta(0)
        anchor = sub.period_end
        stmt = (
            sql_select(*columns, anchor.label("anchor"))
            .select_from(sub)
            .join(Person, Person.id == sub.person_id)
            .where(anchor > low + shift, anchor <= high + shift)
        )
    stmt = stmt.where(*eligible(window.eligibility))
    stmt = (
        stmt.where(Person.erased_at.is_(None))
        .where(Person.email.is_not(None))
        .where(Person.email_status != "undeliverable")
    )
    if journey.marketing:
        stmt = stmt.where(exists().where(consent_given(Person.id)))
    key = literal(window.key_prefix) + cast(Person.id, String) + literal(":") + utc_day(anchor)
    # The insert's ON CONFLICT still guards against a sweep running at the same time.
    stmt = stmt.add_columns(key.label("key")).where(
        ~exists().where(OutboxMessage.idempotency_key == key)
    )
    assert tuple(stmt.selected_columns.keys()) == CANDIDATE_FIELDS
    return stmt


class SqlJourneyCandidates:
    """services.journeys.JourneyCandidates: streams each step's due people in partitions,
    as plain tuples, on a session of its own (reads only)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def due(
        self, window: Window, *, now: datetime, usage_metric: str, trial_days: int
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        stmt = candidates(window, now=now, usage_metric=usage_metric, trial_days=trial_days)
        async with self._sessions() as reader:
            # Core rows (no ORM entities to load), streamed so memory stays flat.
            connection = await reader.connection()
            result = await connection.stream(stmt.execution_options(yield_per=PARTITION))
            async for part in result.partitions(PARTITION):
                yield part
