"""services.people.PersonLookups: who is talking, for many updates at once, each call one
trip to the database (db/one_trip.py) and one statement where it can be.

`by_telegram_ids` reads the people with their subscription, their latest marketing consent
and what their Stars subscription renews at, in one SELECT: the person and the snapshot
/start shows (what `SqlSnapshots.snapshot` reads in three or four). `sign_up` inserts the new
people in one INSERT ... ON CONFLICT DO NOTHING RETURNING, their events in one more, and
commits once (on SQLite on the driver connection, tried first on the event loop); `touch`
writes "last seen" (and the rest `needs_update` asks for) for many people in one
executemany and one commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, cast

from sqlalchemy import Connection, Dialect, Row, Select, Table, bindparam, select, text, update
from sqlalchemy.dialects import postgresql

from forever.db.models import Consent, Event, Payment, Person, Subscription
from forever.db.one_trip import OneTrip
from forever.services.accounts import make_snapshot
from forever.services.consent import PURPOSE
from forever.services.people import Customer, NewPerson, Seen, Touch
from forever.services.records import PersonRecord

_PEOPLE = cast(Table, Person.__table__)
_SUBS = cast(Table, Subscription.__table__)
_CONSENTS = cast(Table, Consent.__table__)
_PAYMENTS = cast(Table, Payment.__table__)
_EVENTS = cast(Table, Event.__table__)
_SUB = "s_"  # the subscription's columns, labelled


@dataclass(slots=True)
class _ConsentDates:
    confirmed_at: datetime | None
    withdrawn_at: datetime | None


def _standing_query() -> Select[Any]:
    other = _CONSENTS.alias("latest")
    latest_consent = (
        select(other.c.id)
        .where(other.c.person_id == _PEOPLE.c.id, other.c.purpose == PURPOSE)
        .order_by(other.c.asked_at.desc(), other.c.id.desc())
        .limit(1)
        .correlate(_PEOPLE)
        .scalar_subquery()
    )
    renewal = (
        select(_PAYMENTS.c.amount)
        .where(_PAYMENTS.c.telegram_charge_id == _SUBS.c.star_charge_id)
        .limit(1)
        .correlate(_SUBS)
        .scalar_subquery()
    )
    return select(
        *_PEOPLE.c,
        *(column.label(_SUB + column.name) for column in _SUBS.c),
        _CONSENTS.c.id.label("consent_id"),
        _CONSENTS.c.confirmed_at.label("consent_confirmed_at"),
        _CONSENTS.c.withdrawn_at.label("consent_withdrawn_at"),
        renewal.label("renewal_stars"),
    ).select_from(
        _PEOPLE.outerjoin(_SUBS, _SUBS.c.person_id == _PEOPLE.c.id).outerjoin(
            _CONSENTS, _CONSENTS.c.id == latest_consent
        )
    )


_STANDING = _standing_query()
_SUB_COLUMNS = tuple(column.name for column in _SUBS.c)


@dataclass(slots=True)
class _Sub:
    """A subscription row as read (a plain copy: an ORM instance costs more to make and
    to read, and this one is only read)."""

    id: int  # 0: no row
    person_id: int
    state: str
    plan_id: str | None
    billing: str | None
    period_end: datetime | None
    auto_renew: bool
    paused_until: datetime | None
    paused_credit_seconds: int | None
    star_charge_id: str | None
    star_payload: str | None
    cancel_reason: str | None
    canceled_at: datetime | None
    started_at: datetime | None
    updated_at: datetime
    version: int


def _no_subscription(person_id: int, now: datetime) -> _Sub:
    """Never subscribed: "none", as SqlSnapshots reads it (nothing written)."""
    return _Sub(
        0,
        person_id,
        "none",
        None,
        None,
        None,
        False,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        now,
        1,
    )


def _seen(row: Row[Any], now: datetime) -> Seen:
    return _seen_in(cast(Mapping[str, Any], row._mapping), cast(PersonRecord, row), now)


def _seen_in(values: Mapping[str, Any], person: PersonRecord, now: datetime) -> Seen:
    if values[_SUB + "id"] is None:
        sub = _no_subscription(person.id, now)
    else:
        sub = _Sub(**{name: values[_SUB + name] for name in _SUB_COLUMNS})
    consent = (
        None
        if values["consent_id"] is None
        else _ConsentDates(values["consent_confirmed_at"], values["consent_withdrawn_at"])
    )
    renewal = values["renewal_stars"] if sub.star_charge_id else None
    return Seen(Customer.of(person), make_snapshot(person, sub, consent, renewal))


def _new(row: Row[Any], now: datetime) -> Seen:
    """A person this transaction inserted: no subscription, no consent yet."""
    person = cast(PersonRecord, row)
    sub = _no_subscription(person.id, now)
    return Seen(Customer.of(person), make_snapshot(person, sub))


class _PerDialect:
    """Made once per dialect (what it compiles depends on nothing else), on first use."""

    _made: ClassVar[dict[tuple[type, str], Any]] = {}

    def __init__(self, dialect: Dialect) -> None:
        raise NotImplementedError

    @classmethod
    def of(cls, dialect: Dialect) -> Self:
        key = (cls, dialect.name)
        made = _PerDialect._made.get(key)
        if made is None:
            made = _PerDialect._made[key] = cls(dialect)
        return cast(Self, made)


class _SqliteStanding(_PerDialect):
    """The standing query on SQLite without SQLAlchemy's per-execution work (a cache key
    for a 35-column statement, parameter processing, result metadata: about 0.35 ms of the
    0.45 ms a one-person read costs): compiled once per number of ids, run on the DBAPI
    connection, each value converted by the column type's own result processor (what
    SQLAlchemy would apply: dates back to aware UTC, booleans)."""

    def __init__(self, dialect: Dialect) -> None:
        columns = list(_STANDING.selected_columns)
        self.names = [column.name for column in columns]
        self.convert = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        marked = _STANDING.where(text("people.telegram_id IN (__IDS__)"))
        self.sql = str(marked.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        self._by_count: dict[int, str] = {}
        self._person = [name for name in self.names if name in _PERSON_COLUMNS]

    def read(self, conn: Connection, ids: list[int], now: datetime) -> dict[int, Seen]:
        sql = self._by_count.get(len(ids))
        if sql is None:
            sql = self._by_count[len(ids)] = self.sql.replace("__IDS__", ", ".join("?" * len(ids)))
        cursor = conn.connection.driver_connection.execute(sql, ids)  # type: ignore[union-attr]
        try:
            raw_rows = cursor.fetchall()
        finally:
            cursor.close()
        seen: dict[int, Seen] = {}
        pairs = list(zip(self.names, self.convert, strict=True))
        for raw in raw_rows:
            values: dict[str, Any] = {
                name: (convert(value) if convert is not None else value)
                for (name, convert), value in zip(pairs, raw, strict=True)
            }
            person = cast(PersonRecord, _Person(**{n: values[n] for n in self._person}))
            seen[values["telegram_id"]] = _seen_in(values, person, now)
        return seen


class _SqliteSignUp(_PerDialect):
    """The sign-up on SQLite without SQLAlchemy's per-execution work, as `_SqliteStanding`
    reads: one multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING id per number of new
    people (its SQL made once), the sign-up events in one executemany. What is the same for
    everyone (the time, the status) goes through its column type's bind processor once; a
    new row holds what was given and nothing else (no column has a default of its own), so
    it is not read back. 100 people: 1.9 ms this way, 4.1 ms through SQLAlchemy; it runs on
    the event loop in a burst of newcomers."""

    _GIVEN = (
        "telegram_id",
        "first_name",
        "username",
        "language",
        "email_status",
        "created_at",
        "last_seen_at",
    )
    _EVENT_GIVEN = ("person_id", "kind", "at", "data")
    _ROWS_PER_INSERT = 500  # 3,500 parameters: well under SQLite's limit

    def __init__(self, dialect: Dialect) -> None:
        for table, given in ((_PEOPLE, self._GIVEN), (_EVENTS, self._EVENT_GIVEN)):
            # A column that would get a value of its own must be given here.
            filled = [
                c.name
                for c in table.c
                if (c.default is not None or c.server_default is not None)
                and c.name not in given
                and not c.primary_key
            ]
            assert not filled, f"{table.name}: give {filled} in the SQLite sign-up"
        self._time = self._binder(_PEOPLE.c.created_at.type, dialect)
        self._event_time = self._binder(_EVENTS.c.at.type, dialect)
        self._data = self._binder(_EVENTS.c.data.type, dialect)
        row = "(" + ", ".join("?" * len(self._GIVEN)) + ")"
        self._rows = (
            f"INSERT INTO people ({', '.join(self._GIVEN)}) VALUES ",  # noqa: S608 (names)
            row,
            " ON CONFLICT DO NOTHING RETURNING id, telegram_id",
        )
        self.events_sql = (
            f"INSERT INTO events ({', '.join(self._EVENT_GIVEN)}) "  # noqa: S608 (names)
            f"VALUES ({', '.join('?' * len(self._EVENT_GIVEN))})"
        )
        self._by_count: dict[int, str] = {}

    @staticmethod
    def _binder(type_: Any, dialect: Dialect) -> Callable[[Any], Any]:
        bind = type_.dialect_impl(dialect).bind_processor(dialect)
        return bind if bind is not None else (lambda value: value)

    def write(
        self, conn: Connection, new: list[NewPerson], now: datetime, event: str
    ) -> dict[int, tuple[Seen, bool]]:
        if not conn.in_transaction():
            conn.begin()  # so that the commit and the rollback reach the driver's transaction
        driver = conn.connection.driver_connection
        assert driver is not None
        at = self._time(now)
        by_telegram_id = {p.telegram_id: p for p in new}
        ids: dict[int, int] = {}  # Telegram id -> person id, for the rows inserted
        for first in range(0, len(new), self._ROWS_PER_INSERT):
            chunk = new[first : first + self._ROWS_PER_INSERT]
            values: list[Any] = []
            for p in chunk:
                values.extend((p.telegram_id, p.first_name, p.username, p.language, "none", at, at))
            cursor = driver.execute(self._sql(len(chunk)), values)
            try:
                ids.update((telegram_id, person_id) for person_id, telegram_id in cursor)
            finally:
                cursor.close()
        if ids:
            event_at = self._event_time(now)
            data = {
                language: self._data({"language": language})
                for language in {by_telegram_id[t].language for t in ids}
            }
            driver.executemany(
                self.events_sql,
                [
                    (person_id, event, event_at, data[by_telegram_id[telegram_id].language])
                    for telegram_id, person_id in ids.items()
                ],
            )
        conn.commit()
        seen = {
            telegram_id: (
                _new(cast(Any, _given(person_id, by_telegram_id[telegram_id], now)), now),
                True,
            )
            for telegram_id, person_id in ids.items()
        }
        # Ids another transaction inserted first: read back as they stand.
        raced = [p.telegram_id for p in new if p.telegram_id not in seen]
        if raced:
            standing = _SqliteStanding.of(conn.dialect).read(conn, raced, now)
            seen.update((telegram_id, (found, False)) for telegram_id, found in standing.items())
        return seen

    def _sql(self, count: int) -> str:
        sql = self._by_count.get(count)
        if sql is None:
            head, row, tail = self._rows
            sql = self._by_count[count] = head + ", ".join([row] * count) + tail
        return sql


def _given(person_id: int, p: NewPerson, now: datetime) -> _Person:
    """A row the sign-up inserted, as it stands: what was given, the rest empty."""
    now = now.astimezone(UTC)  # as the column gives it back
    return _Person(
        id=person_id,
        telegram_id=p.telegram_id,
        username=p.username,
        first_name=p.first_name,
        language=p.language,
        timezone=None,
        email=None,
        email_status="none",
        created_at=now,
        last_seen_at=now,
        blocked_at=None,
        erased_at=None,
        trial_used_at=None,
        awaiting=None,
    )


@dataclass(slots=True)
class _Person:
    id: int
    telegram_id: int | None
    username: str | None
    first_name: str | None
    language: str
    timezone: str | None
    email: str | None
    email_status: str
    created_at: datetime
    last_seen_at: datetime | None
    blocked_at: datetime | None
    erased_at: datetime | None
    trial_used_at: datetime | None
    awaiting: str | None


_PERSON_COLUMNS = frozenset(column.name for column in _PEOPLE.c)


class SqlPersonLookups:
    def __init__(self, one_trip: OneTrip) -> None:
        self._one_trip = one_trip

    async def by_telegram_ids(self, telegram_ids: Sequence[int], now: datetime) -> dict[int, Seen]:
        ids = list(telegram_ids)

        def read(conn: Connection) -> dict[int, Seen]:
            if conn.dialect.name == "sqlite":
                return _SqliteStanding.of(conn.dialect).read(conn, ids, now)
            rows = conn.execute(_STANDING.where(_PEOPLE.c.telegram_id.in_(ids))).all()
            return {row.telegram_id: _seen(row, now) for row in rows}

        return await self._one_trip.run(read, quick=True)

    async def sign_up(
        self, people: Sequence[NewPerson], now: datetime, event: str
    ) -> dict[int, tuple[Seen, bool]]:
        new = list(people)

        def write(conn: Connection) -> dict[int, tuple[Seen, bool]]:
            if conn.dialect.name == "sqlite":
                return _SqliteSignUp.of(conn.dialect).write(conn, new, now, event)
            # Many parameter sets on one statement: compiled once per process, SQLAlchemy
            # sends them as one multi-row INSERT ... RETURNING ("insertmanyvalues").
            inserted = conn.execute(
                _SIGN_UP,
                [
                    {
                        "telegram_id": p.telegram_id,
                        "first_name": p.first_name,
                        "username": p.username,
                        "language": p.language,
                        "email_status": "none",
                        "created_at": now,
                        "last_seen_at": now,
                    }
                    for p in new
                ],
            ).all()
            if inserted:
                languages = {p.telegram_id: p.language for p in new}
                conn.execute(
                    _EVENTS.insert(),
                    [
                        {
                            "person_id": row.id,
                            "kind": event,
                            "at": now,
                            "data": {"language": languages[row.telegram_id]},
                        }
                        for row in inserted
                    ],
                )
            conn.commit()
            seen = {row.telegram_id: (_new(row, now), True) for row in inserted}
            # Ids another transaction inserted first: read back as they stand.
            raced = [p.telegram_id for p in new if p.telegram_id not in seen]
            if raced:
                rows = conn.execute(_STANDING.where(_PEOPLE.c.telegram_id.in_(raced))).all()
                seen.update((row.telegram_id, (_seen(row, now), False)) for row in rows)
            return seen

        # Quick, though it may be a hundred rows (a burst of newcomers): on SQLite the insert
        # and its commit block the event loop about 5 ms for 100 people, where the trip to the
        # writers' thread took 20-75 ms in a burst (that thread waits for the interpreter
        # lock while the loop answers everyone else), and every newcomer waited for it.
        return await self._one_trip.run(write, writes=True, quick=True)

    async def touch(self, people: Sequence[Touch], now: datetime) -> None:
        values = [{"pid": t.person_id, "name": t.username, "now": now} for t in people]

        def write(conn: Connection) -> None:
            conn.execute(_TOUCH, values)
            conn.commit()

        await self._one_trip.run(write, writes=True)


# PostgreSQL's sign-up (SQLite's: _SqliteSignUp).
_SIGN_UP = postgresql.insert(_PEOPLE).on_conflict_do_nothing().returning(*_PEOPLE.c)

_TOUCH = (
    update(_PEOPLE)
    .where(_PEOPLE.c.id == bindparam("pid"))
    .values(last_seen_at=bindparam("now"), blocked_at=None, username=bindparam("name"))
)
