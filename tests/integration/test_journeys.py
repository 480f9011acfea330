"""Walking people through each email journey with the clock moved forward: the sweeps pick
who is due, the sender delivers to a real SMTP server (and the chat through the fake Bot API).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from sqlalchemy import func, select

from forever.app import Container, build_container
from forever.config import Settings, SmtpSecurity
from forever.db import outbox
from forever.db.models import Consent, Event, OutboxMessage, Person, Subscription
from forever.domain.clock import ManualClock
from forever.jobs.delivery import DeliveryWorker
from forever.mail.smtp import SmtpConfig, SmtpPool
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.winback import PREFIX as WINBACK_PREFIX
from forever.services.winback import PURPOSE as WINBACK_PURPOSE
from forever.telegram.bot_port import BotChatPort
from forever.wiring import customers
from forever.wiring.email import delivery_worker, journey_sweep, run_sweeps
from tests.conftest import START
from tests.smtp_sink import Received, SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

BOT = "forever_test_bot"


@pytest.fixture
async def pool(smtp_sink: SmtpSink) -> AsyncIterator[SmtpPool]:
    p = SmtpPool(
        SmtpConfig(host="127.0.0.1", port=smtp_sink.port, security=SmtpSecurity.NONE, pool_size=2)
    )
    yield p
    await p.close()


@pytest.fixture
def sender(container: Container, pool: SmtpPool) -> DeliveryWorker:
    return delivery_worker(container, smtp=pool, chat=None, rng=random.Random(3), bot_username=BOT)


async def tick(container: Container, sender: DeliveryWorker, at: datetime) -> dict[str, int]:
    container.clock.set(at)  # type: ignore[attr-defined]
    results = await run_sweeps(container, at)
    report = await sender.drain()
    results["sent"] = report.sent
    return results


async def person_with(
    container: Container,
    *,
    telegram_id: int = 1,
    name: str = "Ana",
    language: str = "en",
    email: str | None = "ana@example.com",
    consent_given: bool = True,
    created_at: datetime | None = None,
    last_seen_at: datetime | None = None,
    timezone: str | None = None,
    **subscription: object,
) -> int:
    async with container.sessions.begin() as session:
        person = Person(
            telegram_id=telegram_id,
            first_name=name,
            language=language,
            email=email,
            email_status="unconfirmed" if email else "none",
            created_at=created_at or START - timedelta(days=400),
            last_seen_at=last_seen_at or START,
            timezone=timezone,
        )
        session.add(person)
        await session.flush()
        if consent_given and email:
            session.add(
                Consent(
                    person_id=person.id,
                    channel="email",
                    purpose="marketing",
                    email=email,
                    wording_version="v1",
                    wording_hash="0" * 64,
                    source="test",
                    token=f"t{person.id}",
                    asked_at=START - timedelta(days=400),
                    confirmed_at=START - timedelta(days=400),
                )
            )
        if subscription:
            session.add(Subscription(person_id=person.id, updated_at=START, **subscription))
        return person.id


def offer_in(container: Container, start: str) -> tuple[int, str]:
    """What the chat side's /start handler reads from the parameter (services/winback.py)."""
    assert start.startswith(WINBACK_PREFIX)
    body = container.signer.verify_compact(WINBACK_PURPOSE, start[len(WINBACK_PREFIX) :])
    person, offer, last_day = body.split(":")
    assert last_day.isdigit()  # the link expires (services/winback.py)
    return int(person), offer


def subjects(sink: SmtpSink) -> list[str]:
    return [r.message["Subject"] for r in sink.received]


def text_of(mail: Received) -> str:
    return mail.message.get_body(("plain",)).get_content()


def html_of(mail: Received) -> str:
    return mail.message.get_body(("html",)).get_content()


