"""The outbox: every effect after commit (an email, a chat message, a Bot API call such as a
Stars subscription edit) is first a row with a unique key.

`enqueue` is the one way in. A key that already exists is a no-op, so a sweep (or a handler
delivered twice) can ask for the same message again without doubling it. `SqlDeliveryStore`
is the delivery worker's side: claims with a lease, the facts the policy re-checks, outcomes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Connection,
    CursorResult,
    Row,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import Consent, Event, OutboxMessage, Person, Subscription
from forever.db.one_trip import OneTrip
from forever.db.repositories.core import SqlEventLog, SqlPeople
from forever.db.repositories.journeys import consent_given
from forever.db.repositories.suppressions import suppress, suppressed_among
from forever.db.transactions import SqlUnitOfWork
from forever.db.types import UTCDateTime
from forever.domain.people import FORGET_WHEN_SENT

CHANNELS = ("email", "chat", "telegram")
# PostgreSQL NOTIFY channel: "rows are due now", sent in the transaction that queued them so
# it reaches the other instances' listeners (db/notify.py) when, and only if, it commits.
# The payload is the queuing instance's id: it wakes its own worker in process.
NOTIFY_CHANNEL = "forever_outbox"
# Rows in these states have not been handed over yet and may still be called off.
WAITING = ("pending", "sending")

_DATETIME_TAG = "$datetime"


def to_json(value: Any) -> Any:
    """Context values as JSON: aware datetimes become tagged ISO strings."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an outbox context; pass an aware one")
        return {_DATETIME_TAG: value.astimezone(UTC).isoformat()}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    raise TypeError(f"cannot store {type(value).__name__} in an outbox context")


def from_json(value: Any) -> Any:
    """The inverse of `to_json`."""
    if isinstance(value, dict):
        if len(value) == 1 and _DATETIME_TAG in value:
            return datetime.fromisoformat(value[_DATETIME_TAG])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def _insert_ignoring_duplicates(session: AsyncSession, target: Any = OutboxMessage) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing(index_elements=["idempotency_key"])
    if dialect == "sqlite":
        return sqlite.insert(target).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return insert(target)  # pragma: no cover - only the two supported databases


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    channel: str,
    person_id: int | None,
    template: str,
    context: dict[str, Any],
    marketing: bool,
    not_before: datetime,
    now: datetime,
) -> bool:
    """Queue one message. False (and nothing changed) when `key` was queued before.

    Does not commit: the caller's use case commits it with the change that caused it.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}")
    if not key or len(key) > 200:
        raise ValueError("an outbox key is 1 to 200 characters")
    values = {
        "idempotency_key": key,
        "channel": channel,
        "person_id": person_id,
        "template": template,
        "context": to_json(context),
        "marketing": marketing,
        "status": "pending",
        "not_before": not_before,
        "attempts": 0,
        "created_at": now,
    }
    stmt = _insert_ignoring_duplicates(session).values(**values)
    result = await session.execute(stmt)
    return bool(cast(CursorResult[Any], result).rowcount)


async def cancel_marketing(session: AsyncSession, person_id: int) -> int:
    """Call off every marketing message still waiting for this person; returns how many.

    A row a sender holds right now ('sending') is called off too: the sender re-checks the
    status before it hands a message over.
    """
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.person_id == person_id)
        .where(OutboxMessage.marketing.is_(True))
        .where(OutboxMessage.status.in_(WAITING))
        .values(status="canceled", last_error="unsubscribed", claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> int:
    """Queue many messages with one statement; keys already queued are skipped.

    Each row has the keyword arguments of `enqueue` except `session` and `now`. Returns how
    many were new. Does not commit.

    The whole batch travels as one JSON parameter that the database unpacks into rows
    (json_to_recordset / json_each): one encoder pass in C on our side, no per-row or
    per-value parameter handling in the driver.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        stamp: Any = datetime.isoformat  # read back by a timestamptz cast
        statement, created = _PG_INSERT_MANY, _aware(now)
    else:  # the column's own SQLite text format
        column_type = OutboxMessage.__table__.c.not_before.type
        stamp = column_type.dialect_impl(dialect).bind_processor(dialect)
        statement, created = _SQLITE_INSERT_MANY, stamp(_aware(now))
    stamps: dict[datetime, str] = {}  # most rows of a batch share a few send times

    def not_before(value: datetime) -> str:
        found = stamps.get(value)
        if found is None:
            found = stamps[value] = stamp(_aware(value))
        return found

    batch = [
        {
            "k": _checked_key(r["key"]),
            "ch": _checked_channel(r["channel"]),
            "p": r["person_id"],
            "t": r["template"],
            "c": r["context"],
            "m": bool(r["marketing"]),
            "nb": not_before(r["not_before"]),
        }
        for r in rows
    ]
    payload = json.dumps(batch, default=_json_default)
    result = await session.execute(statement, {"rows": payload, "now": created})
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _checked_key(key: str) -> str:
    if not key or len(key) > 200:
        raise ValueError("an outbox key is 1 to 200 characters")
    return key


