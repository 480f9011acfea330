"""Broadcast jobs as staff compose them: drafts, segments, confirmation, stopping.

A broadcast is a persisted job: the broadcast record plus one delivery per recipient, written
in the same transaction that confirms it. The sender (broadcast_sender.py) works through those
deliveries, so a restart continues where it stopped and nobody gets two copies.

Each staff step is one use case here, one transaction, committed once, with its audit entry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from forever.domain.clock import Clock
from forever.domain.lifecycle import HAS_ACCESS, Billing, State
from forever.domain.paid_broadcasts import Stars, affordable, cost
from forever.domain.segments import Segment, SegmentKind
from forever.services.ports import PeopleRepository, UnitOfWork
from forever.services.records import PersonRecord, SubscriptionRecord
from forever.services.staff import AuditLog

ACTIVE_STATUSES = ("queued", "running")
# Statuses of a delivery that is settled (never sent again).
SETTLED = ("delivered", "blocked", "failed")

_PAYING_STATES = frozenset({State.ACTIVE, State.CANCEL_SCHEDULED, State.PAST_DUE})
_PAYING_BILLING = frozenset({Billing.MONTHLY, Billing.YEARLY})


@dataclass(frozen=True, slots=True)
class Variant:
    """The version of a broadcast for the people of one language: a message in the staff
    member's chat to copy (`template_html` set only when it has placeholders)."""

    source_chat_id: int
    source_message_id: int
    kind: str
    template_html: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source_chat_id": self.source_chat_id,
            "source_message_id": self.source_message_id,
            "kind": self.kind,
            "personalized_html": self.template_html,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Variant:
        return cls(
            source_chat_id=int(data["source_chat_id"]),
            source_message_id=int(data["source_message_id"]),
            kind=str(data.get("kind") or "text"),
            template_html=data.get("personalized_html"),
        )


def variants_of(job: BroadcastRecord) -> dict[str, Variant]:
    """The job's versions per language (none: everyone gets the default content)."""
    return {locale: Variant.from_json(v) for locale, v in (job.variants or {}).items()}


@dataclass(frozen=True, slots=True)
class Content:
    """What staff composed: a message in their chat to copy, with optional extras.

    `template_html` is set only when the text has placeholders; `kind` is the message type
    (text, photo, video, document), needed to know whether a personalised copy is a new text
    message or a copy with a new caption.
    """

    source_chat_id: int
    source_message_id: int
    kind: str
    template_html: str | None = None
    button_text: str | None = None
    button_url: str | None = None
    # A version per language (locale → variant); everyone else gets the content above.
    variants: dict[str, Variant] = field(default_factory=dict)


class BroadcastRecord(Protocol):
    """A stored broadcast job (db/models.Broadcast satisfies it)."""

    id: int
    created_by: int
    source_chat_id: int
    source_message_id: int
    personalized_html: str | None
    button_text: str | None
    button_url: str | None
    segment: dict[str, Any]
    status: str  # draft | queued | running | stopped | done
    total: int
    progress_chat_id: int | None
    progress_message_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    variants: dict[str, Any] | None
    paid: bool  # fast paid mode: allow_paid_broadcast on every copy


class BroadcastRepository(Protocol):
    """The broadcast jobs and their recipients, as composing them needs."""

    async def get(self, broadcast_id: int) -> BroadcastRecord | None: ...

    async def active(self) -> BroadcastRecord | None:
        """The oldest job queued or running, if any."""
        ...

    async def count_recipients(self, segment: Segment) -> int:
        """How many people `reaches(segment, ...)` selects now."""
        ...

    async def add_draft(
        self, *, staff_id: int, content: Content, segment: dict[str, Any], total: int, now: datetime
    ) -> BroadcastRecord: ...

    async def change_status(
        self, broadcast_id: int, *, only_from: Collection[str], to: str
    ) -> bool:
        """Atomically (across instances) move the job to `to` if its status is one of
        `only_from`; False, and nothing changed, otherwise."""
        ...

    async def change_owner(self, broadcast_id: int, *, from_staff: int, to_staff: int) -> bool:
        """Atomically hand a draft from `from_staff` to `to_staff`; False, and nothing
        changed, if it is no longer a draft of `from_staff` (taken or confirmed meanwhile)."""
        ...

    async def add_recipients(self, broadcast_id: int, segment: Segment) -> int:
        """One pending delivery for everyone the segment reaches now; returns how many."""
        ...

    async def delivery_counts(self, broadcast_id: int) -> Counter[str]: ...


class BroadcastKick(Protocol):
    """Wakes the broadcast sender after a job was queued (does nothing if none runs here)."""

    def kick(self) -> None: ...


