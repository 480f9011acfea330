"""The outbox sender against a real SMTP server (aiosmtpd), with faults injected."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from forever.app import Container
from forever.config import SmtpSecurity
from forever.db import outbox
from forever.db.models import Consent, Event, OutboxMessage, Person, Suppression
from forever.domain.clock import ManualClock
from forever.jobs.delivery import LEASE, DeliveryWorker
from forever.mail.smtp import SmtpConfig, SmtpPool
from forever.wiring import customers
from forever.wiring.email import delivery_worker
from tests.conftest import START
from tests.integration.people import add_person
from tests.smtp_sink import SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("smtp_sink")


@dataclass
class ChatResult:
    ok: bool = True
    blocked: bool = False
    message_id: int | None = 1


class RecordingChat:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.blocked: set[int] = set()

    async def send_text(self, chat_id: int, html: str, keyboard: object = None) -> ChatResult:
        if chat_id in self.blocked:
            return ChatResult(ok=False, blocked=True, message_id=None)
        self.sent.append((chat_id, html))
        return ChatResult()


@pytest.fixture
async def pool(smtp_sink: SmtpSink) -> AsyncIterator[SmtpPool]:
    p = SmtpPool(
        SmtpConfig(host="127.0.0.1", port=smtp_sink.port, security=SmtpSecurity.NONE, pool_size=2)
    )
    yield p
    await p.close()


@pytest.fixture
def chat() -> RecordingChat:
    return RecordingChat()


@pytest.fixture
def sender(container: Container, pool: SmtpPool, chat: RecordingChat) -> DeliveryWorker:
    return delivery_worker(container, smtp=pool, chat=chat, rng=random.Random(1))


async def give_consent(container: Container, person: Person) -> None:
    async with container.sessions.begin() as session:
        session.add(
            Consent(
                person_id=person.id,
                channel="email",
                purpose="marketing",
                email=person.email,
                wording_version="v1",
                wording_hash="0" * 64,
                source="test",
                token=f"tok-{person.id}",
                asked_at=START - timedelta(days=1),
                confirmed_at=START - timedelta(days=1),
            )
        )


async def queue(
    container: Container,
    person: Person,
    key: str,
    *,
    template: str = "cancel_confirmed",
    marketing: bool = False,
    channel: str = "email",
    context: dict | None = None,
    not_before: datetime | None = None,
) -> None:
    ctx = context or {
        "plan_name": "Plus",
        "access_until": START + timedelta(days=10),
        "canceled_at": START,
    }
    async with container.sessions.begin() as session:
        await outbox.enqueue(
            session,
            key=key,
            channel=channel,
            person_id=person.id,
            template=template,
            context=ctx,
            marketing=marketing,
            not_before=not_before or START,
            now=START,
        )


async def statuses(container: Container) -> dict[str, str]:
    async with container.sessions() as session:
        rows = await session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.status))
        return {k: s for k, s in rows}


async def test_transactional_mail_has_both_parts_and_headers(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    person = await add_person(container, first_name="Ana <script>alert(1)</script>")
    await queue(container, person, "cancel:1")
    report = await sender.drain()
    assert report.sent == 1
    [mail] = smtp_sink.received
    msg = mail.message
    assert mail.recipients == ["ana@example.com"]
    assert msg["From"] == "Forever <hello@forever.test>"
    assert msg["Subject"] == "Your Plus membership is cancelled"
    assert msg["Message-ID"].endswith("@forever.test>")
    assert msg["Date"]
    assert msg["List-Unsubscribe"] is None  # transactional
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Ana <script>alert(1)</script>" in text
    assert "<script>" not in html and "Ana &lt;script&gt;" in html
    assert "3 December 2026" in text
    # Sent once: a second drain finds nothing.
    assert (await sender.drain()).handled == 0
    assert len(smtp_sink.received) == 1
    assert await statuses(container) == {"cancel:1": "sent"}
    assert container.metrics.registry.get_sample_value("forever_emails_sent_total") == 1


async def test_locale_and_time_zone_follow_the_person(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    person = await add_person(container, language="it", timezone="Asia/Tokyo")
    await queue(
        container,
        person,
        "cancel:it",
        context={
            "plan_name": "Plus",
            "access_until": datetime(2026, 12, 3, 20, 0, tzinfo=UTC),
            "canceled_at": START,
        },
    )
    await sender.drain()
    [mail] = smtp_sink.received
    assert mail.message["Subject"] == "Il tuo abbonamento Plus è stato annullato"
    text = mail.message.get_body(("plain",)).get_content()
    assert "4 dicembre 2026, ore 05:00" in text  # Tokyo is UTC+9


async def test_marketing_mail_carries_one_click_unsubscribe(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    person = await add_person(container)
    await give_consent(container, person)
    await queue(container, person, "m:1", marketing=True)
    await sender.drain()
    [mail] = smtp_sink.received
    header = mail.message["List-Unsubscribe"]
    assert header.startswith("<https://forever.test/u/")
    assert "<mailto:hello@forever.test?subject=unsubscribe>" in header
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = header.split(">")[0].lstrip("<")
    assert url in mail.message.get_body(("html",)).get_content()
    assert url in mail.message.get_body(("plain",)).get_content()


async def test_marketing_without_confirmed_consent_is_not_sent(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    person = await add_person(container)
    await queue(container, person, "m:1", marketing=True)
    await sender.drain()
    assert smtp_sink.received == []
    assert await statuses(container) == {"m:1": "canceled"}


async def test_451_is_retried_with_backoff(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink, clock: ManualClock
) -> None:
    person = await add_person(container)
    smtp_sink.handler.rcpt_replies["ana@example.com"] = "451 4.3.0 try again later"
    await queue(container, person, "t:1")
    report = await sender.drain()
    assert report.retried == 1 and smtp_sink.received == []
    async with container.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None and row.status == "pending" and row.attempts == 1
        assert START + timedelta(seconds=20) <= row.not_before <= START + timedelta(seconds=40)
        assert "451" in (row.last_error or "")
    assert (await sender.drain()).handled == 0  # not due yet
    smtp_sink.handler.rcpt_replies.clear()
    clock.advance(timedelta(minutes=1))
    assert (await sender.drain()).sent == 1
    assert len(smtp_sink.received) == 1


async def test_550_suppresses_the_address_for_good(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink, clock: ManualClock
) -> None:
    person = await add_person(container)
    smtp_sink.handler.rcpt_replies["ana@example.com"] = "550 5.1.1 no such user"
    await queue(container, person, "t:1")
    report = await sender.drain()
    assert report.suppressed == 1
    clock.advance(timedelta(days=1))
    await queue(container, person, "t:2")
    await sender.drain()
    assert smtp_sink.received == []
    assert await statuses(container) == {"t:1": "suppressed", "t:2": "suppressed"}
    async with container.sessions() as session:
        assert (await session.scalar(select(Suppression))) is not None
        p = await session.get(Person, person.id)
        assert p is not None and p.email_status == "undeliverable"
        kinds = list(await session.scalars(select(Event.kind)))
        assert "email_bounced" in kinds


async def test_server_down_for_minutes_then_back_loses_and_doubles_nothing(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink, clock: ManualClock
) -> None:
    people = [
        await add_person(container, telegram_id=7000 + i, email=f"p{i}@example.com")
        for i in range(5)
    ]
    smtp_sink.stop()
    for i, p in enumerate(people):
        await queue(container, p, f"t:{i}")
    for _ in range(3):  # down for a few minutes: every try fails and is rescheduled
        report = await sender.drain()
        assert report.sent == 0
        clock.advance(timedelta(minutes=2))
    smtp_sink.start()
    clock.advance(timedelta(hours=1))
    report = await sender.drain()
    assert report.sent == 5
    assert sorted(r.recipients[0] for r in smtp_sink.received) == sorted(
        f"p{i}@example.com" for i in range(5)
    )
    clock.advance(timedelta(hours=2))
    assert (await sender.drain()).handled == 0
    assert len(smtp_sink.received) == 5


async def test_a_dropped_connection_is_retried_on_a_new_one(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink, clock: ManualClock
) -> None:
    person = await add_person(container)
    smtp_sink.handler.drop_next_data = 1
    await queue(container, person, "t:1")
    assert (await sender.drain()).retried == 1
    clock.advance(timedelta(minutes=5))
    assert (await sender.drain()).sent == 1
    assert len(smtp_sink.received) == 1


async def test_unicode_address(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    person = await add_person(container, email="jörg@exämple.de")
    await queue(container, person, "t:1")
    assert (await sender.drain()).sent == 1
    [mail] = smtp_sink.received
    assert mail.recipients == ["jörg@exämple.de"]
    assert mail.message["To"] == "jörg@exämple.de"


async def test_a_crash_between_send_and_mark_resends_once_and_loses_nothing(
    container: Container,
    sender: DeliveryWorker,
    smtp_sink: SmtpSink,
    clock: ManualClock,
    pool: SmtpPool,
    chat: RecordingChat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    person = await add_person(container)
    await queue(container, person, "t:1")

    class Killed(BaseException):
        pass

    async def crash(*args: object, **kwargs: object) -> None:
        raise Killed("killed after sending, before marking")

    # Killed right after the handover, before the immediate `sent` write.
    monkeypatch.setattr(sender, "_record_sent_now", crash)
    with pytest.raises(Killed):
        await sender.drain()
    assert len(smtp_sink.received) == 1
    assert await statuses(container) == {"t:1": "sending"}

    other = delivery_worker(container, smtp=pool, chat=chat)
    assert (await other.drain()).handled == 0  # the lease still holds
    clock.advance(LEASE + timedelta(seconds=1))
    assert (await other.drain()).sent == 1
    assert await statuses(container) == {"t:1": "sent"}
    first, second = smtp_sink.received
    assert first.message["Message-ID"] == second.message["Message-ID"]
    clock.advance(LEASE * 3)
    assert (await other.drain()).handled == 0
    assert len(smtp_sink.received) == 2  # at most one duplicate


async def test_starttls_is_required_when_configured(
    container: Container, smtp_sink: SmtpSink, chat: RecordingChat
) -> None:
    person = await add_person(container)
    await queue(container, person, "t:1")
    strict = SmtpPool(
        SmtpConfig(host="127.0.0.1", port=smtp_sink.port, security=SmtpSecurity.STARTTLS)
    )
    try:
        sender = delivery_worker(container, smtp=strict, chat=chat)
        report = await sender.drain()
    finally:
        await strict.close()
    assert report.retried == 1
    assert smtp_sink.received == []
    async with container.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None and "STARTTLS" in (row.last_error or "")


async def test_frequency_cap_and_quiet_hours_delay_marketing(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink, clock: ManualClock
) -> None:
    person = await add_person(container, timezone="Europe/Bucharest")  # UTC+2 in winter
    await give_consent(container, person)
    await queue(container, person, "m:1", marketing=True)
    await queue(container, person, "m:2", marketing=True)
    report = await sender.drain()
    assert report.sent == 1 and report.deferred == 1
    async with container.sessions() as session:
        waiting = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.status == "pending")
        )
        assert waiting is not None
        # 48 h after the first one is 2026-11-25 10:00 UTC = 12:00 in Bucharest: allowed.
        assert waiting.not_before == START + timedelta(hours=48)
        assert waiting.attempts == 0
    # At 20:00 UTC on the 25th it is 22:00 in Bucharest: wait until 08:00 local (06:00 UTC).
    clock.set(datetime(2026, 11, 25, 20, 0, tzinfo=UTC))
    await queue(container, person, "m:3", marketing=True)
    report = await sender.drain()
    assert report.sent == 0 and report.deferred == 2
    morning = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    async with container.sessions() as session:
        m2 = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == "m:2")
        )
        assert m2 is not None and m2.not_before == morning
    clock.set(morning)
    report = await sender.drain()
    assert report.sent == 1 and report.deferred == 1  # m:3 waits another 48 hours
    assert [m.message["Subject"] for m in smtp_sink.received] == [
        "Your Plus membership is cancelled"
    ] * 2
    assert (await statuses(container))["m:3"] == "pending"


async def test_chat_rows_go_through_the_chat_port(
    container: Container, sender: DeliveryWorker, chat: RecordingChat
) -> None:
    person = await add_person(container, telegram_id=4242)
    blocked = await add_person(container, telegram_id=4343, email="b@example.com")
    chat.blocked.add(4343)
    for p in (person, blocked):
        await queue(
            container,
            p,
            f"chat:{p.id}",
            channel="chat",
            template="help",
            context={"business": "Forever Yoga Club"},
        )
    report = await sender.drain()
    assert report.sent == 1 and report.failed == 1
    assert chat.sent[0][0] == 4242 and "Forever Yoga Club" in chat.sent[0][1]
    async with container.sessions() as session:
        b = await session.get(Person, blocked.id)
        assert b is not None and b.blocked_at == START
    assert (await sender.drain()).handled == 0


async def test_unsubscribe_calls_off_queued_marketing(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    person = await add_person(container)
    await give_consent(container, person)
    await queue(container, person, "m:1", marketing=True)
    await queue(container, person, "t:1")
    await customers.build(container).consents.withdraw(person.id, source="test")
    await sender.drain()
    assert [m.message["Subject"] for m in smtp_sink.received] == [
        "Your Plus membership is cancelled"
    ]
    assert await statuses(container) == {"m:1": "canceled", "t:1": "sent"}


async def test_the_cap_holds_across_overlapping_batches(
    container: Container, pool: SmtpPool, chat: RecordingChat, smtp_sink: SmtpSink
) -> None:
    person = await add_person(container)
    await give_consent(container, person)
    for i in range(3):
        await queue(container, person, f"m:{i}", marketing=True)
    one_by_one = delivery_worker(container, smtp=pool, chat=chat, batch_size=1)
    report = await one_by_one.drain()
    assert report.sent == 1 and report.deferred == 2
    assert len(smtp_sink.received) == 1


async def test_each_sent_row_is_recorded_once_as_an_event(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink, chat: RecordingChat
) -> None:
    ana = await add_person(container)
    bo = await add_person(container, telegram_id=1002, email="bo@example.com")
    await give_consent(container, bo)
    await queue(container, ana, "t:ana")
    await queue(container, bo, "t:bo")
    await queue(container, bo, "m:bo", marketing=True)
    await queue(container, ana, "help:ana", channel="chat", template="help", context={})
    smtp_sink.handler.rcpt_replies["ana@example.com"] = "451 4.3.0 try again later"
    report = await sender.drain()
    assert report.sent == 3 and report.retried == 1
    async with container.sessions() as session:
        events = (await session.scalars(select(Event).order_by(Event.id))).all()
    got = sorted(
        (e.person_id, e.kind, e.at, e.data["template"], e.data["marketing"]) for e in events
    )
    assert got == sorted(
        [
            (ana.id, "chat_sent", START, "help", False),
            (bo.id, "email_sent", START, "cancel_confirmed", False),
            (bo.id, "email_sent", START, "cancel_confirmed", True),
        ]
    )
    row_status = await statuses(container)
    assert row_status == {"t:ana": "pending", "t:bo": "sent", "m:bo": "sent", "help:ana": "sent"}
