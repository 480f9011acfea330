"""Staff use cases besides broadcasts: find a person, grant access, the audit log.

Every staff action is kept in the audit log, written in the same transaction as the action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from forever.domain import lifecycle
from forever.domain.catalog import Catalog, Plan
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import (
    DeliveryKick,
    EventLog,
    Outbox,
    PeopleRepository,
    SubscriptionRepository,
    UnitOfWork,
)
from forever.services.records import EventRecord, PersonRecord, SubscriptionRecord

MAX_GRANT_DAYS = 3650
AUDIT_PAGE = 15
# message_templates/chat/: what the customer is told about a grant.
GRANT_RECEIVED = "grant_received"


class AuditRecord(Protocol):
    """One kept staff action (db/models.AuditEntry satisfies it)."""

    id: int
    actor_telegram_id: int
    action: str
    arguments: dict[str, Any]
    at: datetime


class AuditLog(Protocol):
    """Adds an entry to the open transaction; it is kept when the use case commits."""

    def record(self, actor: int, action: str, at: datetime, **arguments: Any) -> None: ...


class StaffDirectory(Protocol):
    """What staff look up."""

    async def find_person(self, field: str, value: str | int) -> PersonRecord | None:
        """The oldest person not erased whose `field` (telegram_id, username or email; the
        last two without regard to case) equals `value`."""
        ...

    async def recent_events(self, person_id: int, limit: int) -> Sequence[EventRecord]:
        """The person's latest events, newest first."""
        ...

    async def recent_audit(self, limit: int) -> Sequence[AuditRecord]:
        """The latest audit entries, newest first."""
        ...


def parse_who(text: str) -> tuple[str, str | int]:
    """`12345` → telegram id, `@name` → username, `a@b.c` → email. ValueError otherwise."""
    value = text.strip()
    if value.lstrip("-").isdigit():
        return "telegram_id", int(value)
    if value.startswith("@") and len(value) > 1:
        return "username", value[1:]
    if "@" in value and "." in value.rsplit("@", 1)[-1]:
        return "email", value.lower()
    raise ValueError(value)


def parse_days(text: str) -> int:
    """A whole number of days, 1 to MAX_GRANT_DAYS; ValueError otherwise."""
    value = text.strip()
    if not value.isdigit():
        raise ValueError(value)
    days = int(value)
    if not 1 <= days <= MAX_GRANT_DAYS:
        raise ValueError(value)
    return days


@dataclass(frozen=True, slots=True)
class PersonCard:
    person: PersonRecord
    subscription: SubscriptionRecord | None
    events: Sequence[EventRecord]


@dataclass(frozen=True, slots=True)
class GrantProposal:
    """What `/grant` would do, or why not: outcome is ok, bad_days, unknown_plan, bad_who
    or not_found."""

    outcome: str
    person: PersonRecord | None = None
    plan: Plan | None = None
    days: int = 0


@dataclass(frozen=True, slots=True)
class Granted:
    membership: lifecycle.Membership
    person: PersonRecord | None
    # Whether a chat message telling the customer was queued with the grant (False when they
    # cannot be written to: no chat, blocked the bot, or erased).
    told: bool = False


def can_be_told(person: PersonRecord | None) -> bool:
    return (
        person is not None
        and person.telegram_id is not None
        and person.blocked_at is None
        and person.erased_at is None
    )


class StaffTools:
    """/user, /grant and /audit."""

    def __init__(
        self,
        uow: UnitOfWork,
        directory: StaffDirectory,
        people: PeopleRepository,
        subscriptions: SubscriptionRepository,
        events: EventLog,
        audit: AuditLog,
        catalog: Catalog,
        clock: Clock,
        outbox: Outbox,
        kick: DeliveryKick,
    ) -> None:
        self.uow = uow
        self.directory = directory
        self.people = people
        self.subscriptions = subscriptions
        self.events = events
        self.audit = audit
        self.catalog = catalog
        self.clock = clock
        self.outbox = outbox
        self.kick = kick

    async def look_up(self, *, staff_id: int, who: str, events: int = 10) -> PersonCard | None:
        """The person's card (None if nobody matches); ValueError if `who` is no id, @name
        or email. The lookup is audited."""
        field, value = parse_who(who)
        now = self.clock.now()
        async with self.uow.begin():
            found = await self.directory.find_person(field, value)
            card = None
            if found is not None:
                card = PersonCard(
                    found,
                    await self.subscriptions.of(found.id),
                    await self.directory.recent_events(found.id, events),
                )
            self.audit.record(staff_id, "user_lookup", now, query=who)
            await self.uow.commit()
        return card

    async def propose_grant(self, who: str, plan_id: str, days_text: str) -> GrantProposal:
        """Check `/grant <who> <plan> <days>` and find the person (nothing is changed)."""
        try:
            days = parse_days(days_text)
        except ValueError:
            return GrantProposal("bad_days")
        plan = self.catalog.plan(plan_id.lower())
        if plan is None:
            return GrantProposal("unknown_plan")
        try:
            field, value = parse_who(who)
        except ValueError:
            return GrantProposal("bad_who")
        async with self.uow.begin():
            person = await self.directory.find_person(field, value)
            await self.uow.commit()  # nothing written; keeps the record loaded for the reply
        if person is None:
            return GrantProposal("not_found")
        return GrantProposal("ok", person, plan, days)

    async def grant(self, *, staff_id: int, person_id: int, plan_id: str, days: int) -> Granted:
        """Give `plan_id` for `days` (added to access still running), with an event and audit.

        The customer is told in chat (plan, days, until when, in their language) by an outbox
        row written in the same transaction: no grant without its message, nor the reverse."""
        now = self.clock.now()
        async with self.uow.begin():
            row = await self.subscriptions.get_or_create(person_id, now)
            membership = lifecycle.grant(to_membership(row), plan_id=plan_id, now=now, days=days)
            apply_membership(row, membership, now)
            row.cancel_reason = None
            self.events.record(
                EventKind.GRANTED, now, person_id, plan=plan_id, days=days, by=staff_id
            )
            person = await self.people.get(person_id)
            told = can_be_told(person)
            if told:
                plan = self.catalog.plan(plan_id)
                await self.outbox.enqueue(
                    key=f"grant:{person_id}:{staff_id}:{now.isoformat()}",
                    channel="chat",
                    person_id=person_id,
                    template=GRANT_RECEIVED,
                    context={
                        "plan_names": dict(plan.name) if plan else {},
                        "plan_id": plan_id,
                        "days": days,
                        "until": membership.period_end,
                    },
                    marketing=False,
                    not_before=now,
                    now=now,
                )
            self.audit.record(staff_id, "grant", now, person=person_id, plan=plan_id, days=days)
            await self.uow.commit()
        if told:
            self.kick.kick()
        return Granted(membership, person, told)

    async def cancel_grant(self, *, staff_id: int, proposal: dict[str, Any]) -> None:
        """Staff said no to a proposed grant: only the audit log keeps it."""
        async with self.uow.begin():
            self.audit.record(staff_id, "grant_cancelled", self.clock.now(), **proposal)
            await self.uow.commit()

    async def audit_log(self, *, staff_id: int, limit: int = AUDIT_PAGE) -> list[AuditRecord]:
        """The latest audit entries (this viewing is audited too, after reading)."""
        now = self.clock.now()
        async with self.uow.begin():
            entries = list(await self.directory.recent_audit(limit))
            self.audit.record(staff_id, "audit_viewed", now)
            await self.uow.commit()
        return entries
