"""Reading a person's state in one place (chat views, staff /user, the sandbox), and the
small profile changes: language and email address.

`snapshot_by_telegram_id` / `snapshot_by_email` / `snapshot` are the public way to read
where someone stands; nothing here commits except the use cases at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from forever.config import LOCALES
from forever.db.models import Consent, Person, Subscription, Suppression
from forever.domain.events import EventKind
from forever.domain.lifecycle import Membership
from forever.domain.signing import email_hash
from forever.services.events import record_event
from forever.services.memberships import subscription_for, to_membership

if TYPE_CHECKING:
    from forever.app import Container


class Status(StrEnum):
    DONE = "done"
    STALE = "stale"  # the button was made for an older state: nothing done
    NOT_ALLOWED = "not_allowed"  # not possible from the current state


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where a person stands right now."""

    person_id: int
    telegram_id: int | None
    first_name: str | None
    username: str | None
    language: str
    email: str | None
    email_status: str
    trial_used: bool
    membership: Membership
    version: int
    cancel_reason: str | None
    canceled_at: datetime | None
    renewing_star_subscription: bool
    marketing: str  # none | pending | confirmed | withdrawn
    erased: bool


async def snapshot(session: AsyncSession, person_id: int, now: datetime) -> Snapshot | None:
    person = await session.get(Person, person_id)
    if person is None:
        return None
    sub = await subscription_for(session, person.id, now)
    consent = await session.scalar(
        select(Consent)
        .where(Consent.person_id == person.id, Consent.purpose == "marketing")
        .order_by(Consent.asked_at.desc(), Consent.id.desc())
        .limit(1)
    )
    return make_snapshot(person, sub, consent)


def make_snapshot(person: Person, sub: Subscription, consent: Consent | None = None) -> Snapshot:
    marketing = "none"
    if consent is not None:
        marketing = (
            "withdrawn"
            if consent.withdrawn_at
            else ("confirmed" if consent.confirmed_at else "pending")
        )
    return Snapshot(
        person_id=person.id,
        telegram_id=person.telegram_id,
        first_name=person.first_name,
        username=person.username,
        language=person.language,
        email=person.email,
        email_status=person.email_status,
        trial_used=person.trial_used_at is not None,
        membership=to_membership(sub),
        version=sub.version,
        cancel_reason=sub.cancel_reason,
        canceled_at=sub.canceled_at,
        renewing_star_subscription=bool(sub.star_charge_id and sub.auto_renew),
        marketing=marketing,
        erased=person.erased_at is not None,
    )


async def snapshot_by_telegram_id(container: Container, telegram_id: int) -> Snapshot | None:
    async with container.sessions.begin() as session:
        person_id = await session.scalar(select(Person.id).where(Person.telegram_id == telegram_id))
        if person_id is None:
            return None
        return await snapshot(session, person_id, container.clock.now())


async def snapshot_by_email(container: Container, email: str) -> Snapshot | None:
    async with container.sessions.begin() as session:
        person_id = await session.scalar(
            select(Person.id)
            .where(func.lower(Person.email) == email.strip().lower())
            .order_by(Person.id)
            .limit(1)
        )
        if person_id is None:
            return None
        return await snapshot(session, person_id, container.clock.now())


async def current(container: Container, person_id: int) -> Snapshot:
    async with container.sessions.begin() as session:
        snap = await snapshot(session, person_id, container.clock.now())
    assert snap is not None
    return snap


async def set_language(container: Container, person_id: int, language: str) -> Snapshot | None:
    """None for a language we do not speak (a forged button)."""
    if language not in LOCALES:
        return None
    now = container.clock.now()
    async with container.sessions.begin() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.language = language
        return await snapshot(session, person_id, now)


async def email_taken_by_trial(session: AsyncSession, email: str, person_id: int) -> bool:
    """Someone else already had a trial with this address (an erased person's address is
    kept only as a hash, and still counts)."""
    other = await session.scalar(
        select(Person.id)
        .where(func.lower(Person.email) == email.lower())
        .where(Person.id != person_id)
        .where(Person.trial_used_at.is_not(None))
        .limit(1)
    )
    if other is not None:
        return True
    erased = await session.scalar(
        select(Suppression.id)
        .where(Suppression.email_hash == email_hash(email))
        .where(Suppression.reason == "erased")
    )
    return erased is not None


def store_email(session: AsyncSession, person: Person, email: str, now: datetime) -> bool:
    """Keep a new address (unconfirmed); False when it is the one already kept."""
    if person.email is not None and person.email.lower() == email.lower():
        return False
    person.email = email
    person.email_status = "unconfirmed"
    record_event(session, EventKind.EMAIL_GIVEN, now, person.id)
    return True


async def mark_blocked(container: Container, telegram_id: int) -> None:
    """The person blocked the bot (403): stop writing to them until they write again."""
    async with container.sessions.begin() as session:
        await session.execute(
            update(Person)
            .where(Person.telegram_id == telegram_id)
            .values(blocked_at=container.clock.now())
        )
