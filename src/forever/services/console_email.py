"""Email broadcasts composed in the owner console: a subject, an HTML and a text body, to the
people of a segment with a confirmed (not withdrawn) marketing consent and an address.

Each recipient gets one marketing row in the outbox (template `console_broadcast`), so the
delivery worker applies the one email policy at send time, as for the journeys: consent
again, the suppression list, the marketing cap and quiet hours (a deferred row waits, it is
not dropped), and the footer's one-click unsubscribe link and List-Unsubscribe headers. A
scheduled one is the same rows with their `not_before` at its time. The history is the audit
entry (`email_broadcast`) with the outcome of its rows, counted by their key prefix.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from forever.domain.clock import Clock
from forever.domain.segments import Segment
from forever.services.ports import DeliveryKick, Outbox, UnitOfWork
from forever.services.staff import AuditLog

TEMPLATE = "console_broadcast"
ACTION = "email_broadcast"
KEY_PREFIX = "console-email"


@dataclass(frozen=True, slots=True)
class EmailHistoryLine:
    ref: str
    created_by: int
    created_at: datetime
    subject: str
    segment: str
    total: int
    send_at: str
    counts: Counter[str]  # outbox statuses: sent, pending, suppressed, canceled, failed

    @property
    def waiting(self) -> int:
        return self.counts.get("pending", 0) + self.counts.get("sending", 0)

    def in_progress(self, now: datetime) -> bool:
        """Rows still to go and its time has come (a scheduled one waits until then)."""
        if not self.waiting:
            return False
        try:
            due = datetime.fromisoformat(self.send_at) if self.send_at else None
        except ValueError:
            due = None
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        return due is None or due <= now

    @property
    def settled(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("sent", "suppressed", "canceled", "failed"))

    def progress(self, now: datetime) -> dict[str, Any]:
        """Its figures for the page's live progress (the counts per outcome only)."""
        return {
            "id": self.ref,
            "in_progress": self.in_progress(now),
            "recipients": self.total,
            "settled": self.settled,
            "sent": self.counts.get("sent", 0),
            "waiting": self.waiting,
            "pending": self.counts.get("pending", 0),
            "suppressed": self.counts.get("suppressed", 0),
            "canceled": self.counts.get("canceled", 0),
            "failed": self.counts.get("failed", 0),
        }


class EmailBroadcastStore(Protocol):
    async def audience(self, segment: Segment) -> list[int]:
        """Ids of the people in `segment` with an address and a live marketing consent."""
        ...

    async def count_audience(self, segment: Segment) -> int: ...

    async def history(self, limit: int) -> list[EmailHistoryLine]: ...

    async def cancel_waiting(self, ref: str) -> int:
        """Cancel the broadcast's rows not sent yet (pending); how many."""
        ...


@dataclass(frozen=True, slots=True)
class EmailComposed:
    outcome: str  # queued | scheduled | empty
    ref: str = ""
    total: int = 0


class ConsoleEmailBroadcasts:
    def __init__(
        self,
        uow: UnitOfWork,
        store: EmailBroadcastStore,
        outbox: Outbox,
        kick: DeliveryKick,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.store = store
        self.outbox = outbox
        self.kick = kick
        self.audit = audit
        self.clock = clock

    async def count(self, segment: Segment) -> int:
        async with self.uow.begin():
            return await self.store.count_audience(segment)

    async def history(self, limit: int = 50) -> list[EmailHistoryLine]:
        async with self.uow.begin():
            return await self.store.history(limit)

    async def send(
        self,
        *,
        staff_id: int,
        subject: str,
        body_html: str,
        body_text: str,
        segment: Segment,
        send_at: datetime | None,
    ) -> EmailComposed:
        """Queue one marketing email per consenting person of the segment, in one commit."""
        now = self.clock.now()
        ref = f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        context: dict[str, Any] = {
            "subject": subject,
            "body_html": body_html,
            "body_text": body_text,
        }
        async with self.uow.begin():
            people = await self.store.audience(segment)
            if not people:
                return EmailComposed("empty")
            for person_id in people:
                await self.outbox.enqueue(
                    key=f"{KEY_PREFIX}:{ref}:{person_id}",
                    channel="email",
                    person_id=person_id,
                    template=TEMPLATE,
                    context=dict(context),
                    marketing=True,
                    not_before=send_at or now,
                    now=now,
                )
            self.audit.record(
                staff_id,
                ACTION,
                now,
                ref=ref,
                subject=subject,
                segment=segment.to_json(),
                recipients=len(people),
                send_at=send_at.isoformat() if send_at else "",
                via="console",
            )
            await self.uow.commit()
        if send_at is None:
            self.kick.kick()
        return EmailComposed("scheduled" if send_at else "queued", ref, len(people))

    async def cancel(self, *, staff_id: int, ref: str) -> int:
        """Stop what has not gone yet (a scheduled email, or mails waiting for the cap):
        how many were called off (0: nothing was waiting)."""
        now = self.clock.now()
        async with self.uow.begin():
            cancelled = await self.store.cancel_waiting(ref)
            if cancelled:
                self.audit.record(
                    staff_id, "email_broadcast_cancelled", now, ref=ref, cancelled=cancelled
                )
            await self.uow.commit()
        return cancelled
