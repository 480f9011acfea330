"""The one delivery worker beyond email: Stars subscription edits (channel "telegram") with
retries, and the member and staff told when Telegram keeps refusing; upgrade prompts for
everyone due, delivered once; the kick that makes a row leave at once."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter, TelegramServerError
from aiogram.methods import EditUserStarSubscription
from sqlalchemy import insert, select

from forever.app import Container
from forever.db import outbox
from forever.db.models import Event, OutboxMessage, Person, Subscription
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.jobs.delivery import (
    STAR_EDIT_MAX_ATTEMPTS,
    DeliveryLoop,
    DeliverySignal,
    DeliveryWorker,
)
from forever.services.stars import queue_refund
from forever.wiring.email import delivery_worker, run_sweeps
from tests.conftest import STAFF_ID, START
from tests.integration.people import add_person


@dataclass
class Sent:
    ok: bool = True
    blocked: bool = False
    message_id: int | None = 1


class ScriptedChat:
    """A ChatPort whose Stars edits fail as scripted (one exception per call, then success)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, Any]] = []
        self.edits: list[tuple[int, str, bool]] = []
        self.edit_failures: list[BaseException] = []
        self.refunds: list[tuple[int, str]] = []
        self.refund_failures: list[BaseException] = []
        self.send_failures: dict[int, list[BaseException]] = {}
        self.blocked: set[int] = set()
        self.edited = asyncio.Event()

    async def send_text(self, chat_id: int, html: str, keyboard: Any = None) -> Sent:
        failures = self.send_failures.get(chat_id)
        if failures:
            raise failures.pop(0)
        if chat_id in self.blocked:
            return Sent(ok=False, blocked=True, message_id=None)
        self.sent.append((chat_id, html, keyboard))
        return Sent()

    async def cancel_star_subscription(self, user_id: int, charge_id: str, canceled: bool) -> None:
        if self.edit_failures:
            raise self.edit_failures.pop(0)
        self.edits.append((user_id, charge_id, canceled))
        self.edited.set()

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        if self.refund_failures:
            raise self.refund_failures.pop(0)
        self.refunds.append((user_id, charge_id))


def method() -> EditUserStarSubscription:
    return EditUserStarSubscription(user_id=1, telegram_payment_charge_id="c", is_canceled=True)


def server_error() -> TelegramServerError:
    return TelegramServerError(method=method(), message="Bad Gateway")


@pytest.fixture
def chat() -> ScriptedChat:
    return ScriptedChat()


@pytest.fixture
def worker(container: Container, chat: ScriptedChat) -> DeliveryWorker:
    return delivery_worker(container, smtp=None, chat=chat, rng=random.Random(2))


async def queue_edit(container: Container, person: Person, canceled: bool = True) -> None:
    async with container.sessions.begin() as session:
        await outbox.enqueue(
            session,
            key=f"stars:{person.id}:1",
            channel="telegram",
            person_id=person.id,
            template="edit_star_subscription",
            context={"user_id": person.telegram_id, "charge_id": "ch-1", "is_canceled": canceled},
            marketing=False,
            not_before=START,
            now=START,
        )


async def row(container: Container, key: str) -> OutboxMessage:
    async with container.sessions() as session:
        found = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
        )
    assert found is not None
    return found


async def test_a_stars_edit_is_delivered_once(
    container: Container, worker: DeliveryWorker, chat: ScriptedChat
) -> None:
    person = await add_person(container, telegram_id=5001)
    await queue_edit(container, person)
    assert (await worker.drain()).sent == 1
    assert chat.edits == [(5001, "ch-1", True)]
    assert (await worker.drain()).handled == 0
    assert chat.edits == [(5001, "ch-1", True)]


async def test_temporary_failures_are_retried_soon_and_429_waits_as_told(
    container: Container, worker: DeliveryWorker, chat: ScriptedChat, clock: ManualClock
) -> None:
    person = await add_person(container, telegram_id=5002)
    await queue_edit(container, person)
    chat.edit_failures = [server_error(), TelegramRetryAfter(method(), "Too Many", 7)]
    assert (await worker.drain()).retried == 1
    first = await row(container, "stars:1:1")
    assert first.status == "pending"
    assert timedelta(seconds=1) <= first.not_before - START <= timedelta(seconds=3)
    clock.set(first.not_before)
    assert (await worker.drain()).retried == 1
    second = await row(container, "stars:1:1")
    assert second.not_before == first.not_before + timedelta(seconds=7)
    clock.set(second.not_before)
    assert (await worker.drain()).sent == 1
    assert chat.edits == [(5002, "ch-1", True)]


