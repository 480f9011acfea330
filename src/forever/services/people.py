"""Knowing who is talking: find the person behind a Telegram user, create them on first
contact, and keep `last_seen_at`, the username and the "blocked the bot" mark current.

The person middleware calls `IdentifyPerson` on every update; it only reads, unless the
update changes something we keep (first contact, unblocking, a new username, or last seen
more than a few minutes ago: `domain.people.needs_update`), and then commits once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
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
        kept = {f.name: getattr(record, f.name) for f in fields(cls) if f.name != "first_contact"}
        return cls(**kept, first_contact=first_contact)


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


class IdentifyPerson:
    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        new_people: NewPeople,
        events: EventLog,
        clock: Clock,
        locale_for: Callable[[str | None], str],
    ) -> None:
        self.uow = uow
        self.people = people
        self.new_people = new_people
        self.events = events
        self.clock = clock
        self.locale_for = locale_for

    async def __call__(self, user: TelegramUser) -> Customer:
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
