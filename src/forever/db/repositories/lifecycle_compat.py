"""The lifecycle area's old entry points, kept with their old names and signatures for the
callers in other areas that still pass a container or an open session (signup, privacy,
billing, staff, win-back, the settings and sign-up routers, the sweeps list).

New code takes `services.accounts.AccountReader`, `services.retention.Retention` and the
sweep use cases from `wiring.lifecycle` instead. Delete this module when nothing imports it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from forever.config import LOCALES
from forever.db.models import Consent, Event, Person, Subscription, Suppression
from forever.db.outbox import SqlOutbox
from forever.db.repositories.core import SqlEventLog, SqlPeople, SqlSubscriptions
from forever.db.repositories.lifecycle import SqlAccountReads, SqlLifecycleRecords
from forever.db.transactions import SqlUnitOfWork
from forever.domain.account import Snapshot
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.lifecycle import State
from forever.domain.signing import email_hash
from forever.services.accounts import AccountReader, MarkBlocked, SetLanguage, make_snapshot
from forever.services.memberships import ExpireDueMemberships
from forever.services.retention import ResumeDuePauses


class Ports(Protocol):
    """What the old entry points use of the container (wiring.container.Container)."""

    uow: SqlUnitOfWork
    people_repo: SqlPeople
    subscriptions: SqlSubscriptions
    events: SqlEventLog
    outbox: SqlOutbox
    clock: Clock


def _reader(container: Ports) -> AccountReader:
    return AccountReader(
        container.uow,
        container.people_repo,
        container.subscriptions,
        SqlAccountReads(container.uow),
        container.clock,
    )


async def current(container: Ports, person_id: int) -> Snapshot:
    return await _reader(container).current(person_id)


async def snapshot_by_telegram_id(container: Ports, telegram_id: int) -> Snapshot | None:
    return await _reader(container).by_telegram_id(telegram_id)


async def snapshot_by_email(container: Ports, email: str) -> Snapshot | None:
    return await _reader(container).by_email(email)


async def set_language(container: Ports, person_id: int, language: str) -> Snapshot | None:
    use_case = SetLanguage(container.uow, container.people_repo, _reader(container), LOCALES)
    return await use_case(person_id, language)


async def mark_blocked(container: Ports, telegram_id: int) -> None:
    """The person blocked the bot (403): stop writing to them until they write again."""
    await MarkBlocked(container.uow, container.people_repo, container.clock)(telegram_id)


async def expire_due_memberships(container: Ports, now: datetime) -> int:
    return await ExpireDueMemberships(
        container.uow, SqlLifecycleRecords(container.uow), container.events
    )(now)


async def resume_due_pauses(container: Ports, now: datetime) -> int:
    return await ResumeDuePauses(
        container.uow, SqlLifecycleRecords(container.uow), container.events
    )(now)


# --- inside a caller's own open session ----------------------------------------------------


async def subscription_for(session: AsyncSession, person_id: int, now: datetime) -> Subscription:
    """The person's subscription row, created in state `none` if missing."""
    row = await session.scalar(select(Subscription).where(Subscription.person_id == person_id))
    if row is None:
        row = Subscription(person_id=person_id, state=State.NONE.value, updated_at=now)
        session.add(row)
        await session.flush()
    return row


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
    session.add(Event(person_id=person.id, kind=EventKind.EMAIL_GIVEN, at=now, data={}))
    return True