def reaches(
    segment: Segment, person: PersonRecord, subscription: SubscriptionRecord | None
) -> bool:
    """Whether a broadcast to `segment` goes to this person: the rule that the repository's
    recipient query implements in SQL (tests check both agree)."""
    if person.telegram_id is None or person.blocked_at is not None or person.erased_at is not None:
        return False
    if segment.kind is SegmentKind.ALL:
        return True
    if segment.kind is SegmentKind.LANGUAGE:
        return person.language == segment.value
    if subscription is None:
        return False  # every other segment is about the membership
    state = subscription.state
    match segment.kind:
        case SegmentKind.TRIAL:
            return state == State.TRIAL
        case SegmentKind.PAYING:
            return state in _PAYING_STATES and subscription.billing in _PAYING_BILLING
        case SegmentKind.PLAN:
            return state in HAS_ACCESS and subscription.plan_id == segment.value
        case SegmentKind.CANCELLED:
            return state == State.CANCEL_SCHEDULED or (
                state == State.EXPIRED and subscription.canceled_at is not None
            )
        case SegmentKind.LAPSED:
            return state == State.EXPIRED and subscription.canceled_at is None
        case SegmentKind.PAUSED:
            return state == State.PAUSED


@dataclass(frozen=True, slots=True)
class Busy:
    """A job still sending: staff cannot start another one meanwhile."""

    broadcast_id: int
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class Draft:
    """The outcome of picking a segment: how many it reaches, and the draft (None if 0)."""

    total: int
    draft: BroadcastRecord | None


@dataclass(frozen=True, slots=True)
class ConfirmResult:
    outcome: str  # queued | already | busy | empty | missing | not_yours | balance_low
    broadcast_id: int = 0
    total: int = 0  # recipients, once queued (the draft's count when not_yours)
    busy_with: int | None = None  # the job still sending, when busy
    owner_id: int | None = None  # who made the draft, when not_yours
    owner_name: str = ""
    paid: bool = False
    cost: int = 0  # whole Stars the fast paid mode may take, when paid (or balance_low)
    balance: Stars | None = None  # the bot's balance, when paid (None: unknown)


@dataclass(frozen=True, slots=True)
class TakeoverResult:
    outcome: str  # taken | own | already | missing
    broadcast_id: int = 0
    total: int = 0  # the draft's recipients when it was counted
    previous_owner: int | None = None


@dataclass(frozen=True, slots=True)
class CancelResult:
    outcome: str  # cancelled | already (no longer a draft) | not_yours | nothing (no draft)
    broadcast_id: int = 0
    owner_id: int | None = None  # who owns the draft, when not_yours
    owner_name: str = ""

    def __bool__(self) -> bool:
        return self.outcome == "cancelled"


