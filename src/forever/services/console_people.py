"""The console's people: a filtered list paged by id (keyset: the page after id N is the
people with smaller ids, so page 1000 costs what page 1 does), a person's page with their
timeline, and the staff actions on them (grant, refund, erase), each audited."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from forever.domain.clock import Clock
from forever.domain.lazy_text import lazy
from forever.domain.lifecycle import State
from forever.domain.segments import SegmentKind
from forever.services.ports import UnitOfWork
from forever.services.privacy import Privacy
from forever.services.records import PersonRecord, SubscriptionRecord
from forever.services.refunds import Refunded, StaffRefunds
from forever.services.staff import MAX_GRANT_DAYS, AuditLog, Granted, StaffTools

PAGE_SIZE = 50
MAX_QUERY = 100
STATES = tuple(s.value for s in State)
# The broadcast segments without a value (plan and language are filters of their own).
SEGMENTS = tuple(k.value for k in SegmentKind if k not in (SegmentKind.PLAN, SegmentKind.LANGUAGE))


@dataclass(frozen=True, slots=True)
class PeopleFilter:
    query: str = ""  # a Telegram id, @username, an email, or the start of a first name
    state: str = ""
    plan: str = ""
    language: str = ""
    segment: str = ""

    def as_query(self) -> dict[str, str]:
        """The filter as query-string fields (the empty ones left out)."""
        names = ("query", "state", "plan", "language", "segment")
        return {name: getattr(self, name) for name in names if getattr(self, name)}


@dataclass(frozen=True, slots=True)
class PersonLine:
    id: int
    telegram_id: int | None
    first_name: str | None
    username: str | None
    email: str | None
    language: str
    state: str | None
    plan_id: str | None
    created_at: datetime
    erased: bool


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: datetime
    kind: str  # event | payment | email | chat
    what: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PaymentLine:
    id: int
    plan_id: str
    billing: str
    amount: int
    currency: str
    created_at: datetime
    refunded_at: datetime | None


@dataclass(frozen=True, slots=True)
class PersonPage:
    person: PersonRecord
    subscription: SubscriptionRecord | None
    payments: list[PaymentLine]
    timeline: list[TimelineItem]


class PeopleIndex(Protocol):
    async def page(
        self, wanted: PeopleFilter, before: int | None, limit: int
    ) -> Sequence[PersonLine]:
        """People matching `wanted` with an id below `before`, largest ids first."""
        ...

    async def person(self, person_id: int) -> PersonRecord | None: ...

    async def subscription(self, person_id: int) -> SubscriptionRecord | None: ...

    async def payments(self, person_id: int) -> Sequence[PaymentLine]: ...

    async def timeline(self, person_id: int, limit: int) -> Sequence[TimelineItem]:
        """Events, payments, emails and chat messages, newest first."""
        ...


class FilterError(ValueError):
    """Bad filter input: `field` names the form field, the message says what is wanted."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message  # shown in the reader's language when it is a lazy() text


def check_filter(wanted: PeopleFilter, plans: Sequence[str], languages: Sequence[str]) -> None:
    if len(wanted.query) > MAX_QUERY:
        raise FilterError("query", lazy("At most %(num)s characters.", num=MAX_QUERY))
    if wanted.state and wanted.state not in STATES:
        raise FilterError("state", lazy("Pick a state from the list."))
    if wanted.plan and wanted.plan not in plans:
        raise FilterError("plan", lazy("Pick a plan from the list."))
    if wanted.language and wanted.language not in languages:
        raise FilterError("language", lazy("Pick a language from the list."))
    if wanted.segment and wanted.segment not in SEGMENTS:
        raise FilterError("segment", lazy("Pick a segment from the list."))


class ConsolePeople:
    def __init__(
        self,
        uow: UnitOfWork,
        index: PeopleIndex,
        audit: AuditLog,
        clock: Clock,
        tools: StaffTools,
        refunds: StaffRefunds,
        privacy: Privacy,
    ) -> None:
        self.uow = uow
        self.index = index
        self.audit = audit
        self.clock = clock
        self.tools = tools
        self.refunds = refunds
        self.privacy = privacy

    async def list(
        self, wanted: PeopleFilter, before: int | None, limit: int = PAGE_SIZE
    ) -> tuple[list[PersonLine], int | None]:
        """A page, and the `before` of the next page (None on the last one)."""
        async with self.uow.begin():
            rows = list(await self.index.page(wanted, before, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].id if more and rows else None)

    async def page(self, *, staff_id: int, person_id: int) -> PersonPage | None:
        now = self.clock.now()
        async with self.uow.begin():
            person = await self.index.person(person_id)
            if person is None:
                return None
            found = PersonPage(
                person,
                await self.index.subscription(person_id),
                list(await self.index.payments(person_id)),
                list(await self.index.timeline(person_id, 100)),
            )
            self.audit.record(staff_id, "console_person_viewed", now, person=person_id)
            await self.uow.commit()
        return found

    async def grant(self, *, staff_id: int, person_id: int, plan_id: str, days: int) -> Granted:
        if not 1 <= days <= MAX_GRANT_DAYS:
            raise ValueError(days)
        return await self.tools.grant(
            staff_id=staff_id, person_id=person_id, plan_id=plan_id, days=days
        )

    async def refund(self, *, staff_id: int, payment_id: int) -> Refunded:
        return await self.refunds.refund(staff_id=staff_id, payment_id=payment_id, note="console")

    async def erase(self, *, staff_id: int, person_id: int) -> bool:
        """Erase the person (False if they were already); audited either way."""
        done = await self.privacy.erase(person_id)
        async with self.uow.begin():
            self.audit.record(
                staff_id, "erase" if done else "erase_refused", self.clock.now(), person=person_id
            )
            await self.uow.commit()
        return done
