"""Reading where a person stands (chat views, staff /user, the sandbox): the account
`Snapshot` assembled from stored records. The rules on it live in `domain.account`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from forever.domain.account import (
    AccountAction,
    Marketing,
    Snapshot,
    Status,
    account_actions,
    marketing_state,
    may_cancel,
    may_pause,
)
from forever.domain.clock import Clock
from forever.services.memberships import to_membership
from forever.services.ports import PeopleRepository, SubscriptionRepository, UnitOfWork
from forever.services.records import PersonRecord, SubscriptionRecord

__all__ = [
    "AccountAction",
    "AccountReader",
    "AccountReads",
    "ConsentRecord",
    "MarkBlocked",
    "Marketing",
    "Snapshot",
    "Status",
    "account_actions",
    "make_snapshot",
]


class ConsentRecord(Protocol):
    confirmed_at: datetime | None
    withdrawn_at: datetime | None


class AccountReads(Protocol):
    """The reads an account view needs beyond the person and their subscription."""

    async def latest_marketing_consent(self, person_id: int) -> ConsentRecord | None: ...

    async def person_id_by_email(self, email: str) -> int | None:
        """The oldest person with this address (case-insensitive)."""
        ...

    async def charge_amount(self, charge_id: str) -> int | None:
        """Stars of the recorded payment with this charge id (a Stars subscription's first
        charge: what it renews at)."""
        ...


def make_snapshot(
    person: PersonRecord,
    sub: SubscriptionRecord,
    consent: ConsentRecord | None = None,
    renewal_stars: int | None = None,
) -> Snapshot:
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
        marketing=marketing_state(
            asked=consent is not None,
            confirmed_at=consent.confirmed_at if consent else None,
            withdrawn_at=consent.withdrawn_at if consent else None,
        ).value,
        erased=person.erased_at is not None,
        renewal_stars=renewal_stars,
    )


async def renewal_stars(reads: AccountReads, sub: SubscriptionRecord) -> int | None:
    """What the membership's Stars subscription charges per 30 days, if it runs on one."""
    return await reads.charge_amount(sub.star_charge_id) if sub.star_charge_id else None


class AccountReader:
    """Read-only use cases: a person's current snapshot, found by id, Telegram id or email.
    `load` reads inside a unit of work that is already open (another use case's)."""

    def __init__(
        self,
        uow: UnitOfWork,
        people: PeopleRepository,
        subscriptions: SubscriptionRepository,
        reads: AccountReads,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.people = people
        self.subscriptions = subscriptions
        self.reads = reads
        self.clock = clock

    async def load(self, person_id: int, now: datetime) -> Snapshot | None:
        person = await self.people.get(person_id)
        if person is None:
            return None
        sub = await self.subscriptions.get_or_create(person_id, now)
        consent = await self.reads.latest_marketing_consent(person_id)
        return make_snapshot(person, sub, consent, await renewal_stars(self.reads, sub))

    async def _read(self, find: Callable[[], Awaitable[int | None]]) -> Snapshot | None:
        async with self.uow.begin():
            person_id = await find()
            snap = None if person_id is None else await self.load(person_id, self.clock.now())
            await self.uow.commit()  # keeps a subscription row created on first sight
        return snap

    async def current(self, person_id: int) -> Snapshot:
        async def find() -> int:
            return person_id

        snap = await self._read(find)
        if snap is None:
            raise LookupError(f"no person {person_id}")
        return snap

    async def by_telegram_id(self, telegram_id: int) -> Snapshot | None:
        async def find() -> int | None:
            person = await self.people.by_telegram_id(telegram_id)
            return person.id if person else None

        return await self._read(find)

    async def by_email(self, email: str) -> Snapshot | None:
        async def find() -> int | None:
            return await self.reads.person_id_by_email(email.strip().lower())

        return await self._read(find)

    async def for_action(
        self, person_id: int, action: AccountAction, expected_version: int | None
    ) -> tuple[Status, Snapshot]:
        """Before a confirming step (cancel? how long a pause?): DONE when the tap may go on,
        STALE when its button was made for another version, NOT_ALLOWED otherwise."""
        snap = await self.current(person_id)
        if expected_version is not None and snap.version != expected_version:
            return Status.STALE, snap
        m = snap.membership
        allowed = (action is AccountAction.CANCEL and may_cancel(m)) or (
            action is AccountAction.PAUSE and may_pause(m)
        )
        return (Status.DONE if allowed else Status.NOT_ALLOWED), snap


class MarkBlocked:
    def __init__(self, uow: UnitOfWork, people: PeopleRepository, clock: Clock) -> None:
        self.uow = uow
        self.people = people
        self.clock = clock

    async def __call__(self, telegram_id: int) -> None:
        """The person blocked the bot (403): stop writing to them until they write again."""
        async with self.uow.begin():
            person = await self.people.by_telegram_id(telegram_id)
            if person is not None:
                await self.people.mark_blocked(person.id, self.clock.now())
            await self.uow.commit()