async def test_a_stars_edit_that_keeps_failing_tells_the_member_and_staff(
    container: Container, worker: DeliveryWorker, chat: ScriptedChat, clock: ManualClock
) -> None:
    person = await add_person(container, telegram_id=5003)
    await queue_edit(container, person)
    chat.edit_failures = [server_error() for _ in range(STAR_EDIT_MAX_ATTEMPTS)]
    for _ in range(STAR_EDIT_MAX_ATTEMPTS):
        await worker.drain()
        clock.advance(timedelta(minutes=5))
    assert chat.edits == []
    assert (await row(container, "stars:1:1")).status == "failed"
    await worker.drain()
    told = {chat_id: html for chat_id, html, _ in chat.sent}
    assert set(told) == {5003, STAFF_ID}
    assert "Settings" in told[5003] and "cancel" in told[5003]
    assert "5003" in told[STAFF_ID] and "ch-1" in told[STAFF_ID]
    assert (await worker.drain()).handled == 0  # told once


async def test_a_refused_stars_edit_is_not_retried(
    container: Container, worker: DeliveryWorker, chat: ScriptedChat
) -> None:
    person = await add_person(container, telegram_id=5004, language="it")
    await queue_edit(container, person, canceled=False)
    chat.edit_failures = [TelegramBadRequest(method(), "SUBSCRIPTION_NOT_FOUND")]
    report = await worker.drain()
    assert report.failed == 1
    await worker.drain()
    member = [html for chat_id, html, _ in chat.sent if chat_id == 5004]
    assert len(member) == 1 and "riattivare" in member[0]


async def queue_refund_of(container: Container, person: Person, charge_id: str) -> bool:
    async with container.uow.begin():
        queued = await queue_refund(
            container.outbox,
            person_id=person.id,
            telegram_id=int(person.telegram_id or 0),
            charge_id=charge_id,
            reason="wrong_amount",
            now=START,
        )
        await container.uow.commit()
    return queued


async def test_a_refund_is_asked_of_telegram_once_and_retried_through_a_5xx(
    container: Container, worker: DeliveryWorker, chat: ScriptedChat, clock: ManualClock
) -> None:
    person = await add_person(container, telegram_id=5010)
    assert await queue_refund_of(container, person, "ch-9")
    assert not await queue_refund_of(container, person, "ch-9")  # one refund per charge
    chat.refund_failures = [server_error()]
    assert (await worker.drain()).retried == 1
    clock.advance(timedelta(minutes=5))
    await worker.drain()
    assert chat.refunds == [(5010, "ch-9")]
    assert (await row(container, "refund:ch-9")).status == "sent"
    assert (await worker.drain()).handled == 0


async def test_a_refund_telegram_already_made_counts_as_done(
    container: Container, worker: DeliveryWorker, chat: ScriptedChat
) -> None:
    person = await add_person(container, telegram_id=5011)
    await queue_refund_of(container, person, "ch-10")
    chat.refund_failures = [TelegramBadRequest(method(), "CHARGE_ALREADY_REFUNDED")]
    await worker.drain()
    assert (await row(container, "refund:ch-10")).status == "sent"
    assert chat.sent == []  # nobody alarmed


async def test_a_refund_telegram_refuses_tells_the_member_and_staff(
    container: Container, worker: DeliveryWorker, chat: ScriptedChat
) -> None:
    person = await add_person(container, telegram_id=5012, language="ro")
    await queue_refund_of(container, person, "ch-11")
    chat.refund_failures = [TelegramBadRequest(method(), "CHARGE_NOT_FOUND")]
    assert (await worker.drain()).failed == 1
    await worker.drain()
    told = {chat_id: html for chat_id, html, _ in chat.sent}
    assert set(told) == {5012, STAFF_ID}
    assert "rambursarea" in told[5012] and "ch-11" in told[5012]
    assert "Refund not done" in told[STAFF_ID] and "wrong amount or currency" in told[STAFF_ID]


async def test_a_kick_delivers_within_a_second(
    container: Container, worker: DeliveryWorker, chat: ScriptedChat
) -> None:
    signal = DeliverySignal()  # built first, as the use cases that kick receive it
    loop = DeliveryLoop(worker, interval=3600, signal=signal)
    loop.start()
    try:
        await asyncio.sleep(0)
        person = await add_person(container, telegram_id=5005)
        await queue_edit(container, person)
        signal.kick()
        await asyncio.wait_for(chat.edited.wait(), 1.0)
        assert chat.edits == [(5005, "ch-1", True)]
        # From another thread too (a kick is safe anywhere).
        chat.edited.clear()
        await queue_edit(container, await add_person(container, telegram_id=5006))
        await asyncio.to_thread(signal.kick)
        await asyncio.wait_for(chat.edited.wait(), 1.0)
        assert chat.edits[-1] == (5006, "ch-1", True)
    finally:
        await loop.stop()