def _checked_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}")
    return channel


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


def _json_default(value: Any) -> Any:
    """`to_json` for the one kind of context value json.dumps cannot write by itself."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in an outbox context; pass an aware one")
        return {_DATETIME_TAG: value.astimezone(UTC).isoformat()}
    raise TypeError(f"cannot store {type(value).__name__} in an outbox context")


_PG_INSERT_MANY = text(
    "INSERT INTO outbox (idempotency_key, channel, person_id, template, context, marketing,"
    " status, not_before, attempts, created_at)"
    " SELECT k, ch, p, t, c, m, 'pending', nb, 0, CAST(:now AS TIMESTAMPTZ)"
    " FROM json_to_recordset(CAST(:rows AS JSON))"
    " AS r(k TEXT, ch TEXT, p INTEGER, t TEXT, c JSON, m BOOLEAN, nb TIMESTAMPTZ)"
    " ON CONFLICT (idempotency_key) DO NOTHING"
)
# `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
_SQLITE_INSERT_MANY = text(
    "INSERT INTO outbox (idempotency_key, channel, person_id, template, context, marketing,"
    " status, not_before, attempts, created_at)"
    " SELECT json_extract(value, '$.k'), json_extract(value, '$.ch'),"
    " json_extract(value, '$.p'), json_extract(value, '$.t'), json_extract(value, '$.c'),"
    " json_extract(value, '$.m'), 'pending', json_extract(value, '$.nb'), 0, :now"
    " FROM json_each(:rows) WHERE true"
    " ON CONFLICT (idempotency_key) DO NOTHING"
)


class SqlOutbox:
    """services.ports.Outbox on the open unit of work.

    A row due now wakes the delivery worker once the transaction commits: `wake` in this
    process (the DeliverySignal), and on PostgreSQL a NOTIFY for the other instances."""

    def __init__(
        self,
        uow: SqlUnitOfWork,
        wake: Callable[[], None] | None = None,
        instance_id: str = "",
        *,
        notify: bool = True,
    ) -> None:
        self._uow = uow
        self._wake = wake
        self._instance_id = instance_id
        self._notify = notify

    def quiet(self) -> SqlOutbox:
        """The same outbox, waking nobody: for a sweep that delivers what it queued itself,
        right after its commit (a woken worker would race it for the rows)."""
        return SqlOutbox(self._uow, None, self._instance_id, notify=False)

    def _woken(self) -> None:
        if self._wake is not None:
            self._wake()

    async def _due_now(self) -> None:
        """Once per transaction: wake after commit, and NOTIFY (delivered on commit)."""
        if not (self._notify or self._wake) or not self._uow.after_commit(self._woken):
            return
        session = self._uow.session
        if self._notify and session.get_bind().dialect.name == "postgresql":
            await session.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": NOTIFY_CHANNEL, "payload": self._instance_id},
            )

    async def enqueue(
        self,
        *,
        key: str,
        channel: str,
        person_id: int | None,
        template: str,
        context: dict[str, Any],
        marketing: bool,
        not_before: datetime,
        now: datetime,
    ) -> bool:
        new = await enqueue(
            self._uow.session,
            key=key,
            channel=channel,
            person_id=person_id,
            template=template,
            context=context,
            marketing=marketing,
            not_before=not_before,
            now=now,
        )
        if new and not_before <= now:
            await self._due_now()
        return new

    async def enqueue_many(self, rows: list[dict[str, Any]], now: datetime) -> int:
        new = await enqueue_many(self._uow.session, rows, now)
        if new and any(r["not_before"] <= now for r in rows):
            await self._due_now()
        return new

    async def enqueue_from(self, statement: Any, now: datetime) -> int:
        """Run an INSERT ... SELECT into the outbox (ON CONFLICT DO NOTHING on the key)."""
        result = await self._uow.session.execute(statement)
        new = int(cast(CursorResult[Any], result).rowcount or 0)
        if new:
            await self._due_now()  # some may wait for quiet hours: a wake costs one claim
        return new

    async def cancel_marketing(self, person_id: int) -> int:
        return await cancel_marketing(self._uow.session, person_id)


# --- the delivery worker's side ------------------------------------------------------------------

_T = cast(Table, OutboxMessage.__table__)
_EVENTS = cast(Table, Event.__table__)
# What delivering needs to know about a person, read as plain rows (no ORM objects per mail).
_P = Person.__table__.c
_PERSON_COLUMNS = (
    _P.id,
    _P.telegram_id,
    _P.first_name,
    _P.language,
    _P.timezone,
    _P.email,
    _P.blocked_at,
    _P.erased_at,
    _P.trial_used_at,
)
# A person as a plain row of _PERSON_COLUMNS (id, telegram_id, first_name, language, timezone,
# email, blocked_at, erased_at, trial_used_at).
PersonRow = Any
_CLAIMED_COLUMNS = (
    _T.c.id,
    _T.c.idempotency_key,
    _T.c.channel,
    _T.c.person_id,
    _T.c.template,
    _T.c.context,
    _T.c.marketing,
    _T.c.attempts,
    _T.c.not_before,
)


@dataclass(slots=True)
class Facts:
    """What the policy re-checks for a claimed batch, read in a few set-wise statements."""

    people: dict[int, PersonRow]
    consenting: set[int]
    last_marketing: dict[int, datetime]
    subscriptions: dict[int, tuple[str, str | None]]  # state, billing
    suppressed: set[str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one claimed row ended (status `pending`: try again at `not_before`)."""

    row_id: int
    status: str
    not_before: datetime
    error: str | None
    refund_attempt: bool = False  # a deferral is not a try


