"""Who is due for a journey step: the policy's window and eligibility as one indexed query.

Set-based: for each step one query selects only the people whose trigger moment falls in the
step's window, through indexed columns; the already-queued test is one key probe per person.

Incremental (`SqlSweepRounds`): a window is `late_days` wide, so reading it in full every five
minutes reads three days of people who were queued long ago. A round reads instead only the
slice of each window that the clock moved into since the last round that finished (plus a
small overlap), and the whole window for the people whose facts changed since, which the
database's triggers note in `journey_touches` (db/journey_touches.py). Anyone the full query
finds is in one of the two: their moment entered the window since (the slice), or it was
already inside at the last round, which then found them unless they were not due at that
time, and what changed since is noted. The first round (after the migration, after a failed
round, or after the journeys' configuration changed) reads every window in full.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    ScalarSelect,
    Select,
    String,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    true,
    update,
)
from sqlalchemy import select as sql_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from forever.db.functions import floor_days, json_obj, utc_day, utc_iso
from forever.db.models import (
    Consent,
    Event,
    JourneyTouch,
    OutboxMessage,
    Person,
    Subscription,
    SweepMark,
    UsageCounter,
)
from forever.db.types import UTCDateTime
from forever.db.upsert import insert_ignore
from forever.domain.catalog import Trigger
from forever.domain.marketing import Eligibility, Window
from forever.services.journeys import DirectQueue

PARTITION = 2000
# The slice a round reads reaches this far behind the last round's: a visit or a sign-up
# written with a moment a little before a commit that lands after the last round's read.
OVERLAP = timedelta(minutes=2)
# More people changed than this since the last round: it reads every window in full.
MAX_TOUCHED = 20_000
TOUCHED_CHUNK = 500
# A slice up to this wide is read at once (a scheduler's few minutes); wider ones stream.
SMALL_SLICE = timedelta(hours=1)
SWEEP_NAME = "journeys"
# A round that reads a window in full queues it in the database (INSERT ... SELECT), one
# statement per this much of the window (each its own transaction), ...
DIRECT_CHUNK = timedelta(hours=24)
# ... when the people's (time zone, language) pairs, which decide the quiet hours, are few.
MAX_ZONE_PAIRS = 300
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


def candidates(
    window: Window,
    *,
    now: datetime,
    usage_metric: str,
    trial_days: int,
    people: Sequence[int] | None = None,
) -> Select[Any]:
    """The due people for one step who are not queued for it yet, with what the mail needs
    (only among `people` when given)."""
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
    driver: Any = Person.id  # the person column of the table the query starts from
    if trigger is Trigger.PAYMENT_FAILED:
        driver = Event.person_id
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
        driver = sub.person_id
        stmt = (
            sql_select(*columns, anchor.label("anchor"))
            .select_from(sub)
            .join(Person, Person.id == sub.person_id)
            .where(anchor > low + shift, anchor <= high + shift)
        )
    stmt = stmt.where(*eligible(window.eligibility))
    if people is not None:
        # On the starting table's column, so both databases look the few people up there.
        stmt = stmt.where(driver.in_(list(people)))
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


def _text(value: str) -> ColumnElement[str]:
    # Typed, so that PostgreSQL knows each json_build_object argument's type.
    return cast(literal(value), String)


def queue_statement(
    window: Window,
    queue: DirectQueue,
    pairs: Sequence[tuple[str | None, str | None]],
    dialect: str,
    *,
    now: datetime,
    usage_metric: str,
    trial_days: int,
) -> Any:
    """INSERT ... SELECT of the step's due people into the outbox, with the context that
    services.journeys.JourneyPlanner.rows_for builds (the same keys and values)."""
    found = candidates(window, now=now, usage_metric=usage_metric, trial_days=trial_days)
    due = found.subquery("due")
    c = due.c
    languages = sorted({language for _, language in pairs if language is not None})
    # The plan's name in the person's locale, by (plan, language).
    default_locale = queue.locale_for(None)
    names: list[tuple[ColumnElement[bool], str]] = []
    for plan in queue.plans:
        for language in languages:
            name = queue.plan_name(plan, queue.locale_for(language))
            names.append(((c.plan_id == plan) & (c.language == language), name))
        # A language none of the people had when the pairs were read.
        names.append((c.plan_id == plan, queue.plan_name(plan, default_locale)))
    plan_name: ColumnElement[Any] = case(*names, else_="") if names else literal("")
    # When quiet hours let the mail go, by (time zone, language).
    stamp = UTCDateTime()
    send_times = [
        (
            (c.timezone.is_(None) if tz is None else c.timezone == tz)
            & (c.language.is_(None) if language is None else c.language == language),
            literal(queue.not_before(tz, language), stamp),
        )
        for tz, language in pairs
    ]
    fallback = literal(queue.not_before(None, None), stamp)
    not_before: ColumnElement[Any] = case(*send_times, else_=fallback) if send_times else fallback
    instant = literal(now, stamp)
    days = floor_days(instant, c.anchor)
    days_left: ColumnElement[Any] = (
        case((days < 0, -days), else_=0) if queue.days_left else literal(0, Integer)
    )
    fields: list[Any] = []
    for key, value in queue.shared.items():
        typed = _text(value) if isinstance(value, str) else cast(literal(value), Integer)
        fields += [_text(key), typed]
    fields += [
        _text("plan_name"),
        cast(plan_name, String),
        _text("plan_id"),
        func.coalesce(c.plan_id, ""),
        _text("cancel_reason"),
        func.coalesce(c.cancel_reason, ""),
        _text("days_left"),
        cast(days_left, Integer),
        _text("days_since"),
        cast(case((days > 0, days), else_=0), Integer),
        _text("usage"),
        cast(func.coalesce(c.usage, 0), Integer),
        _text("access_until"),
    ]
    # The end of the period as the outbox's tagged datetime (no end: null); the CASE is
    # outside so SQLite keeps the inner object JSON.
    until = json_obj(_text("$datetime"), utc_iso(c.period_end))
    context = case(
        (c.period_end.is_(None), json_obj(*fields, None)),
        else_=json_obj(*fields, until),
    )
    rows = sql_select(
        c.key,
        _text("email"),
        c.id,
        _text(queue.template),
        context,
        literal(queue.marketing, Boolean),
        _text("pending"),
        not_before,
        literal(0, Integer),
        instant,
    ).where(true())  # `WHERE true`: SQLite must not read ON CONFLICT as the SELECT's join
    columns = [
        "idempotency_key",
        "channel",
        "person_id",
        "template",
        "context",
        "marketing",
        "status",
        "not_before",
        "attempts",
        "created_at",
    ]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(OutboxMessage)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )


class SqlJourneyCandidates:
    """services.journeys.JourneyCandidates: streams each step's due people in partitions,
    as plain tuples, on a session of its own (reads only)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def due(
        self, window: Window, *, now: datetime, usage_metric: str, trial_days: int
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        stmt = candidates(window, now=now, usage_metric=usage_metric, trial_days=trial_days)
        async for part in _stream(self._sessions, stmt):
            yield part


async def _stream(
    sessions: async_sessionmaker[AsyncSession], stmt: Select[Any]
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    async with sessions() as reader:
        async for part in _partitions(await reader.connection(), stmt):
            yield part


async def _partitions(
    connection: AsyncConnection, stmt: Select[Any]
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    # Core rows (no ORM entities to load), streamed so memory stays flat.
    result = await connection.stream(stmt.execution_options(yield_per=PARTITION))
    async for part in result.partitions(PARTITION):
        yield part


class SqlSweepRound:
    """services.journeys.SweepRound: what became due since `previous` (None: everything)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        now: datetime,
        generation: int,
        previous: datetime | None,
        touched: Sequence[int],
    ) -> None:
        self._sessions = sessions
        self.now = now
        self.generation = generation
        self.previous = previous
        self.touched = touched
        # One reading connection for the round's queries (a checkout, a ping, a transaction
        # each would cost more than a slice's query).
        self._reader: AsyncSession | None = None
        self._pairs: list[tuple[str | None, str | None]] | None = None
        self._dialect = ""

    async def _read(
        self, stmt: Select[Any], *, small: bool = False
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        if self._reader is None:
            self._reader = self._sessions()
        connection = await self._reader.connection()
        if not small:
            async for part in _partitions(connection, stmt):
                yield part
            return
        # A few rows: one round trip, where a server-side cursor costs three.
        rows = (await connection.execute(stmt)).all()
        for start in range(0, len(rows), PARTITION):
            yield rows[start : start + PARTITION]

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None

    async def due(
        self, window: Window, *, now: datetime, usage_metric: str, trial_days: int
    ) -> AsyncIterator[Sequence[Sequence[Any]]]:
        query = partial(candidates, now=now, usage_metric=usage_metric, trial_days=trial_days)
        if self.previous is None:
            async for part in self._read(query(window)):
                yield part
            return
        # The slice the clock moved into: the last round read this window up to `high`
        # minus the time since (every step's window moves with the clock).
        low = max(window.low, window.high - (now - self.previous) - OVERLAP)
        if low < window.high:
            small = window.high - low <= SMALL_SLICE
            async for part in self._read(query(replace(window, low=low)), small=small):
                yield part
        for start in range(0, len(self.touched), TOUCHED_CHUNK):
            chunk = self.touched[start : start + TOUCHED_CHUNK]
            async for part in self._read(query(window, people=chunk), small=True):
                yield part

    async def _zone_pairs(self) -> list[tuple[str | None, str | None]] | None:
        """The people's distinct (time zone, language) pairs; None when there are too many
        to spell out in a statement."""
        if self._pairs is None:
            if self._reader is None:
                self._reader = self._sessions()
            connection = await self._reader.connection()
            self._dialect = connection.dialect.name
            found = await connection.execute(
                sql_select(Person.timezone, Person.language).distinct().limit(MAX_ZONE_PAIRS + 1)
            )
            self._pairs = [(tz, language) for tz, language in found]
        return self._pairs if len(self._pairs) <= MAX_ZONE_PAIRS else None

    async def direct(
        self,
        window: Window,
        queue: DirectQueue,
        *,
        now: datetime,
        usage_metric: str,
        trial_days: int,
    ) -> Sequence[Any] | None:
        if self.previous is not None:
            return None  # a slice and a few people: cheaper read and planned in Python
        pairs = await self._zone_pairs()
        if pairs is None:
            return None
        out = []
        low = window.low
        while low < window.high:
            high = min(window.high, low + DIRECT_CHUNK)
            chunk = replace(window, low=low, high=high)
            out.append(
                queue_statement(
                    chunk,
                    queue,
                    pairs,
                    self._dialect,
                    now=now,
                    usage_metric=usage_metric,
                    trial_days=trial_days,
                )
            )
            low = high
        return out

    async def finish(self) -> None:
        await self.close()
        async with self._sessions() as session, session.begin():
            await session.execute(delete(JourneyTouch).where(JourneyTouch.claim == self.generation))
            # Only the newest round moves the mark: an older one finishing late must not
            # cover for a newer one that may yet fail.
            await session.execute(
                update(SweepMark)
                .where(SweepMark.name == SWEEP_NAME, SweepMark.generation == self.generation)
                .values(swept_at=self.now)
            )


class SqlSweepRounds:
    """services.journeys.SweepRounds over `sweep_marks` and `journey_touches`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def start(self, now: datetime, setup: str) -> SqlSweepRound:
        async with self._sessions() as session, session.begin():
            # Writing first takes the lock (SQLite's database, PostgreSQL's row), so two
            # rounds starting at once get different generations.
            bump = (
                update(SweepMark)
                .where(SweepMark.name == SWEEP_NAME)
                .values(generation=SweepMark.generation + 1)
                .returning(SweepMark.generation, SweepMark.swept_at, SweepMark.fingerprint)
            )
            row = (await session.execute(bump)).one_or_none()
            if row is None:
                await insert_ignore(
                    session, SweepMark, name=SWEEP_NAME, generation=0, fingerprint=""
                )
                row = (await session.execute(bump)).one()
            generation, previous, fingerprint = row
            # Until this round finishes, the next one reads everything (this one may fail).
            await session.execute(
                update(SweepMark)
                .where(SweepMark.name == SWEEP_NAME)
                .values(swept_at=None, fingerprint=setup)
            )
            # Take every note, also those of a round that failed or is still running: from
            # here on, this round reads them.
            await session.execute(update(JourneyTouch).values(claim=generation))
            if fingerprint != setup or previous is None or previous > now:
                previous = None
            touched: list[int] = []
            if previous is not None:
                found = await session.scalars(
                    sql_select(JourneyTouch.person_id)
                    .where(JourneyTouch.claim == generation)
                    .distinct()
                    .limit(MAX_TOUCHED + 1)
                )
                touched = sorted(found)
                if len(touched) > MAX_TOUCHED:
                    previous, touched = None, []
        return SqlSweepRound(
            self._sessions, now=now, generation=generation, previous=previous, touched=touched
        )
