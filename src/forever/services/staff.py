"""Staff use cases besides broadcasts: find a person, grant access, the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forever.db.models import AuditEntry, Event, Person, Subscription
from forever.db.repositories.lifecycle_compat import subscription_for
from forever.domain import lifecycle
from forever.domain.events import EventKind
from forever.services.broadcasts import audit
from forever.services.events import record_event
from forever.services.memberships import apply_membership, to_membership

MAX_GRANT_DAYS = 3650


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


async def find_person(session: AsyncSession, who: str) -> Person | None:
    field, value = parse_who(who)
    if field == "telegram_id":
        condition = Person.telegram_id == value
    elif field == "username":
        condition = func.lower(Person.username) == str(value).lower()
    else:
        condition = func.lower(Person.email) == value
    return await session.scalar(
        select(Person).where(condition, Person.erased_at.is_(None)).order_by(Person.id).limit(1)
    )


@dataclass(frozen=True, slots=True)
class PersonCard:
    person: Person
    subscription: Subscription | None
    events: Sequence[Event]


async def person_card(session: AsyncSession, person: Person, *, events: int = 10) -> PersonCard:
    subscription = await session.scalar(
        select(Subscription).where(Subscription.person_id == person.id)
    )
    recent = (
        await session.scalars(
            select(Event)
            .where(Event.person_id == person.id)
            .order_by(Event.at.desc(), Event.id.desc())
            .limit(events)
        )
    ).all()
    return PersonCard(person, subscription, recent)


def parse_days(text: str) -> int:
    """A whole number of days, 1 to MAX_GRANT_DAYS; ValueError otherwise."""
    value = text.strip()
    if not value.isdigit():
        raise ValueError(value)
    days = int(value)
    if not 1 <= days <= MAX_GRANT_DAYS:
        raise ValueError(value)
    return days


async def grant(
    session: AsyncSession,
    *,
    person_id: int,
    plan_id: str,
    days: int,
    staff_id: int,
    now: datetime,
) -> lifecycle.Membership:
    """Give `plan_id` for `days` (added to access still running), with an event and audit."""
    row = await subscription_for(session, person_id, now)
    membership = lifecycle.grant(to_membership(row), plan_id=plan_id, now=now, days=days)
    apply_membership(row, membership, now)
    row.cancel_reason = None
    record_event(session, EventKind.GRANTED, now, person_id, plan=plan_id, days=days, by=staff_id)
    audit(session, staff_id, "grant", now, person=person_id, plan=plan_id, days=days)
    return membership


async def recent_audit(session: AsyncSession, limit: int = 15) -> Sequence[AuditEntry]:
    return (
        await session.scalars(
            select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        )
    ).all()


def record(
    session: AsyncSession, staff_id: int, action: str, now: datetime, **arguments: Any
) -> None:
    audit(session, staff_id, action, now, **arguments)
