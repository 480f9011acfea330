"""/privacy: what is kept about a person, and erasing it on request.

Erasure blanks the personal columns (the row stays as an anonymous tombstone so events still
count), stops any Stars renewal, withdraws consent, drops queued messages, and keeps only a
hash of the address in the suppression list so it is never mailed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update

from forever.db.models import Consent, OutboxMessage, Payment, Person
from forever.db.repositories import suppressions
from forever.domain import lifecycle
from forever.domain.events import EventKind
from forever.domain.lifecycle import Action
from forever.services.accounts import Snapshot, snapshot
from forever.services.events import record_event
from forever.services.memberships import apply_membership, subscription_for, to_membership
from forever.services.ports import ChatPort

if TYPE_CHECKING:
    from forever.app import Container


@dataclass(frozen=True, slots=True)
class Kept:
    snap: Snapshot
    payments: int
    consents: int


async def what_we_keep(container: Container, person_id: int) -> Kept:
    async with container.sessions.begin() as session:
        snap = await snapshot(session, person_id, container.clock.now())
        assert snap is not None
        payments = await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.person_id == person_id)
        )
        consents = await session.scalar(
            select(func.count()).select_from(Consent).where(Consent.person_id == person_id)
        )
    return Kept(snap, payments or 0, consents or 0)


async def erase(container: Container, chat: ChatPort, person_id: int) -> bool:
    """False when already erased (a second tap)."""
    now = container.clock.now()
    async with container.sessions.begin() as session:
        person = await session.get(Person, person_id)
        if person is None or person.erased_at is not None:
            return False
        sub = await subscription_for(session, person_id, now)
        if sub.auto_renew and sub.star_charge_id and person.telegram_id:
            # Never charge someone who is gone.
            await chat.cancel_star_subscription(person.telegram_id, sub.star_charge_id, True)
        m = to_membership(sub)
        if m.state in lifecycle.ALLOWED[Action.EXPIRE]:
            apply_membership(sub, lifecycle.expire(m, now=now), now)
        sub.auto_renew = False
        sub.star_charge_id = None
        sub.star_payload = None
        addresses = {a.lower() for a in [person.email] if a}
        for consent in await session.scalars(select(Consent).where(Consent.person_id == person_id)):
            if consent.email:
                addresses.add(consent.email.lower())
            consent.email = None
            consent.withdrawn_at = consent.withdrawn_at or now
        for address in sorted(addresses):
            await suppressions.suppress(session, address, "erased", now)
        await session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.person_id == person_id)
            .where(OutboxMessage.status.in_(["pending", "failed"]))
        )
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.person_id == person_id).values(context={})
        )
        person.telegram_id = None
        person.username = None
        person.first_name = None
        person.email = None
        person.email_status = "none"
        person.timezone = None
        person.awaiting = None
        person.erased_at = now
        record_event(session, EventKind.ERASED, now, person_id)
    return True
