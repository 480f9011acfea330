"""Ports shared by the use cases: the unit of work, the stores every use case touches and
the Telegram side. A port used by one use case only lives beside it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from forever.services.records import EventRecord, PersonRecord, SubscriptionRecord


class ConcurrentChange(Exception):
    """Another transaction changed the same record first (optimistic version check)."""


class UnitOfWork(Protocol):
    """One transaction. Repositories used inside `begin()` share it. A use case commits once,
    at the end; leaving the block without `commit()` rolls everything back.

    `flush()` and `commit()` raise ConcurrentChange when a versioned record was changed by
    another transaction meanwhile."""

    def begin(self) -> AbstractAsyncContextManager[None]: ...

    async def flush(self) -> None: ...

    async def commit(self) -> None: ...


class PeopleRepository(Protocol):
    async def get(self, person_id: int) -> PersonRecord | None: ...

    async def by_telegram_id(self, telegram_id: int) -> PersonRecord | None: ...

    async def mark_blocked(self, person_id: int, at: datetime) -> None: ...


class SubscriptionRepository(Protocol):
    async def of(self, person_id: int) -> SubscriptionRecord | None: ...

    async def get_or_create(self, person_id: int, now: datetime) -> SubscriptionRecord:
        """The person's subscription, created in state `none` if missing."""
        ...


class EventLog(Protocol):
    def record(
        self, kind: str, at: datetime, person_id: int | None = None, **data: Any
    ) -> EventRecord: ...


class Outbox(Protocol):
    """Effects after commit: each row is delivered once by the delivery worker."""

    async def enqueue(
        self,
        *,
        key: str,
        channel: str,
        person_id: int | None,
        template: str,
        context: dict[str, Any],
        marketing: bool,
        not_before: datetime,
        now: datetime,
    ) -> bool:
        """False (and nothing changed) when `key` was queued before."""
        ...


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


Keyboard = Sequence[Sequence[Button]]


class SendResult(Protocol):
    ok: bool
    blocked: bool
    message_id: int | None


class ChatPort(Protocol):
    """Sending to a person's chat, as the delivery worker sees it."""

    async def send_text(
        self, chat_id: int, html: str, keyboard: Keyboard | None = None
    ) -> SendResult: ...

    async def cancel_star_subscription(
        self, user_id: int, charge_id: str, canceled: bool
    ) -> None: ...

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None: ...

    async def create_invoice_link(
        self,
        *,
        title: str,
        description: str,
        payload: str,
        amount: int,
        subscription: bool,
    ) -> str: ...

    async def send_invoice(
        self,
        chat_id: int,
        *,
        title: str,
        description: str,
        payload: str,
        amount: int,
    ) -> SendResult: ...


class DeliveryKick(Protocol):
    """Wakes the outbox delivery worker after a commit that queued an urgent effect (a Stars
    subscription edit after a tap), so it leaves within about a second, not at the next
    scheduled drain. Safe to call from any task; does nothing when no worker runs here."""

    def kick(self) -> None: ...
