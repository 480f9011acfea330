"""Sending as people notice it: replies go out at once while a broadcast uses the budget, a
429 anywhere pauses every sender and the refused call arrives after the pause, and neither a
429 nor a 403 in a handler ends in a traceback.

The budget and the fake Bot API share one held clock (tests/fake_time.py): the budget is busy
for as long as the test does not move it, and a pause ends exactly when the test says.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from forever.app import build_container
from forever.config import Settings
from forever.db.models import Person
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeEvent, FakeUser
from forever.services.ratelimit import SendBudget, TokenBucket, default_burst
from forever.telegram.ratelimit import RedisTokenBucket
from tests.conftest import REDIS_TEST_URL, STAFF_ID, TEST_TOKEN
from tests.e2e.staff_helpers import add_people, only_job, wait_for, wait_for_status
from tests.fake_time import HeldTime

RATE = 28.0


@pytest.fixture
def held() -> HeldTime:
    return HeldTime()


@pytest.fixture
async def tg(held: HeldTime) -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TEST_TOKEN, update_timeout=20.0, clock=held) as fake:
        fake.add_user(STAFF_ID, "Sam", language_code="en", username="sam_staff", started=True)
        yield fake


@pytest.fixture(params=["memory", "redis"])
async def budget(request: pytest.FixtureRequest, held: HeldTime) -> AsyncIterator[SendBudget]:
    burst, cap = default_burst(RATE), int(RATE) + 2
    if request.param == "memory":
        yield TokenBucket(RATE, burst, window_cap=cap, clock=held, sleep=held.sleep)
        return
    client = Redis.from_url(REDIS_TEST_URL)
    prefix = f"forever-test:{uuid.uuid4().hex}"
    yield RedisTokenBucket(
        client, RATE, burst, window_cap=cap, prefix=prefix, clock=held, sleep=held.sleep
    )
    keys = [k async for k in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def bot(
    settings: Settings, clock: ManualClock, tg: FakeBotAPI, budget: SendBudget
) -> AsyncIterator[Runtime]:
    container = build_container(
        settings.model_copy(update={"telegram_api_url": tg.base_url}), clock=clock
    )
    container.broadcasting.limiter = budget
    runtime = Runtime(container, TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    yield runtime
    await runtime.stop()
    tg.assert_429s_obeyed()


BROADCAST_TEXT = "Spring classes are open"


def replies(user: FakeUser) -> list[str]:
    """What the bot wrote to `user`, broadcast copies left out."""
    texts = [m.text or m.caption or "" for m in user.messages]
    return [t for t in texts if BROADCAST_TEXT not in t]


async def reply_to(user: FakeUser, text: str) -> str:
    """Send `text` and wait for the bot's answer (the held clock does not move meanwhile)."""
    before = len(replies(user))
    await user.send_text(text, wait=False)
    await wait_for(lambda: len(replies(user)) > before, within=10)
    return replies(user)[-1]


async def compose_and_confirm(tg: FakeBotAPI, total: int) -> None:
    staff = tg.user(STAFF_ID)
    await staff.send_text("/broadcast")
    await staff.send_text("Spring classes are open: book now")
    await staff.send_text("Book | https://forever.test/book")
    await staff.press("Everyone")
    await staff.press(f"Send to {total}")


def copies(tg: FakeBotAPI) -> int:
    return sum(1 for c in tg.calls_to("copyMessage") if c.ok)


