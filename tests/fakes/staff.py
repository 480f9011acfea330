"""Fakes of the staff area's ports: the audit log, what staff look up, the event history
for /stats, and the broadcast jobs with their recipients (for composing and for sending).

Everything is kept in `FakeStore.extra`, so the fake unit of work rolls it back too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from forever.domain.kpi import EventRow
from forever.domain.segments import Segment
from forever.services.broadcast_sender import Claimed, DeliveryResult
from forever.services.broadcasts import ACTIVE_STATUSES, Content, reaches
from tests.fakes.core import CountingKick, FakeEvent, FakePerson, FakeStore


@dataclass
class FakeAuditEntry:
    id: int
    actor_telegram_id: int
    action: str
    arguments: dict[str, Any]
    at: datetime


@dataclass
class FakeBroadcast:
    id: int
    created_by: int
    source_chat_id: int
    source_message_id: int
    personalized_html: str | None
    button_text: str | None
    button_url: str | None
    segment: dict[str, Any]
    status: str
    total: int
    created_at: datetime
    progress_chat_id: int | None = None
    progress_message_id: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    variants: dict[str, Any] | None = None
    paid: bool = False


@dataclass
class FakeDelivery:
    id: int
    broadcast_id: int
    person_id: int
    chat_id: int
    status: str = "pending"
    attempts: int = 0
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    message_id: int | None = None
    error: str | None = None
    updated_at: datetime | None = None


def _audit(store: FakeStore) -> list[FakeAuditEntry]:
    entries: list[FakeAuditEntry] = store.extra.setdefault("audit", [])
    return entries


class FakeAuditLog:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def record(self, actor: int, action: str, at: datetime, **arguments: Any) -> None:
        entries = _audit(self.store)
        entries.append(FakeAuditEntry(len(entries) + 1, actor, action, dict(arguments), at))

    def entries(self) -> list[FakeAuditEntry]:
        return list(_audit(self.store))

    def actions(self) -> list[str]:
        return [e.action for e in _audit(self.store)]


class FakeStaffDirectory:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def find_person(self, field: str, value: str | int) -> FakePerson | None:
        def matches(person: FakePerson) -> bool:
            if field == "telegram_id":
                return person.telegram_id == value
            found = person.username if field == "username" else person.email
            return found is not None and found.lower() == str(value).lower()

        return next(
            (
                p
                for p in sorted(self.store.people.values(), key=lambda p: p.id)
                if p.erased_at is None and matches(p)
            ),
            None,
        )

    async def recent_events(self, person_id: int, limit: int) -> list[FakeEvent]:
        mine = [e for e in self.store.events if e.person_id == person_id]
        return sorted(mine, key=lambda e: (e.at, e.id), reverse=True)[:limit]

    async def recent_audit(self, limit: int) -> list[FakeAuditEntry]:
        return sorted(_audit(self.store), key=lambda e: (e.at, e.id), reverse=True)[:limit]


class FakeEventHistory:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def until(self, end: datetime) -> list[EventRow]:
        ordered = sorted((e for e in self.store.events if e.at <= end), key=lambda e: (e.at, e.id))
        return [EventRow(e.kind, e.at, e.person_id, e.data) for e in ordered]


class FakeBroadcasts:
    """services.broadcasts.BroadcastRepository and services.broadcast_sender.BroadcastJobs;
    recipients are chosen with the same rule (`reaches`) the SQL query implements."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    @property
    def jobs(self) -> dict[int, FakeBroadcast]:
        jobs: dict[int, FakeBroadcast] = self.store.extra.setdefault("broadcasts", {})
        return jobs

    @property
    def deliveries(self) -> dict[int, FakeDelivery]:
        rows: dict[int, FakeDelivery] = self.store.extra.setdefault("deliveries", {})
        return rows

    @property
    def leases(self) -> dict[int, tuple[str, datetime]]:
        leases: dict[int, tuple[str, datetime]] = self.store.extra.setdefault("leases", {})
        return leases

    def _recipients(self, segment: Segment) -> list[FakePerson]:
        subscriptions = {s.person_id: s for s in self.store.subscriptions.values()}
        return [
            p
            for p in sorted(self.store.people.values(), key=lambda p: p.id)
            if reaches(segment, p, subscriptions.get(p.id))
        ]

    def of_job(self, job_id: int) -> list[FakeDelivery]:
        return sorted(
            (d for d in self.deliveries.values() if d.broadcast_id == job_id), key=lambda d: d.id
        )

    # -- composing ---------------------------------------------------------------------------

    async def get(self, broadcast_id: int) -> FakeBroadcast | None:
        return self.jobs.get(broadcast_id)

    async def active(self) -> FakeBroadcast | None:
        return next((j for _, j in sorted(self.jobs.items()) if j.status in ACTIVE_STATUSES), None)

    async def count_recipients(self, segment: Segment) -> int:
        return len(self._recipients(segment))

    async def add_draft(
        self, *, staff_id: int, content: Content, segment: dict[str, Any], total: int, now: datetime
    ) -> FakeBroadcast:
        draft = FakeBroadcast(
            id=len(self.jobs) + 1,
            created_by=staff_id,
            source_chat_id=content.source_chat_id,
            source_message_id=content.source_message_id,
            personalized_html=content.template_html,
            button_text=content.button_text,
            button_url=content.button_url,
            segment=dict(segment),
            status="draft",
            total=total,
            created_at=now,
            variants={k: v.to_json() for k, v in content.variants.items()} or None,
        )
        self.jobs[draft.id] = draft
        return draft

    async def change_status(
        self, broadcast_id: int, *, only_from: Collection[str], to: str
    ) -> bool:
        job = self.jobs.get(broadcast_id)
        if job is None or job.status not in only_from:
            return False
        job.status = to
        return True

    async def change_owner(self, broadcast_id: int, *, from_staff: int, to_staff: int) -> bool:
        job = self.jobs.get(broadcast_id)
        if job is None or job.status != "draft" or job.created_by != from_staff:
            return False
        job.created_by = to_staff
        return True

    async def add_recipients(self, broadcast_id: int, segment: Segment) -> int:
        people = self._recipients(segment)
        for person in people:
            assert person.telegram_id is not None
            row = FakeDelivery(
                len(self.deliveries) + 1, broadcast_id, person.id, person.telegram_id
            )
            self.deliveries[row.id] = row
        return len(people)

    async def delivery_counts(self, broadcast_id: int) -> Counter[str]:
        return Counter(d.status for d in self.of_job(broadcast_id))

    # -- sending -----------------------------------------------------------------------------

    async def next_active(self) -> int | None:
        job = await self.active()
        return job.id if job is not None else None

    async def status_of(self, job_id: int) -> str | None:
        job = self.jobs.get(job_id)
        return job.status if job is not None else None

    async def reclaim_sending(self, job_id: int, now: datetime) -> None:
        for row in self.of_job(job_id):
            if row.status == "sending":
                row.status, row.claimed_by, row.claimed_until = "pending", None, None
                row.updated_at = now

    async def claim(
        self, job_id: int, limit: int, *, holder: str, until: datetime, now: datetime
    ) -> list[Claimed]:
        rows = [d for d in self.of_job(job_id) if d.status == "pending"][:limit]
        for row in rows:
            row.status, row.claimed_by, row.claimed_until, row.updated_at = (
                "sending",
                holder,
                until,
                now,
            )
        return [
            Claimed(
                d.id,
                d.person_id,
                d.chat_id,
                self.store.people[d.person_id].first_name,
                d.attempts,
                self.store.people[d.person_id].language,
            )
            for d in rows
        ]

    async def record_results(self, results: Sequence[DeliveryResult], now: datetime) -> None:
        for result in results:
            row = self.deliveries[result.delivery_id]
            row.status, row.attempts = result.status, result.attempts
            row.message_id, row.error = result.message_id, result.error
            row.claimed_by, row.claimed_until, row.updated_at = None, None, now

    async def release(self, delivery_ids: Sequence[int]) -> None:
        for delivery_id in delivery_ids:
            row = self.deliveries[delivery_id]
            if row.status == "sending":
                row.status, row.claimed_by, row.claimed_until = "pending", None, None

    async def take_lease(self, job_id: int, *, holder: str, ttl: timedelta, now: datetime) -> bool:
        current = self.leases.get(job_id)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self.leases[job_id] = (holder, now + ttl)
        return True

    async def release_lease(self, job_id: int, *, holder: str, now: datetime) -> None:
        current = self.leases.get(job_id)
        if current is not None and current[0] == holder:
            self.leases[job_id] = (holder, now)


