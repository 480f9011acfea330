"""The console's audit log page and support inbox.

The inbox is what staff already receive in the chat (services/staff_replies.py): customers'
answers to broadcasts, kept as `customer_message` audit entries, and staff's answers, kept
as `staff_reply` entries; threaded here per person. An answer from the web goes through the
same use case as one from the chat: the same checks, outbox row and audit entry.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from forever.domain.clock import Clock
from forever.domain.signing import Signer
from forever.services.ports import UnitOfWork
from forever.services.staff import AuditLog, AuditRecord
from forever.services.staff_replies import MAX_TEXT, SIGNING_PURPOSE, Answered, StaffReplies

AUDIT_PAGE = 50
# Customers' answers to broadcasts, texts the bot did not understand, staff's answers.
CUSTOMER_ACTIONS = ("customer_message", "customer_unknown")
INBOX_ACTIONS = (*CUSTOMER_ACTIONS, "staff_reply")
INBOX_WINDOW = 1000  # the latest inbox entries read to build the threads


@dataclass(frozen=True, slots=True)
class AuditLine:
    id: int
    actor: int
    action: str
    arguments: dict[str, Any]
    at: datetime


class AuditIndex(Protocol):
    async def page(
        self, actor: int | None, action: str, before: int | None, limit: int
    ) -> Sequence[AuditRecord]:
        """Entries (optionally of one actor and one action) with ids below `before`,
        newest first."""
        ...

    async def actions(self) -> Sequence[str]: ...

    async def latest_of(self, actions: Sequence[str], limit: int) -> Sequence[AuditRecord]: ...


@dataclass
class Thread:
    person_id: int
    messages: list[AuditLine] = field(default_factory=list)  # oldest first

    @property
    def last_at(self) -> datetime:
        return self.messages[-1].at

    @property
    def waiting(self) -> bool:
        """The customer wrote last: nobody answered yet."""
        return self.messages[-1].action in CUSTOMER_ACTIONS


class ConsoleAudit:
    def __init__(self, uow: UnitOfWork, index: AuditIndex) -> None:
        self.uow = uow
        self.index = index

    async def page(
        self, actor: int | None, action: str, before: int | None, limit: int = AUDIT_PAGE
    ) -> tuple[list[AuditLine], int | None, list[str]]:
        async with self.uow.begin():
            rows = list(await self.index.page(actor, action, before, limit + 1))
            actions = sorted(await self.index.actions())
        lines = [
            AuditLine(r.id, r.actor_telegram_id, r.action, dict(r.arguments), r.at) for r in rows
        ]
        more = len(lines) > limit
        lines = lines[:limit]
        return lines, (lines[-1].id if more and lines else None), actions


class ConsoleInbox:
    def __init__(
        self, uow: UnitOfWork, index: AuditIndex, replies: StaffReplies, signer: Signer
    ) -> None:
        self.uow = uow
        self.index = index
        self.replies = replies
        self.signer = signer

    async def threads(self) -> list[Thread]:
        """Threads with the latest message first."""
        async with self.uow.begin():
            rows = list(await self.index.latest_of(INBOX_ACTIONS, INBOX_WINDOW))
        threads: dict[int, Thread] = {}
        for r in sorted(rows, key=lambda r: r.id):
            person = r.arguments.get("person")
            if not isinstance(person, int):
                continue
            line = AuditLine(r.id, r.actor_telegram_id, r.action, dict(r.arguments), r.at)
            threads.setdefault(person, Thread(person)).messages.append(line)
        return sorted(threads.values(), key=lambda t: t.last_at, reverse=True)

    async def thread(self, person_id: int) -> Thread | None:
        for found in await self.threads():
            if found.person_id == person_id:
                return found
        return None

    async def answer(self, *, staff_id: int, person_id: int, nonce: int, text: str) -> Answered:
        """Send `text` to the customer in Telegram, as a Reply from the chat would. `nonce`
        comes from the form: the same form sent twice sends one message."""
        text = text.strip()[:MAX_TEXT]
        token = self.signer.sign_compact(SIGNING_PURPOSE, str(person_id))
        return await self.replies.answer(
            staff_id=staff_id, token=token, message_id=nonce, text=text
        )


def new_nonce() -> int:
    """A form's id for an answer: large and random, apart from chat message ids (which
    count up from 1)."""
    return 10**15 + secrets.randbelow(10**15)


class KeepUnknown:
    """A customer's text the bot did not understand goes to the inbox (as an audit entry
    `customer_unknown`, like the answers to broadcasts), so staff can answer it."""

    def __init__(self, uow: UnitOfWork, audit: AuditLog, clock: Clock) -> None:
        self.uow = uow
        self.audit = audit
        self.clock = clock

    async def __call__(self, *, person_id: int, telegram_id: int, text: str) -> None:
        text = text.strip()[:MAX_TEXT]
        if not text:
            return
        async with self.uow.begin():
            self.audit.record(
                telegram_id, "customer_unknown", self.clock.now(), person=person_id, text=text
            )
            await self.uow.commit()
