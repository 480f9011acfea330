"""Fakes of the lifecycle area's ports (services.accounts.AccountReads,
services.retention.RetentionRecords, services.memberships.ExpiryCandidates, the delivery
kick), and a builder wiring the lifecycle use cases on the shared fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from forever.domain.catalog import Catalog, load_catalog
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.services.accounts import AccountReader, MarkBlocked
from forever.services.memberships import ExpireDueMemberships
from forever.services.retention import ResumeDuePauses, Retention
from tests.fakes.core import (
    CountingKick,
    FakeEventLog,
    FakeOutbox,
    FakePeople,
    FakeStore,
    FakeSubscription,
    FakeSubscriptions,
    FakeUnitOfWork,
)

CATALOG_PATH = Path(__file__).resolve().parents[2] / "catalog.toml"


@dataclass
class FakeConsent:
    person_id: int
    confirmed_at: datetime | None = None
    withdrawn_at: datetime | None = None


class FakeAccountReads:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        store.extra.setdefault("consents", [])

    def add_consent(self, consent: FakeConsent) -> None:
        self.store.extra["consents"].append(consent)

    async def latest_marketing_consent(self, person_id: int) -> FakeConsent | None:
        mine = [c for c in self.store.extra["consents"] if c.person_id == person_id]
        return mine[-1] if mine else None

    async def person_id_by_email(self, email: str) -> int | None:
        found = sorted(
            p.id
            for p in self.store.people.values()
            if p.email is not None and p.email.lower() == email.lower()
        )
        return found[0] if found else None

    async def charge_amount(self, charge_id: str) -> int | None:
        paid = self.store.extra.get("customers")
        found = paid.payments.get(charge_id) if paid is not None else None
        return int(found["amount"]) if found else None


class FakeLifecycleRecords:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def offer_accepted_since(self, person_id: int, since: datetime | None) -> bool:
        return any(
            e.person_id == person_id
            and e.kind == EventKind.OFFER_ACCEPTED
            and (since is None or e.at >= since)
            for e in self.store.events
        )

    async def offers_made(
        self,
        person_id: int,
        since: datetime,
        before: datetime | None = None,
        *,
        taken_only: bool = False,
    ) -> Sequence[str]:
        kinds = {EventKind.OFFER_ACCEPTED, EventKind.WINBACK_RECOVERED}
        if not taken_only:
            kinds.add(EventKind.OFFER_SHOWN)
        return [
            str(e.data["offer"])
            for e in self.store.events
            if e.person_id == person_id
            and e.kind in kinds
            and e.at >= since
            and (before is None or e.at < before)
            and e.data.get("offer")
        ]

    async def pauses_ending_by(self, now: datetime) -> Sequence[FakeSubscription]:
        return [
            s
            for s in self.store.subscriptions.values()
            if s.state == "paused" and s.paused_until is not None and s.paused_until <= now
        ]

    async def ending_by(self, states: Sequence[str], now: datetime) -> Sequence[FakeSubscription]:
        return [
            s
            for s in self.store.subscriptions.values()
            if s.state in states and s.period_end is not None and s.period_end <= now
        ]


@dataclass
class LifecycleWorld:
    """The lifecycle use cases on in-memory fakes, with handles to look inside."""

    now: datetime
    catalog: Catalog = field(default_factory=lambda: load_catalog(CATALOG_PATH))
    store: FakeStore = field(default_factory=FakeStore)

    def __post_init__(self) -> None:
        self.clock = ManualClock(self.now)
        self.uow = FakeUnitOfWork(self.store)
        self.people = FakePeople(self.store)
        self.subscriptions = FakeSubscriptions(self.store)
        self.events = FakeEventLog(self.store)
        self.outbox = FakeOutbox(self.store)
        self.reads = FakeAccountReads(self.store)
        self.records = FakeLifecycleRecords(self.store)
        self.kick = CountingKick(store=self.store)
        self.retention = Retention(
            uow=self.uow,
            people=self.people,
            subscriptions=self.subscriptions,
            events=self.events,
            outbox=self.outbox,
            reads=self.reads,
            records=self.records,
            catalog=self.catalog,
            clock=self.clock,
            kick=self.kick,
        )
        self.accounts = AccountReader(
            self.uow, self.people, self.subscriptions, self.reads, self.clock
        )
        self.mark_blocked = MarkBlocked(self.uow, self.people, self.clock)
        self.expire = ExpireDueMemberships(self.uow, self.records, self.events)
        self.resume_due = ResumeDuePauses(self.uow, self.records, self.events)

    def member(self, telegram_id: int, **sub: object) -> int:
        """A person with a subscription in the given shape; returns the person's id."""
        person = self.people.add(telegram_id=telegram_id, first_name="Ana")
        row = FakeSubscription(id=len(self.store.subscriptions) + 1, person_id=person.id)
        for name, value in sub.items():
            setattr(row, name, value)
        self.store.subscriptions[row.id] = row
        return person.id

    def sub(self, person_id: int) -> FakeSubscription:
        return next(s for s in self.store.subscriptions.values() if s.person_id == person_id)
