"""A real SMTP server on a local port that keeps every message it receives (aiosmtpd).

It runs on the caller's event loop, so each stored message can be announced to the page
at once. Nothing is ever relayed anywhere.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from forever.domain.clock import Clock

log = logging.getLogger(__name__)

_ANGLE_URL = re.compile(r"<([^>]+)>")
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


@dataclass
class CaughtMail:
    """One message as received: the envelope, the parsed message, and who it is for."""

    id: int
    received_at: datetime
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    customer_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> list[str]:
        return [addr for _, addr in getaddresses(self.message.get_all("To", []))] or self.rcpt_tos

    def body(self, subtype: str) -> str | None:
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_type() != f"text/{subtype}":
            return None
        content = part.get_content()
        return content if isinstance(content, str) else None

    @property
    def html(self) -> str | None:
        return self.body("html")

    @property
    def text(self) -> str | None:
        return self.body("plain")

    @property
    def unsubscribe_urls(self) -> list[str]:
        """The List-Unsubscribe targets (https and mailto), in header order."""
        header = self.message.get("List-Unsubscribe")
        return _ANGLE_URL.findall(str(header)) if header else []

    @property
    def one_click(self) -> bool:
        post = str(self.message.get("List-Unsubscribe-Post", ""))
        return post.strip() == "List-Unsubscribe=One-Click"

    @property
    def marketing(self) -> bool:
        return bool(self.unsubscribe_urls)

    def headers(self) -> list[tuple[str, str]]:
        return [(name, str(value)) for name, value in self.message.items()]


Listener = Callable[[CaughtMail], Any]


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        await self.catcher.store(envelope.mail_from or "", list(envelope.rcpt_tos), raw or b"")
        return "250 Message accepted for delivery"


class MailCatcher:
    """Keeps what it receives, in order. `subscribe` hears about each new message."""

    def __init__(self, clock: Clock, hostname: str = "sandbox.forever.local") -> None:
        self.clock = clock
        self.hostname = hostname
        self.mails: list[CaughtMail] = []
        self.port: int | None = None
        self._listeners: list[Listener] = []
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        self._server = await loop.create_server(
            lambda: SMTP(
                handler,
                hostname=self.hostname,
                data_size_limit=MAX_MESSAGE_BYTES,
                enable_SMTPUTF8=True,
                loop=loop,
            ),
            host,
            port,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def store(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> CaughtMail:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        mail = CaughtMail(
            id=next(self._ids),
            received_at=self.clock.now(),
            mail_from=mail_from,
            rcpt_tos=rcpt_tos,
            message=message,
            raw=raw,
        )
        self.mails.append(mail)
        for listener in list(self._listeners):
            try:
                outcome = listener(mail)
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception:
                log.exception("mail catcher listener failed")
        return mail

    def get(self, mail_id: int) -> CaughtMail | None:
        return next((m for m in self.mails if m.id == mail_id), None)
