"""/privacy: what is kept about a person, and erasing it on request.

Erasure blanks the personal columns (the row stays as an anonymous tombstone so events still
count), stops any Stars renewal, withdraws consent, drops queued messages, scrubs every other
copy of their data (staff audit entries, so the console's inbox made of them, keep the fact
without their words or ids; stored webhook updates; staff's copies of their messages), all in
one transaction, and keeps only a keyed hash of the address in the suppression list so it is
never mailed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from forever.domain import lifecycle
from forever.domain.clock import Clock
from forever.domain.events import EventKind
from forever.domain.lifecycle import Action
from forever.services.accounts import Snapshot
from forever.services.billing import PaymentRepository, Snapshots
from forever.services.consent import ConsentRepository
from forever.services.memberships import apply_membership, to_membership
from forever.services.ports import (
    DeliveryKick,
    EventLog,
    Outbox,
    PeopleRepository,
    SubscriptionRepository,
    UnitOfWork,
)
from forever.services.stars import queue_stars_edit


class ErasureStore(Protocol):
    async def suppress(self, address: str, reason: str, now: datetime) -> bool:
        """Never mail this address again (kept as a hash); False when already listed."""
        ...

    async def drop_queued(self, person_id: int) -> None:
        """Delete the person's undelivered messages and blank the context of the rest."""
        ...

    async def scrub(
        self,
        person_id: int,
        *,
        telegram_id: int | None,
        addresses: Sequence[str],
        names: Sequence[str],
    ) -> None:
        """Remove every other copy of the person's data: staff audit entries that name them or
        hold their words, stored webhook updates they sent, staff's copies of their messages,
        their broadcast deliveries' chat id."""
        ...


@dataclass(frozen=True, slots=True)
class Kept:
    snap: Snapshot
    payments: int
    consents: int


class Privacy:
    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        subscriptions: SubscriptionRepository,
        consents: ConsentRepository,
        payments: PaymentRepository,
        snapshots: Snapshots,
        erasure: ErasureStore,
        events: EventLog,
        clock: Clock,
        outbox: Outbox,
        kick: DeliveryKick,
    ) -> None:
        self.uow = uow
        self.outbox = outbox
        self.kick = kick
        self.people = people
        self.subscriptions = subscriptions
        self.consents = consents
        self.payments = payments
        self.snapshots = snapshots
        self.erasure = erasure
        self.events = events
        self.clock = clock

    async def what_we_keep(self, person_id: int) -> Kept:
        async with self.uow.begin():
            snap = await self.snapshots.snapshot(person_id, self.clock.now())
            assert snap is not None
            payments = await self.payments.count_of(person_id)
            consents = len(await self.consents.of_person(person_id))
        return Kept(snap, payments, consents)

    async def erase(self, person_id: int) -> bool:
        """False when already erased (a second tap).

        A renewing Stars subscription is stopped through the outbox, queued with the erasure
        (after the person's other queued messages are dropped) and delivered right after the
        commit; if Telegram keeps refusing, staff are alerted, so a person who is gone is
        never charged again without anyone knowing."""
        now = self.clock.now()
        stop: tuple[int, str] | None = None
        async with self.uow.begin():
            person = await self.people.get(person_id)
            if person is None or person.erased_at is not None:
                return False
            sub = await self.subscriptions.get_or_create(person_id, now)
            if sub.auto_renew and sub.star_charge_id and person.telegram_id:
                stop = (person.telegram_id, sub.star_charge_id)
            m = to_membership(sub)
            if m.state in lifecycle.ALLOWED[Action.EXPIRE]:
                apply_membership(sub, lifecycle.expire(m, now=now), now)
            sub.auto_renew = False
            sub.star_charge_id = None
            sub.star_payload = None
            addresses = {a.lower() for a in [person.email] if a}
            for consent in await self.consents.of_person(person_id):
                if consent.email:
                    addresses.add(consent.email.lower())
                consent.email = None
                consent.withdrawn_at = consent.withdrawn_at or now
            for address in sorted(addresses):
                await self.erasure.suppress(address, "erased", now)
            await self.erasure.drop_queued(person_id)
            await self.erasure.scrub(
                person_id,
                telegram_id=person.telegram_id,
                addresses=sorted(addresses),
                names=[n for n in (person.username, person.first_name) if n],
            )
            if stop is not None:
                await queue_stars_edit(
                    self.outbox,
                    key=f"stars-erase:{person_id}",
                    person_id=person_id,
                    telegram_id=stop[0],
                    charge_id=stop[1],
                    canceled=True,
                    now=now,
                )
            person.telegram_id = None
            person.username = None
            person.first_name = None
            person.email = None
            person.email_status = "none"
            person.timezone = None
            person.awaiting = None
            person.erased_at = now
            self.events.record(EventKind.ERASED, now, person_id)
            await self.uow.commit()
        if stop is not None:
            self.kick.kick()
        return True