@dataclass
class StaffFakes:
    """Everything the staff use cases need, over one store."""

    store: FakeStore = field(default_factory=FakeStore)

    def __post_init__(self) -> None:
        self.audit = FakeAuditLog(self.store)
        self.directory = FakeStaffDirectory(self.store)
        self.history = FakeEventHistory(self.store)
        self.broadcasts = FakeBroadcasts(self.store)
        self.kick = CountingKick()


@dataclass
class FakePayment:
    id: int
    person_id: int | None
    telegram_charge_id: str
    plan_id: str
    billing: str
    amount: int
    currency: str
    is_recurring: bool
    created_at: datetime
    refunded_at: datetime | None = None


class FakeStaffPayments:
    """services.refunds.StaffPayments (kept in the store, so a rollback undoes a refund)."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def _all(self) -> list[FakePayment]:
        found: list[FakePayment] = self.store.extra.setdefault("payments", [])
        return found

    def add(self, person_id: int, charge_id: str, at: datetime, **fields: Any) -> FakePayment:
        values: dict[str, Any] = {
            "plan_id": "plus",
            "billing": "monthly",
            "amount": 300,
            "currency": "XTR",
            "is_recurring": False,
        } | fields
        payment = FakePayment(len(self._all()) + 1, person_id, charge_id, created_at=at, **values)
        self._all().append(payment)
        return payment

    async def by_charge_id(self, charge_id: str) -> FakePayment | None:
        return next((p for p in self._all() if p.telegram_charge_id == charge_id), None)

    async def get(self, payment_id: int) -> FakePayment | None:
        return next((p for p in self._all() if p.id == payment_id), None)

    async def of(self, person_id: int, limit: int) -> list[FakePayment]:
        mine = [p for p in self._all() if p.person_id == person_id]
        return sorted(mine, key=lambda p: (p.created_at, p.id), reverse=True)[:limit]

    async def mark_refunded(self, payment_id: int, now: datetime) -> bool:
        payment = await self.get(payment_id)
        if payment is None or payment.refunded_at is not None:
            return False
        payment.refunded_at = now
        return True