async def test_welcome_is_sent_once_and_tick_twice_sends_nothing_new(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    await person_with(container, created_at=START, consent_given=False)
    await person_with(container, telegram_id=2, email=None, created_at=START)
    at = START + timedelta(hours=1)
    first = await tick(container, sender, at)
    second = await tick(container, sender, at)
    assert first["email_journeys"] == 1 and first["sent"] == 1
    assert second["email_journeys"] == 0 and second["sent"] == 0
    assert subjects(smtp_sink) == ["Welcome to Forever Yoga Club"]
    assert smtp_sink.received[0].message["List-Unsubscribe"] is None  # transactional


async def test_the_journey_key_names_the_trigger_s_utc_day(container: Container) -> None:
    """The key (journey, step, person, UTC day of the trigger) is built in SQL; late in the
    UTC day it must still name that day, and a sweep the day after must find it queued."""
    late = datetime(2026, 11, 22, 23, 59, 59, 999999, tzinfo=UTC)
    early = datetime(2026, 11, 23, 0, 0, 0, tzinfo=UTC)
    ana = await person_with(container, created_at=late, consent_given=False)
    bo = await person_with(container, telegram_id=2, email="bo@example.com", created_at=early)
    at = START + timedelta(hours=1)
    assert await journey_sweep(container)(at) == 2
    assert await journey_sweep(container)(at + timedelta(days=1)) == 0
    async with container.sessions() as session:
        keys = set(await session.scalars(select(OutboxMessage.idempotency_key)))
    assert keys == {f"j:welcome:0:{ana}:20261122", f"j:welcome:0:{bo}:20261123"}


async def test_the_trial_journey_day_by_day(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    pid = await person_with(
        container,
        language="ro",
        created_at=START,
        state="trial",
        plan_id="plus",
        billing="trial",
        period_end=START + timedelta(days=7),
    )
    await tick(container, sender, START + timedelta(hours=1))  # welcome
    await tick(container, sender, START + timedelta(days=1, hours=1))  # tips, day 1
    await tick(container, sender, START + timedelta(days=4, hours=1))  # ends in 3 days
    await tick(container, sender, START + timedelta(days=7, hours=1))  # expired: offer
    await tick(container, sender, START + timedelta(days=8))  # nothing more
    assert subjects(smtp_sink) == [
        "Bine ai venit la Forever Yoga Club",
        "Trei moduri de a profita la maximum de perioada de probă Plus",
        "Perioada de probă Plus se termină în 3 zile",
        "Perioada de probă Plus s-a încheiat",
    ]
    tips, ending, ended = smtp_sink.received[1:]
    assert tips.message["List-Unsubscribe"]  # marketing
    assert ending.message["List-Unsubscribe"] is None  # transactional
    assert "30 noiembrie 2026, ora 12:00" in text_of(ending)  # Bucharest time, from "ro"
    assert "reducere de 20%" in text_of(ended)
    link = next(line for line in text_of(ended).splitlines() if "t.me" in line)
    assert link.startswith(f"https://t.me/{BOT}?start=")
    assert offer_in(container, link.split("start=")[1]) == (pid, "trial_20")


async def test_a_trial_that_converts_gets_no_trial_ended_mail(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    await person_with(
        container,
        state="active",
        plan_id="plus",
        billing="monthly",
        auto_renew=True,
        period_end=START + timedelta(days=30),
    )
    await tick(container, sender, START + timedelta(days=1))
    assert smtp_sink.received == []


@pytest.mark.parametrize(
    ("reason", "plan", "expect_text", "expect_offer"),
    [
        ("too_expensive", "plus", "the price was a stretch", "comeback_40"),
        ("not_using", "plus", "not using it enough", "none"),
        ("other", "plus", "Basic keeps the essentials", "lower_tier"),
        ("other", "basic", "40% off", "comeback_40"),  # no lower tier than Basic
    ],
)
async def test_winback_follows_the_cancel_reason_and_old_plan(
    container: Container,
    sender: DeliveryWorker,
    smtp_sink: SmtpSink,
    reason: str,
    plan: str,
    expect_text: str,
    expect_offer: str,
) -> None:
    pid = await person_with(
        container,
        state="cancel_scheduled",
        plan_id=plan,
        billing="monthly",
        cancel_reason=reason,
        canceled_at=START - timedelta(days=20),
        period_end=START - timedelta(days=7),
    )
    await tick(container, sender, START)  # access ends (expire sweep), win-back day 7
    [mail] = smtp_sink.received
    body = text_of(mail)
    assert expect_text in body
    token = next(w for w in body.split() if "start=" in w).split("start=")[1]
    assert len(token) <= 64 and all(c.isalnum() or c in "_-" for c in token)  # Telegram's rule
    assert offer_in(container, token) == (pid, expect_offer)
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_winback_steps_stop_on_resubscription(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    pid = await person_with(
        container,
        state="expired",
        plan_id="plus",
        billing="yearly",
        cancel_reason="technical",
        period_end=START - timedelta(days=7),
    )
    await tick(container, sender, START)
    await tick(container, sender, START + timedelta(days=23))  # 30 days after
    assert subjects(smtp_sink) == [
        "Your Plus membership has ended",
        "It is not too late to come back to Forever Yoga Club",
    ]
    assert "something did not work" in text_of(smtp_sink.received[1])
    async with container.sessions.begin() as session:
        sub = await session.scalar(select(Subscription).where(Subscription.person_id == pid))
        assert sub is not None
        sub.state, sub.billing = "active", "monthly"
        sub.period_end = START + timedelta(days=200)
    await tick(container, sender, START + timedelta(days=83))  # 90 days after
    assert len(smtp_sink.received) == 2


async def test_queued_winback_is_dropped_when_they_come_back_before_it_goes(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    pid = await person_with(
        container,
        state="expired",
        plan_id="plus",
        billing="monthly",
        period_end=START - timedelta(days=7),
        timezone="Europe/Rome",
    )
    night = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # 23:00 in Rome: quiet hours
    await tick(container, sender, night)
    assert smtp_sink.received == []
    async with container.sessions.begin() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None and row.not_before == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
        sub = await session.scalar(select(Subscription).where(Subscription.person_id == pid))
        assert sub is not None
        sub.state, sub.period_end = "active", START + timedelta(days=30)
    await tick(container, sender, datetime(2026, 11, 24, 7, 0, tzinfo=UTC))
    assert smtp_sink.received == []
    async with container.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None and row.status == "canceled"


async def test_marketing_journeys_need_consent_and_stop_on_unsubscribe(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    await person_with(
        container,
        consent_given=False,
        state="expired",
        plan_id="plus",
        billing="monthly",
        period_end=START - timedelta(days=7),
    )
    pid = await person_with(
        container,
        telegram_id=2,
        email="b@example.com",
        state="expired",
        plan_id="plus",
        billing="monthly",
        period_end=START - timedelta(days=7),
    )
    await customers.build(container).consents.withdraw(pid, source="test")
    await tick(container, sender, START)
    assert smtp_sink.received == []


async def test_payment_failed_then_a_reminder(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    pid = await person_with(
        container,
        language="it",
        state="past_due",
        plan_id="pro",
        billing="monthly",
        period_end=START,
        consent_given=False,
    )
    async with container.sessions.begin() as session:
        session.add(Event(person_id=pid, kind="payment_failed", at=START, data={}))
    await tick(container, sender, START + timedelta(minutes=5))
    await tick(container, sender, START + timedelta(days=1))
    await tick(container, sender, START + timedelta(days=2, minutes=5))
    assert subjects(smtp_sink) == [
        "Il pagamento per Pro non è andato a buon fine",
        "Promemoria: il tuo abbonamento Pro sta per scadere",
    ]


async def test_payment_fixed_before_the_reminder_stops_it(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    pid = await person_with(
        container, state="past_due", plan_id="pro", billing="monthly", period_end=START
    )
    async with container.sessions.begin() as session:
        session.add(Event(person_id=pid, kind="payment_failed", at=START, data={}))
    await tick(container, sender, START + timedelta(minutes=5))
    async with container.sessions.begin() as session:
        sub = await session.scalar(select(Subscription).where(Subscription.person_id == pid))
        assert sub is not None
        sub.state, sub.period_end = "active", START + timedelta(days=30)
    await tick(container, sender, START + timedelta(days=2, minutes=5))
    assert len(smtp_sink.received) == 1


async def test_yearly_renewal_and_inactive(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    await person_with(
        container,
        state="active",
        plan_id="basic",
        billing="yearly",
        period_end=START + timedelta(days=3),
        consent_given=False,
    )
    await person_with(
        container,
        telegram_id=2,
        email="b@example.com",
        name="Bo",
        state="active",
        plan_id="plus",
        billing="monthly",
        auto_renew=True,
        period_end=START + timedelta(days=20),
        last_seen_at=START - timedelta(days=14),
    )
    await tick(container, sender, START + timedelta(minutes=1))
    assert sorted(subjects(smtp_sink)) == [
        "We miss you at Forever Yoga Club",
        "Your yearly Basic membership ends in 3 days",
    ]
    inactive = next(m for m in smtp_sink.received if "miss" in m.message["Subject"])
    assert "for 14 days" in text_of(inactive)


async def test_names_with_markup_are_escaped(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    await person_with(container, name="<script>alert('x')</script>", created_at=START)
    await tick(container, sender, START + timedelta(hours=1))
    [mail] = smtp_sink.received
    assert "<script>" not in html_of(mail)
    assert "&lt;script&gt;" in html_of(mail)
    assert "<script>alert('x')</script>" in text_of(mail)


async def test_two_ticks_at_once_send_no_duplicates(
    settings: Settings, smtp_sink: SmtpSink, pool: SmtpPool
) -> None:
    containers = [build_container(settings, clock=ManualClock(START)) for _ in range(2)]
    try:
        for i in range(30):
            await person_with(
                containers[0],
                telegram_id=100 + i,
                email=f"p{i}@example.com",
                created_at=START,
                state="expired",
                plan_id="plus",
                billing="monthly",
                period_end=START - timedelta(days=7),
            )
        senders = [delivery_worker(c, smtp=pool, chat=None, batch_size=7) for c in containers]
        at = START + timedelta(minutes=1)
        await asyncio.gather(*(tick(c, s, at) for c, s in zip(containers, senders, strict=True)))
        await asyncio.gather(*(tick(c, s, at) for c, s in zip(containers, senders, strict=True)))
        # welcome (transactional) and win-back for each; the cap does not hold back the first.
        assert len(smtp_sink.received) == 60
        keys = [(r.recipients[0], r.message["Subject"]) for r in smtp_sink.received]
        assert len(set(keys)) == 60
        async with containers[0].sessions() as session:
            count = await session.scalar(select(func.count()).select_from(OutboxMessage))
            assert count == 60
    finally:
        for c in containers:
            await c.close()


async def test_chat_messages_from_the_outbox_reach_the_person_through_the_bot(
    container: Container, pool: SmtpPool
) -> None:
    async with FakeBotAPI() as fake:
        user = fake.add_user(4711, "Ana", started=True)
        bot = fake.make_bot(default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        try:
            pid = await person_with(container, telegram_id=user.id)
            async with container.sessions.begin() as session:
                await outbox.enqueue(
                    session,
                    key="chat:help",
                    channel="chat",
                    person_id=pid,
                    template="help",
                    context={"business": "Forever <Yoga>"},
                    marketing=False,
                    not_before=START,
                    now=START,
                )
            sender = delivery_worker(container, smtp=pool, chat=BotChatPort(bot))
            assert (await sender.drain()).sent == 1
            assert (await sender.drain()).handled == 0
            [message] = [m for m in user.messages if m.from_bot]
            assert "Forever <Yoga>" in (message.text or "")
            fake.assert_no_refused_calls()
        finally:
            await bot.session.close()


@pytest.mark.parametrize(
    ("subscription", "says", "trial_used"),
    [
        (
            {"state": "active", "plan_id": "plus", "billing": "monthly", "auto_renew": True},
            "your membership is active",
            False,
        ),
        ({"state": "trial", "plan_id": "plus", "billing": "trial"}, "Your free trial is on", True),
    ],
)
async def test_the_welcome_says_where_the_person_stands_when_it_leaves(
    container: Container,
    sender: DeliveryWorker,
    smtp_sink: SmtpSink,
    subscription: dict[str, object],
    says: str,
    trial_used: bool,
) -> None:
    """Queued at sign-up, sent after they paid (or started the trial): no "try everything
    free for 7 days" to someone who is past that."""
    pid = await person_with(container, created_at=START, consent_given=False)
    at = START + timedelta(hours=1)
    container.clock.set(at)  # type: ignore[attr-defined]
    assert (await run_sweeps(container, at))["email_journeys"] == 1  # queued, not sent yet
    async with container.sessions.begin() as session:
        session.add(
            Subscription(
                person_id=pid, updated_at=at, period_end=at + timedelta(days=7), **subscription
            )
        )
        if trial_used:
            person = await session.get(Person, pid)
            assert person is not None
            person.trial_used_at = at
    assert (await sender.drain()).sent == 1
    [welcome] = smtp_sink.received
    for part in (text_of(welcome), html_of(welcome)):
        assert "try everything free" not in part
        assert says in part
        assert f"https://t.me/{BOT}" in part  # "our Telegram bot" is a link


async def test_a_new_person_s_welcome_still_offers_the_trial(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    await person_with(container, created_at=START, consent_given=False)
    await tick(container, sender, START + timedelta(hours=1))
    assert "try everything free for 7 days" in text_of(smtp_sink.received[0])


async def test_a_payment_sends_one_receipt_and_a_renewal_another(
    container: Container, sender: DeliveryWorker, smtp_sink: SmtpSink
) -> None:
    """Transactional (no consent needed), queued with the payment, one per charge id even
    when Telegram delivers the payment twice; what, Stars, period, and how to cancel with a
    link to the bot, in both parts and in the person's language."""
    from forever.domain.payments import InvoiceKind
    from forever.services.billing import IncomingPayment

    pid = await person_with(container, language="it", consent_given=False, telegram_id=77)
    use_cases = customers.build(container)
    plus = container.catalog.plan("plus")
    assert plus is not None
    container.clock.set(START)  # type: ignore[attr-defined]
    issued = await use_cases.invoicing.issue(pid, plus, InvoiceKind.SUBSCRIPTION)

    def paid(charge: str, recurring: bool) -> IncomingPayment:
        return IncomingPayment(
            payer_telegram_id=77,
            currency="XTR",
            amount=issued.amount,
            payload=issued.payload,
            charge_id=charge,
            provider_charge_id=None,
            is_recurring=recurring,
            is_first_recurring=False,
            subscription_expires_at=None,
        )

    await use_cases.record_payment(paid("stx-1", False))
    await use_cases.record_payment(paid("stx-1", False))  # delivered twice
    assert (await sender.drain()).sent == 1
    container.clock.set(START + timedelta(days=30))  # type: ignore[attr-defined]
    await use_cases.record_payment(paid("stx-2", True))
    assert (await sender.drain()).sent == 1
    assert subjects(smtp_sink) == [
        "Ricevuta del tuo abbonamento Plus",
        "Ricevuta: il tuo abbonamento Plus si è rinnovato",
    ]
    first, renewal = smtp_sink.received
    assert first.message["List-Unsubscribe"] is None  # transactional
    text = text_of(first)
    assert "Plus, abbonamento mensile" in text
    assert "300 Stelle di Telegram" in text
    assert "23 novembre 2026 – 23 dicembre 2026" in text
    assert "stx-1" in text
    assert f"apri il bot (https://t.me/{BOT}?start=account)" in text
    assert f'href="https://t.me/{BOT}?start=account"' in html_of(first)
    assert "23 dicembre 2026 – 22 gennaio 2027" in text_of(renewal)
    async with container.sessions() as session:
        keys = list(
            await session.scalars(
                select(OutboxMessage.idempotency_key).where(OutboxMessage.template == "receipt")
            )
        )
    assert sorted(keys) == ["receipt:stx-1", "receipt:stx-2"]