@dataclass(frozen=True, slots=True)
class Bounce:
    person_id: int | None
    address: str
    template: str
    person_email: str | None


# `SqlDeliveryStore._one_sent_statements` as SQLite compiles them (`_mark_one_sqlite`).
_SQLITE_MARK_SENT = (
    "UPDATE outbox SET status=?, last_error=?, claimed_by=?, claimed_until=?, sent_at=? "
    "WHERE outbox.id = ? AND outbox.claimed_by = ? AND outbox.status = ?"
)
_SQLITE_SENT_EVENT = (
    "INSERT INTO events (person_id, kind, at, data) SELECT outbox.person_id, ?, ?, ? "
    "FROM outbox WHERE outbox.id = ?"
)


def due_rows(now: datetime, channels: Sequence[str], limit: int) -> Any:
    """The ids a claim takes: up to `limit` rows due in `channels`, earliest first, counting
    rows whose worker died (lease run out) as due.

    Each kind of due row is read in the order of ix_outbox_status_not_before_id, one condition
    per statement rather than an OR of both: so a claim reads the rows it takes, and neither
    database sorts the whole backlog (bench/bench_outbox_claim.py: behind 200,000 due rows
    that sort cost about 300 ms per claim on SQLite, 55–90 ms on PostgreSQL)."""
    c = _T.c
    wanted = c.channel.in_(list(channels))

    def first(*where: Any) -> Any:
        return (
            select(c.id, c.not_before)
            .where(wanted, *where)
            .order_by(c.not_before, c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .subquery()
        )

    pending = first(c.status == "pending", c.not_before <= now)
    lapsed = first(c.status == "sending", c.claimed_until < now)
    both = union_all(
        select(pending.c.id, pending.c.not_before), select(lapsed.c.id, lapsed.c.not_before)
    ).subquery()
    return select(both.c.id).order_by(both.c.not_before, both.c.id).limit(limit)


class SqlDeliveryStore:
    """The delivery worker's storage: each method is its own short unit of work."""

    def __init__(
        self, uow: SqlUnitOfWork, instance_id: str, one_trip: OneTrip | None = None
    ) -> None:
        self._uow = uow
        self.instance_id = instance_id
        self._one_trip = one_trip
        self._one_sent: tuple[Any, Any] | None = None
        self._sqlite_binds: tuple[Any, Any] | None = None

    async def claim(
        self, now: datetime, channels: Sequence[str], lease: Any, limit: int
    ) -> list[Row[Any]]:
        """Claim up to `limit` due rows (`sending`, leased to this instance, one more
        attempt). Several instances drain together: FOR UPDATE SKIP LOCKED on PostgreSQL;
        on SQLite the UPDATE ... RETURNING runs alone."""
        if not channels:
            return []
        c = _T.c  # Core, not ORM: the claimed rows come back as plain rows
        due = due_rows(now, channels, limit)
        stmt = (
            update(_T)
            .where(c.id.in_(due.scalar_subquery()))
            .values(
                status="sending",
                claimed_by=self.instance_id,
                claimed_until=now + lease,
                attempts=c.attempts + 1,
            )
            .returning(*_CLAIMED_COLUMNS)
        )
        async with self._uow.begin():
            result = await self._uow.session.execute(stmt)
            rows = sorted(result.all(), key=lambda r: (r.not_before, r.id))
            await self._uow.commit()
        return rows

    async def facts(
        self,
        people: set[int],
        marketing_people: set[int],
        journey_people: set[int],
        addresses: Callable[[Mapping[int, PersonRow]], Iterable[str]],
    ) -> Facts:
        """The people's rows, and only the lookups some row in the batch needs (a statement
        costs a round trip even when it finds nothing). `addresses` says, given the people,
        which addresses to look up on the suppression list."""
        async with self._uow.begin():
            session = self._uow.session
            found: dict[int, PersonRow] = {
                p.id: p
                for p in await session.execute(select(*_PERSON_COLUMNS).where(_P.id.in_(people)))
            }
            consenting: set[int] = set()
            last: dict[int, datetime] = {}
            if marketing_people:
                consenting = set(
                    await session.scalars(
                        select(Consent.person_id)
                        .where(Consent.person_id.in_(marketing_people))
                        .where(consent_given(Consent.person_id))
                    )
                )
                last = {
                    person_id: at
                    for person_id, at in (
                        await session.execute(
                            select(OutboxMessage.person_id, func.max(OutboxMessage.sent_at))
                            .where(OutboxMessage.person_id.in_(marketing_people))
                            .where(OutboxMessage.marketing.is_(True))
                            .where(OutboxMessage.status == "sent")
                            .group_by(OutboxMessage.person_id)
                        )
                    ).all()
                    if person_id is not None and at is not None
                }
            subscriptions: dict[int, tuple[str, str | None]] = {}
            if journey_people:
                rows = await session.execute(
                    select(Subscription.person_id, Subscription.state, Subscription.billing).where(
                        Subscription.person_id.in_(journey_people)
                    )
                )
                subscriptions = {pid: (state, billing) for pid, state, billing in rows}
            suppressed = await suppressed_among(session, set(addresses(found)))
        return Facts(found, consenting, last, subscriptions, suppressed)

    async def still_sending(self, ids: list[int]) -> set[int]:
        """Which of these rows this instance still holds (an unsubscribe calls rows off)."""
        async with self._uow.begin():
            return set(
                await self._uow.session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.id.in_(ids))
                    .where(OutboxMessage.status == "sending")
                    .where(OutboxMessage.claimed_by == self.instance_id)
                )
            )

    def _claimed(self, stmt: Any) -> Any:
        # Only rows this worker still holds: not one called off (unsubscribe) meanwhile.
        return stmt.where(_T.c.claimed_by == self.instance_id).where(_T.c.status == "sending")

    async def record(
        self,
        *,
        sent: Sequence[Row[Any]],
        others: Sequence[Outcome],
        bounces: Sequence[Bounce],
        blocked: Iterable[int],
        follow_ups: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        """Write a batch's outcomes in one transaction: sent rows and their events set-wise,
        every other outcome in one executemany, bounces suppressed, people who blocked the
        bot marked (PeopleRepository.mark_blocked), follow-up rows queued."""
        async with self._uow.begin():
            session = self._uow.session
            if sent:
                await self._mark_sent(session, sent, now)
            if others:
                await session.execute(
                    self._outcome_statement(),
                    [
                        {
                            "b_id": o.row_id,
                            "b_status": o.status,
                            "b_not_before": o.not_before,
                            "b_error": o.error,
                            "b_refund": 1 if o.refund_attempt else 0,
                        }
                        for o in others
                    ],
                )
            events = SqlEventLog(self._uow)
            for bounce in bounces:
                await suppress(session, bounce.address, "bounced", now)
                if bounce.person_id is not None and (
                    (bounce.person_email or "").lower() == bounce.address.lower()
                ):
                    await session.execute(
                        update(Person)
                        .where(Person.id == bounce.person_id)
                        .values(email_status="undeliverable")
                    )
                events.record("email_bounced", now, bounce.person_id, template=bounce.template)
            people = SqlPeople(self._uow)
            for person_id in blocked:
                await people.mark_blocked(person_id, now)
            if follow_ups:
                await enqueue_many(session, follow_ups, now)
            await self._uow.commit()

    async def _mark_sent(
        self, session: AsyncSession, rows: Sequence[Row[Any]], now: datetime
    ) -> None:
        for statement in self._sent_statements(rows, now):
            await session.execute(statement)

    def _sent_statements(self, rows: Sequence[Row[Any]], now: datetime) -> list[Any]:
        """The common outcome in set-wise statements, so a batch costs a few statements and
        no per-row parameters: one UPDATE for all, one INSERT ... SELECT of the events per
        (channel, template, marketing)."""
        ids = [r.id for r in rows]
        statements: list[Any] = [
            self._claimed(update(_T).where(_T.c.id.in_(ids))).values(
                status="sent", last_error=None, sent_at=now, claimed_by=None, claimed_until=None
            )
        ]
        for row in rows:
            context = row.context if isinstance(row.context, dict) else {}
            forget = context.get(FORGET_WHEN_SENT)
            if forget:
                kept = {k: v for k, v in context.items() if k not in forget}
                kept.pop(FORGET_WHEN_SENT, None)
                statements.append(update(_T).where(_T.c.id == row.id).values(context=kept))
        kinds: dict[tuple[str, str, bool], list[int]] = {}
        for row in rows:
            kinds.setdefault((row.channel, row.template, bool(row.marketing)), []).append(row.id)
        for (channel, template, marketing), row_ids in kinds.items():
            data = {"template": template, "marketing": marketing}
            found = select(
                _T.c.person_id,
                literal(f"{channel}_sent"),
                literal(now, UTCDateTime()),
                literal(data, JSON()),
            ).where(_T.c.id.in_(row_ids))
            statements.append(
                insert(_EVENTS).from_select(["person_id", "kind", "at", "data"], found)
            )
        return statements

    def _one_sent_statements(self) -> tuple[Any, Any]:
        if self._one_sent is None:
            update_one = self._claimed(update(_T).where(_T.c.id == bindparam("m_id"))).values(
                status="sent",
                last_error=None,
                sent_at=bindparam("m_now", type_=UTCDateTime()),
                claimed_by=None,
                claimed_until=None,
            )
            found = select(
                _T.c.person_id,
                bindparam("m_kind"),
                bindparam("m_now", type_=UTCDateTime()),
                bindparam("m_data", type_=JSON()),
            ).where(_T.c.id == bindparam("m_id"))
            event_one = insert(_EVENTS).from_select(["person_id", "kind", "at", "data"], found)
            self._one_sent = (update_one, event_one)
        return self._one_sent

    def _mark_one_sqlite(self, connection: Connection, row: Row[Any], now: datetime) -> None:
        """`_one_sent_statements` as plain SQL on the driver's connection: on SQLite the
        statement execution of SQLAlchemy costs more than the write itself, and this runs
        while every other mail waits to end its DATA. Values go through the columns' own
        bind processors, so they are stored exactly as SQLAlchemy stores them."""
        dialect = connection.dialect
        if self._sqlite_binds is None:
            self._sqlite_binds = (
                UTCDateTime().dialect_impl(dialect).bind_processor(dialect),
                JSON().dialect_impl(dialect).bind_processor(dialect),
            )
        when, data = self._sqlite_binds
        at = when(now) if when is not None else now
        event = {"template": row.template, "marketing": bool(row.marketing)}
        raw = connection.connection.driver_connection
        assert raw is not None
        try:
            raw.execute(
                _SQLITE_MARK_SENT,
                ("sent", None, None, None, at, row.id, self.instance_id, "sending"),
            )
            raw.execute(
                _SQLITE_SENT_EVENT,
                (f"{row.channel}_sent", at, data(event) if data is not None else event, row.id),
            )
            raw.commit()
        except BaseException:
            raw.rollback()  # SQLAlchemy did not begin this transaction: it would not end it
            raise

    async def mark_sent(self, rows: Sequence[Row[Any]], now: datetime) -> None:
        """Only `sent` rows, at once (right after the SMTP server's 250): the same writes as
        `record(sent=rows)`, in one hand-off to the driver when a OneTrip is given (the
        SMTP pool holds every other mail's end of DATA until this returns)."""
        if self._one_trip is None:
            await self.record(sent=rows, others=[], bounces=[], blocked=[], follow_ups=[], now=now)
            return
        context = rows[0].context if len(rows) == 1 else None
        if isinstance(context, dict) and not context.get(FORGET_WHEN_SENT):
            # The usual case, one row: two statements built once (no SQL construction per
            # mail, only its parameters).
            row = rows[0]
            update_one, event_one = self._one_sent_statements()
            params = {
                "m_id": row.id,
                "m_now": now,
                "m_kind": f"{row.channel}_sent",
                "m_data": {"template": row.template, "marketing": bool(row.marketing)},
            }

            def write(connection: Connection) -> None:
                if connection.dialect.name == "sqlite":
                    self._mark_one_sqlite(connection, row, now)
                    return
                connection.execute(update_one, params)
                connection.execute(event_one, params)
                connection.commit()

        else:
            statements = self._sent_statements(rows, now)

            def write(connection: Connection) -> None:
                for statement in statements:
                    connection.execute(statement)
                connection.commit()

        await self._one_trip.run(write, writes=True, quick=True)

    def _outcome_statement(self) -> Any:
        """Every other outcome: one executemany, a row's own status, time and error each."""
        return self._claimed(update(_T).where(_T.c.id == bindparam("b_id"))).values(
            status=bindparam("b_status"),
            not_before=bindparam("b_not_before"),
            last_error=bindparam("b_error"),
            sent_at=None,
            attempts=_T.c.attempts - bindparam("b_refund"),
            claimed_by=None,
            claimed_until=None,
        )
