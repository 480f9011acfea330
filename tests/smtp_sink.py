"""A real SMTP server for the tests (aiosmtpd, in its own thread), with fault injection."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    # recipient -> SMTP reply given at RCPT (e.g. "451 4.3.0 try later")
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    drop_next_data: int = 0  # drop the connection instead of accepting this many messages
    keep: bool = True
    # Called (in the sink's thread) after each accepted message.
    watchers: list[Callable[[], None]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop_next_data > 0:
            self.drop_next_data -= 1
            server.transport.close()
            return "421 closing"
        if self.keep:
            raw = envelope.original_content or envelope.content
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        else:
            self.received.append(None)  # type: ignore[arg-type]
        for watch in list(self.watchers):
            watch()
        return "250 Message accepted"


class SmtpSink:
    def __init__(self, port: int | None = None, **smtp_kwargs: Any) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self.smtp_kwargs = {"enable_SMTPUTF8": True, **smtp_kwargs}
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **self.smtp_kwargs
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    async def arrived(self, count: int) -> list[Received]:
        """Once `count` messages have arrived (the sink runs in its own thread); bound the
        wait with asyncio.timeout."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def watch() -> None:
            loop.call_soon_threadsafe(event.set)

        self.handler.watchers.append(watch)
        try:
            while len(self.received) < count:
                await event.wait()
                event.clear()
        finally:
            self.handler.watchers.remove(watch)
        return self.received


@pytest.fixture(name="smtp_sink")
def smtp_sink_fixture() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()
