"""SMTP faults at a real aiosmtpd server: the connection reset after the server took the
message but before its 250 (the client cannot know it arrived: one copy more per reset, never
a loss), and a 5xx answer to DATA (failed for good, never retried)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from forever.app import Container
from forever.config import SmtpSecurity
from forever.db.models import OutboxMessage
from forever.domain.clock import ManualClock
from forever.mail.message import build_message
from forever.mail.smtp import SmtpConfig, SmtpPool
from forever.wiring.email import delivery_worker
from tests.conftest import START
from tests.integration.people import add_person
from tests.integration.test_outbox_sender import RecordingChat, queue
from tests.smtp_sink import SinkHandler, SmtpSink


@dataclass
class FaultyHandler(SinkHandler):
    resets_left: int = 0  # take the message, then reset the connection instead of the 250
    refuse: str = ""  # a recipient whose message DATA refuses with a 5xx
    data_calls: Counter[str] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        assert self.data_calls is not None
        self.data_calls[envelope.rcpt_tos[0]] += 1
        if envelope.rcpt_tos == [self.refuse]:
            return "554 5.7.1 message refused"
        reply = await super().handle_DATA(server, session, envelope)
        if self.resets_left > 0:
            self.resets_left -= 1
            server.transport.abort()  # delivered, but the client never hears so
        return reply


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.handler = FaultyHandler(data_calls=Counter())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def pool(sink: SmtpSink) -> Iterator[SmtpPool]:
    p = SmtpPool(
        SmtpConfig(host="127.0.0.1", port=sink.port, security=SmtpSecurity.NONE, pool_size=2)
    )
    yield p  # type: ignore[misc]
    await p.close()


async def test_a_reset_after_data_costs_at_most_one_copy_and_loses_nothing(
    container: Container, sink: SmtpSink, pool: SmtpPool, clock: ManualClock
) -> None:
    handler = sink.handler
    assert isinstance(handler, FaultyHandler)
    people = [
        await add_person(container, telegram_id=9100 + i, email=f"r{i}@example.com")
        for i in range(20)
    ]
    for i, person in enumerate(people):
        await queue(container, person, f"reset:{i}")
    resets = handler.resets_left = 5
    sender = delivery_worker(container, smtp=pool, chat=RecordingChat(), rng=random.Random(3))
    for _ in range(6):  # retries come later: the drain after each wait sends them
        await sender.drain()
        clock.advance(timedelta(minutes=30))
    async with container.sessions() as session:
        statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
    copies = Counter(str(r.message["Message-ID"]) for r in sink.received)
    assert statuses == Counter({"sent": 20})
    assert len(copies) == 20  # nobody lost
    duplicates = sum(n - 1 for n in copies.values())
    assert 1 <= duplicates <= resets  # at most one copy more per reset (and the resets happened)
    assert max(copies.values()) <= 2


async def test_a_5xx_to_data_fails_the_message_and_is_never_retried(
    container: Container, sink: SmtpSink, pool: SmtpPool, clock: ManualClock
) -> None:
    handler = sink.handler
    assert isinstance(handler, FaultyHandler) and handler.data_calls is not None
    handler.refuse = "no@example.com"
    person = await add_person(container, telegram_id=9201, email="no@example.com")
    await queue(container, person, "refused:1")
    sender = delivery_worker(container, smtp=pool, chat=RecordingChat(), rng=random.Random(3))
    report = await sender.drain()
    assert report.failed == 1 and report.retried == 0
    for _ in range(3):
        clock.advance(timedelta(hours=6))
        assert (await sender.drain()).handled == 0
    assert handler.data_calls["no@example.com"] == 1
    async with container.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None and row.status == "failed"
    assert row.last_error is not None and row.last_error.startswith("554")


async def test_no_second_mail_ends_its_data_before_the_first_is_marked_sent(
    sink: SmtpSink, pool: SmtpPool
) -> None:
    """The pool's point of no return: while one accepted mail is being marked sent (a slow
    commit here), the other connection may prepare its mail but not end its DATA, so a crash
    at that instant repeats one mail, not one per connection."""
    grew: list[int] = []

    def marker() -> Callable[[], Awaitable[None]]:
        async def mark() -> None:
            before = len(sink.received)
            await asyncio.sleep(0.05)  # a slow commit of the "sent" mark
            grew.append(len(sink.received) - before)

        return mark

    mails = [
        build_message(
            mail_from="Forever <hello@forever.test>",
            to=f"g{i}@example.com",
            subject="gate",
            html="<p>gate</p>",
            text="gate",
            key=f"gate:{i}",
            date=START,
        )
        for i in range(6)
    ]
    await asyncio.gather(*(pool.send(m, marker()) for m in mails))
    assert len(sink.received) == 6
    assert grew == [0] * 6
