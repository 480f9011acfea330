"""Knowing who is talking: find the person behind a Telegram user, create them on first
contact, and keep `last_seen_at`, the username and the "blocked the bot" mark current.

The person middleware calls `IdentifyPerson` on every update; it only reads, unless the
update changes something we keep (first contact, unblocking, a new username, or last seen
more than a few minutes ago: `domain.people.needs_update`), and then commits once.

With `PersonLookups` (the chat's wiring gives it), the updates that arrive in the same turn
of the event loop (a burst: polling hands over up to 100 at once) are looked up together:
one read for all of them, which also says where each person stands (the snapshot /start
shows), and one transaction signing up all the new ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from operator import attrgetter
from typing import Protocol

from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.locales import LOCALES
from forever.domain.people import needs_update
from forever.domain.timezones import valid_zone
from forever.services.accounts import Snapshot
from forever.services.ports import EventLog, PeopleRepository, UnitOfWork
from forever.services.records import PersonRecord


@dataclass(frozen=True, slots=True)
class TelegramUser:
    id: int
    first_name: str | None
    username: str | None
    language_code: str | None


@dataclass(frozen=True, slots=True)
class Customer:
    """The person as read for one update (a plain copy: it outlives the transaction)."""

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
    # This update created the person: their very first contact with the bot (a referral link
    # counts only then).
    first_contact: bool = False

    @classmethod
    def of(cls, record: PersonRecord, *, first_contact: bool = False) -> Customer:
        return cls(
            **dict(zip(_COPIED_NAMES, _COPIED(record), strict=True)), first_contact=first_contact
        )


# The record's values of Customer's fields (one C-level getter, not dataclasses.fields on
# every call: a Customer is made for every update).
_COPIED_NAMES = tuple(f.name for f in fields(Customer) if f.name != "first_contact")
_COPIED = attrgetter(*_COPIED_NAMES)


class NewPeople(Protocol):
    async def add_if_missing(
        self,
        *,
        telegram_id: int,
        first_name: str | None,
        username: str | None,
        language: str,
        now: datetime,
    ) -> bool:
        """Insert the person unless this Telegram id exists; True when this call did. Two
        first updates racing: exactly one gets True."""
        ...


@dataclass(frozen=True, slots=True)
class Seen:
    """Who is talking, and where they stand when the same read told it (None: not read)."""

    customer: Customer
    standing: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class NewPerson:
    telegram_id: int
    first_name: str | None
    username: str | None
    language: str


@dataclass(frozen=True, slots=True)
class Touch:
    """Seen now and not blocked any more; `username` the one to keep (None: unchanged)."""

    person_id: int
    username: str | None


class PersonLookups(Protocol):
    """The batched reads and sign-ups behind `IdentifyPerson` (each call one transaction)."""

    async def by_telegram_ids(self, telegram_ids: Sequence[int], now: datetime) -> dict[int, Seen]:
        """One read: each person found, with their standing."""
        ...

    async def sign_up(
        self, people: Sequence[NewPerson], now: datetime, event: str
    ) -> dict[int, tuple[Seen, bool]]:
        """One transaction: insert each person unless their Telegram id exists (seen and
        last seen `now`) and record `event` for each this call inserted (True). Every id
        asked for is in the answer; an id another transaction inserted first is False."""
        ...

    async def touch(self, people: Sequence[Touch], now: datetime) -> None:
        """One transaction: each person last seen `now`, not blocked, and their username."""
        ...


class IdentifyPerson:
    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        new_people: NewPeople,
        events: EventLog,
        clock: Clock,
        locale_for: Callable[[str | None], str],
        lookups: PersonLookups | None = None,
    ) -> None:
        self.uow = uow
        self.people = people
        self.new_people = new_people
        self.events = events
        self.clock = clock
        self.locale_for = locale_for
        self.lookups = lookups
        self._waiting: list[tuple[TelegramUser, asyncio.Future[Seen]]] = []
        self._resolving: set[asyncio.Task[None]] = set()

    async def __call__(self, user: TelegramUser) -> Customer:
        return (await self.seen(user)).customer

    async def prepare(self) -> None:
        """Look nobody up once (Telegram id 0 is no one's), before the first update: the
        read's statement and connection are made then, not while a burst waits for them."""
        if self.lookups is not None:
            await self.lookups.by_telegram_ids([0], self.clock.now())

    async def seen(self, user: TelegramUser) -> Seen:
        """The person behind `user` (created on first contact), with their standing when
        it came with the same read."""
        if self.lookups is None:
            return Seen(await self._one(user))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Seen] = loop.create_future()
        self._waiting.append((user, future))
        if len(self._waiting) == 1:
            # After every update that is ready in this turn has asked.
            loop.call_soon(self._resolve_waiting)
        return await future

    def _resolve_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._resolve(batch))
        self._resolving.add(task)
        task.add_done_callback(self._resolving.discard)

    async def _resolve(self, batch: list[tuple[TelegramUser, asyncio.Future[Seen]]]) -> None:
        try:
            found = await self._look_up([user for user, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # the database is down: every update waiting fails alike
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for user, future in batch:
            if not future.done():
                future.set_result(found[user.id])

    async def _look_up(self, users: list[TelegramUser]) -> dict[int, Seen]:
        """One read for everyone; one transaction for the new people; one for the people
        whose update changes what we keep (as in `_one`)."""
        assert self.lookups is not None
        now = self.clock.now()
        ids = list(dict.fromkeys(user.id for user in users))
        found = await self.lookups.by_telegram_ids(ids, now)
        new = {
            user.id: NewPerson(
                user.id,
                (user.first_name or "")[:128] or None,
                user.username,
                self.locale_for(user.language_code),
            )
            for user in users
            if user.id not in found
        }
        created: set[int] = set()
        if new:
            added = await self.lookups.sign_up(list(new.values()), now, EventKind.SIGNED_UP)
            for telegram_id, (seen, inserted) in added.items():
                found[telegram_id] = seen
                if inserted:  # this update is their first contact (a referral link counts)
                    created.add(telegram_id)
                    found[telegram_id] = replace(
                        seen, customer=replace(seen.customer, first_contact=True)
                    )
        touched: dict[int, Seen] = {}
        for user in users:
            person = found[user.id].customer
            if (
                user.id not in created
                and user.id not in touched
                and needs_update(
                    last_seen_at=person.last_seen_at,
                    blocked_at=person.blocked_at,
                    stored_username=person.username,
                    username=user.username,
                    now=now,
                )
            ):
                touched[user.id] = _touched(found[user.id], user.username, now)
        if touched:
            await self.lookups.touch(
                [Touch(s.customer.id, s.customer.username) for s in touched.values()], now
            )
            found.update(touched)
        return found

    async def _one(self, user: TelegramUser) -> Customer:
        """One person, in a unit of work of their own (and the write when one is due)."""
        now = self.clock.now()
        async with self.uow.begin():
            person = await self.people.by_telegram_id(user.id)
            if person is None:
                language = self.locale_for(user.language_code)
                created = await self.new_people.add_if_missing(
                    telegram_id=user.id,
                    first_name=(user.first_name or "")[:128] or None,
                    username=user.username,
                    language=language,
                    now=now,
                )
                person = await self.people.by_telegram_id(user.id)
                assert person is not None
                if created:
                    self.events.record(EventKind.SIGNED_UP, now, person.id, language=language)
                    first = Customer.of(person, first_contact=True)
                    await self.uow.commit()
                    return first
            if not needs_update(
                last_seen_at=person.last_seen_at,
                blocked_at=person.blocked_at,
                stored_username=person.username,
                username=user.username,
                now=now,
            ):
                return Customer.of(person)  # the common case: read only
            person.last_seen_at = now
            person.blocked_at = None  # they are writing to us: not blocked any more
            if user.username:
                person.username = user.username
            seen = Customer.of(person)
            await self.uow.commit()
        return seen


def _touched(seen: Seen, username: str | None, now: datetime) -> Seen:
    """`seen` once `touch` has written: seen now, not blocked, the new username if any."""
    username = username or seen.customer.username
    customer = replace(seen.customer, last_seen_at=now, blocked_at=None, username=username)
    standing = seen.standing and replace(seen.standing, username=username)
    return Seen(customer, standing)


class PersonSnapshots(Protocol):
    async def snapshot(self, person_id: int, now: datetime) -> Snapshot | None: ...


class ReadSnapshot:
    """Where a person stands, for a view that only shows it (/plans)."""

    def __init__(self, uow: UnitOfWork, snapshots: PersonSnapshots, clock: Clock) -> None:
        self.uow = uow
        self.snapshots = snapshots
        self.clock = clock

    async def __call__(self, person_id: int) -> Snapshot:
        async with self.uow.begin():
            snap = await self.snapshots.snapshot(person_id, self.clock.now())
        assert snap is not None
        return snap


class SetLanguage:
    def __init__(
        self, uow: UnitOfWork, people: PeopleRepository, snapshots: PersonSnapshots, clock: Clock
    ) -> None:
        self.uow = uow
        self.people = people
        self.snapshots = snapshots
        self.clock = clock

    async def __call__(self, person_id: int, language: str) -> Snapshot | None:
        """None for a language we do not speak (a forged button)."""
        if language not in LOCALES:
            return None
        async with self.uow.begin():
            person = await self.people.get(person_id)
            assert person is not None
            person.language = language
            snap = await self.snapshots.snapshot(person_id, self.clock.now())
            await self.uow.commit()
        return snap


@dataclass(frozen=True, slots=True)
class ZoneSet:
    zone: str
    at: datetime  # when it was set (the reply shows the time there)


class SetTimezone:
    """The person picks the time zone every time is shown in (chat, email) and their quiet
    hours are counted in."""

    def __init__(self, uow: UnitOfWork, people: PeopleRepository, clock: Clock) -> None:
        self.uow = uow
        self.people = people
        self.clock = clock

    async def __call__(self, person_id: int, zone: str) -> ZoneSet | None:
        """None for a name zoneinfo does not know (a forged button)."""
        if not valid_zone(zone):
            return None
        async with self.uow.begin():
            person = await self.people.get(person_id)
            assert person is not None
            person.timezone = zone
            await self.uow.commit()
        return ZoneSet(zone, self.clock.now())