async def add_trial_members(container: Container, count: int) -> None:
    started = START - timedelta(days=4)  # past half of the 7-day trial
    async with container.sessions.begin() as session:
        await session.execute(
            insert(Person),
            [
                {
                    "telegram_id": 20_000 + i,
                    "first_name": f"Member{i}",
                    "language": ("en", "ro", "it")[i % 3],
                    "email_status": "none",
                    "created_at": started,
                    "last_seen_at": START,
                    "trial_used_at": started,
                }
                for i in range(count)
            ],
        )
        ids = list(await session.scalars(select(Person.id).order_by(Person.id)))
        await session.execute(
            insert(Subscription),
            [
                {
                    "person_id": pid,
                    "state": "trial",
                    "plan_id": "plus",
                    "billing": "trial",
                    "period_end": started + timedelta(days=7),
                    "updated_at": started,
                }
                for pid in ids
            ],
        )


async def test_650_trial_members_halfway_get_650_prompts_exactly_once(
    container: Container, chat: ScriptedChat
) -> None:
    await add_trial_members(container, 650)
    results = await run_sweeps(container, START, chat=chat)
    assert results["upgrade_prompts"] == 650
    assert len(chat.sent) == 650
    assert len({chat_id for chat_id, _, _ in chat.sent}) == 650
    _, html, keyboard = chat.sent[0]
    assert "halfway through your trial" in html
    assert keyboard is not None and "Pro" in keyboard[0][0].text
    again = await run_sweeps(container, START + timedelta(minutes=5), chat=chat)
    assert again["upgrade_prompts"] == 0
    assert len(chat.sent) == 650
    async with container.sessions() as session:
        events = list(
            await session.scalars(
                select(Event.person_id).where(Event.kind == EventKind.UPGRADE_PROMPTED.value)
            )
        )
    assert len(events) == len(set(events)) == 650


async def test_a_prompt_that_fails_for_now_is_retried_not_lost(
    container: Container, chat: ScriptedChat, clock: ManualClock
) -> None:
    await add_trial_members(container, 2)
    chat.send_failures[20_000] = [ConnectionResetError("network down")]
    chat.blocked.add(20_001)
    assert (await run_sweeps(container, START, chat=chat))["upgrade_prompts"] == 0
    async with container.sessions() as session:
        blocked = await session.scalar(
            select(Person.blocked_at).where(Person.telegram_id == 20_001)
        )
    assert blocked is not None
    clock.advance(timedelta(minutes=5))
    assert (await run_sweeps(container, clock.now(), chat=chat))["upgrade_prompts"] == 1
    assert [chat_id for chat_id, _, _ in chat.sent] == [20_000]


async def test_an_upgrade_prompt_queued_at_night_waits_for_the_morning_in_the_persons_zone(
    container: Container, chat: ScriptedChat, clock: ManualClock
) -> None:
    """Issue 13, item 7: quiet hours hold for chat nudges too, in each person's own zone."""
    await add_trial_members(container, 3)  # en (UTC), ro (Europe/Bucharest), it (Europe/Rome)
    night = START.replace(hour=22)  # 22:00 UTC, 00:00 in Bucharest, 23:00 in Rome
    clock.set(night)
    assert (await run_sweeps(container, night, chat=chat))["upgrade_prompts"] == 0
    assert chat.sent == []
    async with container.sessions() as session:
        waiting = {
            r.person_id: r.not_before
            for r in await session.scalars(
                select(OutboxMessage).where(OutboxMessage.template == "upgrade_prompt")
            )
        }
        language = dict((await session.execute(select(Person.id, Person.language))).all())
    morning = START.replace(hour=8) + timedelta(days=1)  # 08:00 UTC
    expected = {
        "en": morning,
        "ro": morning - timedelta(hours=2),
        "it": morning - timedelta(hours=1),
    }
    assert {language[p]: at for p, at in waiting.items()} == expected
    clock.set(morning)
    await run_sweeps(container, morning, chat=chat)
    assert sorted(chat_id for chat_id, _, _ in chat.sent) == [20_000, 20_001, 20_002]