class BroadcastDesk:
    """The staff steps of a broadcast, one transaction each."""

    def __init__(
        self,
        uow: UnitOfWork,
        broadcasts: BroadcastRepository,
        audit: AuditLog,
        clock: Clock,
        kick: BroadcastKick,
        *,
        people: PeopleRepository,
    ) -> None:
        self.uow = uow
        self.broadcasts = broadcasts
        self.audit = audit
        self.clock = clock
        self.kick = kick
        self.people = people

    async def start(self, previous_draft: int = 0) -> Busy | None:
        """Begin composing: refused while a job sends; an unconfirmed earlier draft goes."""
        async with self.uow.begin():
            busy = await self.broadcasts.active()
            if busy is not None:
                counts = await self.broadcasts.delivery_counts(busy.id)
                return Busy(busy.id, sum(counts.get(s, 0) for s in SETTLED), busy.total)
            if previous_draft:
                await self._discard(previous_draft)
            await self.uow.commit()
        return None

    async def draft(
        self, *, staff_id: int, content: Content, segment: Segment, previous_draft: int = 0
    ) -> Draft:
        """Count the segment and, if it reaches anyone, store the draft (replacing an earlier
        unconfirmed one), fixing the content kind with the segment."""
        now = self.clock.now()
        async with self.uow.begin():
            total = await self.broadcasts.count_recipients(segment)
            if total == 0:
                return Draft(0, None)
            if previous_draft:
                await self._discard(previous_draft)
            draft = await self.broadcasts.add_draft(
                staff_id=staff_id,
                content=content,
                # The content kind rides along with the segment: both are fixed at confirmation.
                segment={**segment.to_json(), "content": content.kind},
                total=total,
                now=now,
            )
            await self.uow.commit()
        return Draft(total, draft)

    async def confirm(
        self,
        draft_id: int,
        *,
        staff_id: int,
        progress_chat_id: int | None,
        paid: bool = False,
        balance: Stars | None = None,
    ) -> ConfirmResult:
        """Turn a draft into a queued job with its recipients, exactly once.

        Only the staff member who owns the draft confirms it (who made it, or who took it
        over: `take_over`); anyone else gets `not_yours`, with the owner's name, and nothing
        changes. The status flip is conditional: a second tap (or a second instance handling
        the same tap) finds no draft and changes nothing. The sender is woken after the
        commit.

        `paid` asks for the fast paid mode: refused (`balance_low`, still a draft, nothing
        sent) unless `balance`, the bot's Stars read just before, covers 0.1 Star for every
        recipient counted now, rounded up."""
        now = self.clock.now()
        async with self.uow.begin():
            draft = await self.broadcasts.get(draft_id)
            if draft is None:
                return ConfirmResult("missing", draft_id)
            if draft.status != "draft":
                return ConfirmResult("already", draft_id)
            if draft.created_by != staff_id:
                owner = await self.people.by_telegram_id(draft.created_by)
                return ConfirmResult(
                    "not_yours",
                    draft_id,
                    draft.total,
                    owner_id=draft.created_by,
                    owner_name=(owner.first_name if owner else "") or str(draft.created_by),
                )
            busy = await self.broadcasts.active()
            if busy is not None:
                return ConfirmResult("busy", draft_id, busy_with=busy.id)
            if not await self.broadcasts.change_status(draft_id, only_from=("draft",), to="queued"):
                return ConfirmResult("already", draft_id)
            recipients = await self.broadcasts.add_recipients(
                draft_id, Segment.from_json(draft.segment)
            )
            if recipients == 0:
                return ConfirmResult("empty", draft_id)  # rolled back: still a draft
            price = cost(recipients) if paid else 0
            if paid and (balance is None or not affordable(balance, recipients)):
                # Rolled back: still a draft, which staff may send at the free pace instead.
                return ConfirmResult(
                    "balance_low", draft_id, recipients, paid=True, cost=price, balance=balance
                )
            job = await self.broadcasts.get(draft_id)
            assert job is not None
            job.total = recipients
            job.paid = paid
            if progress_chat_id is not None:
                job.progress_chat_id = progress_chat_id
            self.audit.record(
                staff_id,
                "broadcast_confirmed",
                now,
                broadcast=draft_id,
                segment=job.segment,
                recipients=recipients,
                **({"paid": True, "cost_stars": price} if paid else {}),
            )
            await self.uow.commit()
        self.kick.kick()
        return ConfirmResult("queued", draft_id, recipients, paid=paid, cost=price, balance=balance)

    async def take_over(self, draft_id: int, *, staff_id: int) -> TakeoverResult:
        """Make `staff_id` the owner of another staff member's draft, recorded in the audit
        log; from then on only they may confirm it. Conditional, like confirming: a draft
        confirmed or taken by someone else meanwhile is not taken."""
        now = self.clock.now()
        async with self.uow.begin():
            draft = await self.broadcasts.get(draft_id)
            if draft is None:
                return TakeoverResult("missing", draft_id)
            if draft.status != "draft":
                return TakeoverResult("already", draft_id)
            owner = draft.created_by
            if owner == staff_id:
                return TakeoverResult("own", draft_id, draft.total, owner)
            if not await self.broadcasts.change_owner(
                draft_id, from_staff=owner, to_staff=staff_id
            ):
                return TakeoverResult("already", draft_id)
            self.audit.record(
                staff_id, "broadcast_taken_over", now, broadcast=draft_id, previous_owner=owner
            )
            await self.uow.commit()
        return TakeoverResult("taken", draft_id, draft.total, owner)

    async def cancel(
        self, *, staff_id: int, draft_id: int, previous_draft: int = 0
    ) -> CancelResult:
        """Staff cancel composing: the draft (the button's, else the one in progress) is
        dropped. Like confirming, only its owner may (who made it or took it over); anyone
        else gets `not_yours` and nothing changes. `already`: it is no longer a draft."""
        now = self.clock.now()
        target = draft_id or previous_draft
        async with self.uow.begin():
            outcome = "nothing"
            if target:
                draft = await self.broadcasts.get(target)
                if draft is not None and draft.status == "draft" and draft.created_by != staff_id:
                    owner = await self.people.by_telegram_id(draft.created_by)
                    return CancelResult(
                        "not_yours",
                        target,
                        owner_id=draft.created_by,
                        owner_name=(owner.first_name if owner else "") or str(draft.created_by),
                    )
                outcome = "cancelled" if await self._discard(target) else "already"
            self.audit.record(staff_id, "broadcast_cancelled", now, draft=draft_id or None)
            await self.uow.commit()
        return CancelResult(outcome, target)

    async def stop(self, broadcast_id: int, *, staff_id: int) -> bool:
        """Ask the sender to stop; pending recipients stay unsent. False if it had ended."""
        now = self.clock.now()
        async with self.uow.begin():
            stopped = await self.broadcasts.change_status(
                broadcast_id, only_from=ACTIVE_STATUSES, to="stopped"
            )
            if not stopped:
                return False
            self.audit.record(staff_id, "broadcast_stopped", now, broadcast=broadcast_id)
            await self.uow.commit()
        return True

    async def _discard(self, draft_id: int) -> bool:
        return await self.broadcasts.change_status(draft_id, only_from=("draft",), to="stopped")