async def run_until(held: HeldTime, done: object, step: float = 0.05, within: float = 30) -> None:
    """Move the held clock in small steps until `done()` (the budget lets bulk through)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not done():  # type: ignore[operator]
        if loop.time() > deadline:
            raise TimeoutError("not done in time")
        held.advance(step)
        await asyncio.sleep(0.005)


async def finish(bot: Runtime, held: HeldTime) -> None:
    """Let the clock run until the broadcast is done (its last sends and the report)."""

    async def tick() -> None:
        while True:
            held.advance(0.05)
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(tick())
    try:
        await wait_for_status(bot.container, await only_job(bot.container), {"done"})
    finally:
        ticking.cancel()


async def test_replies_go_out_at_once_while_a_broadcast_fills_the_budget(
    bot: Runtime, tg: FakeBotAPI, held: HeldTime
) -> None:
    ids = list(range(300_000, 300_100))
    await add_people(bot.container, tg, ids)
    # The staff member's own steps are answers too: none waits for the (empty) budget.
    await compose_and_confirm(tg, len(ids) + 1)
    # One second of budget: the broadcast sends its first messages, then waits for more.
    await run_until(held, lambda: copies(tg) >= 20)
    await asyncio.sleep(0.3)  # the sends in flight land; the rest wait for the clock
    held_at = held()
    customers = [tg.user(i) for i in ids[:5]]
    for customer in customers:
        assert await reply_to(customer, "/help")  # answered without the clock moving
    assert copies(tg) < len(ids)  # the broadcast is still running
    # The clock did not move: the budget stayed empty (bulk waits for it), replies did not.
    assert held() == held_at
    await finish(bot, held)
    everyone = {int(c.params["chat_id"]) for c in tg.calls_to("copyMessage") if c.ok}
    assert set(ids) <= everyone
    tg.assert_no_refused_calls()


async def test_a_429_during_a_broadcast_pauses_the_replies_too(
    bot: Runtime, tg: FakeBotAPI, held: HeldTime
) -> None:
    ids = list(range(310_000, 310_060))
    await add_people(bot.container, tg, ids)
    await compose_and_confirm(tg, len(ids) + 1)
    tg.inject_429(1, retry_after=5, methods=["copyMessage"])
    await run_until(held, lambda: tg.stats.too_many_requests == 1)
    paused_at = held()
    customer = tg.user(ids[-1])
    await customer.send_text("/help", wait=False)
    await asyncio.sleep(0.3)  # room for a reply that would ignore the pause
    assert replies(customer) == []
    # The pause started when the bot read the 429 (a step after the fake sent it, at most).
    held.advance(paused_at + 5.1 - held())
    await wait_for(lambda: len(replies(customer)) == 1, within=10)
    await finish(bot, held)
    # Nobody lost, nobody twice, the 429 obeyed (checked again when the bot stops).
    delivered = [int(c.params["chat_id"]) for c in tg.calls_to("copyMessage") if c.ok]
    assert sorted(d for d in delivered if d != STAFF_ID) == ids
    tg.assert_429s_obeyed()


async def test_a_reply_refused_with_429_arrives_after_the_pause_without_a_traceback(
    bot: Runtime, tg: FakeBotAPI, held: HeldTime, caplog: pytest.LogCaptureFixture
) -> None:
    ann = tg.add_user(5001, "Ann", started=True)
    await reply_to(ann, "/start")
    caplog.clear()
    caplog.set_level(logging.INFO)
    tg.inject_429(1, retry_after=3, methods=["sendMessage"])
    before = len(replies(ann))
    started = held()
    await ann.send_text("/help", wait=False)
    await wait_for(lambda: tg.stats.too_many_requests == 1)
    await asyncio.sleep(0.3)
    assert len(replies(ann)) == before  # not before the pause ends
    held.advance(3)
    await wait_for(lambda: len(replies(ann)) == before + 1, within=10)
    assert "/plans" in replies(ann)[-1]  # the help text, delivered
    assert held() - started == pytest.approx(3)
    tg.assert_429s_obeyed()
    warnings = [r for r in caplog.records if "429" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert [r for r in caplog.records if r.exc_info] == []


async def test_a_403_in_a_handler_marks_the_person_blocked_without_a_traceback(
    bot: Runtime, tg: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    bob = tg.add_user(5002, "Bob", started=True)
    await reply_to(bob, "/start")

    def block_after_writing(event: FakeEvent) -> None:
        if event.kind == "user_message" and event.chat_id == bob.id:
            tg.block(bob.id)  # blocks the bot right after writing: the reply gets 403

    tg.subscribe(block_after_writing)
    caplog.clear()
    caplog.set_level(logging.INFO)
    await bob.send_text("/help")
    async with bot.container.sessions() as session:
        blocked_at = await session.scalar(
            select(Person.blocked_at).where(Person.telegram_id == bob.id)
        )
    assert blocked_at is not None
    assert [r for r in caplog.records if r.exc_info] == []
    tg.assert_no_refused_calls(ignore_status={403})
