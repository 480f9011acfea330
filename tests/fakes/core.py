"""Fakes of the shared ports (services/ports.py): a unit of work that snapshots and restores
the in-memory stores, people, subscriptions, the event log and the outbox."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from forever.services.ports import ConcurrentChange


@dataclass
class FakePerson:
    id: int
    telegram_id: int | None = None
    username: str | None = None
    first_name: str | None = None
    language: str = "en"
    timezone: str | None = None
    email: str | None = None
    email_status: str = "none"
    created_at: datetime = field(default_factory=lambda: datetime.fromtimestamp(0).astimezone())
    last_seen_at: datetime | None = None
    blocked_at: datetime | None = None
    erased_at: datetime | None = None
    trial_used_at: datetime | None = None
    awaiting: str | None = None


@dataclass
class FakeSubscription:
    id: int
    person_id: int
    state: str = "none"
    plan_id: str | None = None
    billing: str | None = None
    period_end: datetime | None = None
    auto_renew: bool = False
    paused_until: datetime | None = None
    paused_credit_seconds: int | None = None
    star_charge_id: str | None = None
    star_payload: str | None = None
    cancel_reason: str | None = None
    canceled_at: datetime | None = None
    started_at: datetime | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.fromtimestamp(0).astimezone())
    version: int = 1


@dataclass
class FakeEvent:
    id: int
    person_id: int | None
    kind: str
    at: datetime
    data: dict[str, Any]


@dataclass
class FakeOutboxRow:
    key: str
    channel: str
    person_id: int | None
    template: str
    context: dict[str, Any]
    marketing: bool
    not_before: datetime
    status: str = "pending"


@dataclass
class FakeStore:
    """Everything the fakes keep. The unit of work copies it on begin and restores it on a
    rollback, so a use case that fails half-way leaves nothing behind, as a database would."""

    people: dict[int, FakePerson] = field(default_factory=dict)
    subscriptions: dict[int, FakeSubscription] = field(default_factory=dict)
    events: list[FakeEvent] = field(default_factory=list)
    outbox: dict[str, FakeOutboxRow] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # stores of one area's fakes


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.commits = 0
        self._depth = 0
        self._saved: FakeStore | None = None
        self._versions: dict[int, int] = {}
        self.fail_next_commit_with_concurrent_change = False

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[None]:
        self._depth += 1
        if self._depth == 1:
            self._saved = copy.deepcopy(self.store)
            self._versions = {k: s.version for k, s in self.store.subscriptions.items()}
        committed_before = self.commits
        try:
            yield
        except BaseException:
            if self._depth == 1:
                self._restore()
            raise
        finally:
            self._depth -= 1
        if self._depth == 0 and self.commits == committed_before:
            self._restore()  # left without commit: rolled back

    def _restore(self) -> None:
        assert self._saved is not None
        self.store.__dict__.update(self._saved.__dict__)

    async def flush(self) -> None:
        self._bump_versions()

    async def commit(self) -> None:
        if self._depth > 1:
            return
        if self.fail_next_commit_with_concurrent_change:
            self.fail_next_commit_with_concurrent_change = False
            raise ConcurrentChange("fake: another transaction won")
        self._bump_versions()
        self.commits += 1
        self._saved = copy.deepcopy(self.store)

    def _bump_versions(self) -> None:
        # Like SQLAlchemy's version_id_col: a changed subscription gets the next version.
        assert self._saved is not None
        for key, sub in self.store.subscriptions.items():
            before = self._saved.subscriptions.get(key)
            if before is not None and before != sub and sub.version == before.version:
                sub.version += 1


class FakePeople:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def add(self, **fields: Any) -> FakePerson:
        person = FakePerson(id=len(self.store.people) + 1, **fields)
        self.store.people[person.id] = person
        return person

    async def get(self, person_id: int) -> FakePerson | None:
        return self.store.people.get(person_id)

    async def by_telegram_id(self, telegram_id: int) -> FakePerson | None:
        return next((p for p in self.store.people.values() if p.telegram_id == telegram_id), None)

    async def mark_blocked(self, person_id: int, at: datetime) -> None:
        person = self.store.people[person_id]
        if person.blocked_at is None:
            person.blocked_at = at


class FakeSubscriptions:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def of(self, person_id: int) -> FakeSubscription | None:
        return next(
            (s for s in self.store.subscriptions.values() if s.person_id == person_id), None
        )

    async def get_or_create(self, person_id: int, now: datetime) -> FakeSubscription:
        found = await self.of(person_id)
        if found is None:
            found = FakeSubscription(
                id=len(self.store.subscriptions) + 1, person_id=person_id, updated_at=now
            )
            self.store.subscriptions[found.id] = found
        return found


class FakeEventLog:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def record(
        self, kind: str, at: datetime, person_id: int | None = None, **data: Any
    ) -> FakeEvent:
        event = FakeEvent(len(self.store.events) + 1, person_id, str(kind), at, data)
        self.store.events.append(event)
        return event

    def kinds(self, person_id: int | None = None) -> list[str]:
        return [e.kind for e in self.store.events if person_id is None or e.person_id == person_id]


class FakeOutbox:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

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
        if key in self.store.outbox:
            return False
        self.store.outbox[key] = FakeOutboxRow(
            key, channel, person_id, template, dict(context), marketing, not_before
        )
        return True

    def rows(self, channel: str | None = None) -> list[FakeOutboxRow]:
        return [r for r in self.store.outbox.values() if channel is None or r.channel == channel]


@dataclass
class CountingKick:
    """services.ports.DeliveryKick that counts its kicks, and what the outbox held then."""

    kicks: int = 0
    queued_at_kick: list[int] = field(default_factory=list)
    store: FakeStore | None = None

    def kick(self) -> None:
        self.kicks += 1
        if self.store is not None:
            self.queued_at_kick.append(len(self.store.outbox))
