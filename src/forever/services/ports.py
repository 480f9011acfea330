"""Ports: what the use cases need from the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


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
    """Sending to a person's chat, as the services see it."""

    async def send_text(
        self, chat_id: int, html: str, keyboard: Keyboard | None = None
    ) -> SendResult: ...

    async def cancel_star_subscription(
        self, user_id: int, charge_id: str, canceled: bool
    ) -> None: ...

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
