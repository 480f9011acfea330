"""The sending middleware on a real aiogram Bot against the fake Bot API: the retry cap, calls
that post no message, and bulk against answers (time from a fake clock shared with the fake)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.ratelimit import TokenBucket
from forever.telegram.bot_port import BotChatPort
from forever.telegram.sending import AdaptiveSending, answering
from tests.fake_time import FakeTime

CHAT = 4242


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def fake(time: FakeTime) -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(clock=time) as api:
        api.add_user(CHAT, "Ann", started=True)
        yield api


@pytest.fixture
def budget(time: FakeTime) -> TokenBucket:
    return TokenBucket(28, 14, window_cap=30, clock=time, sleep=time.sleep)


@pytest.fixture
async def bot(fake: FakeBotAPI, budget: TokenBucket, time: FakeTime) -> AsyncIterator[Bot]:
    made = fake.make_bot()
    made.session.middleware(AdaptiveSending(budget, max_retries=3, sleep=time.sleep))
    yield made
    await made.session.close()


async def test_an_answer_waits_out_each_429_and_gives_up_after_the_cap(
    bot: Bot, fake: FakeBotAPI, time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject_429(2, retry_after=2, methods=["sendMessage"])
    started = time()
    with answering():
        await bot.send_message(CHAT, "hello")
    assert time() - started == pytest.approx(4)  # two pauses of 2 s, then delivered
    assert [m.text for m in fake.user(CHAT).messages] == ["hello"]
    fake.inject_429(10, retry_after=1, methods=["sendMessage"])
    caplog.set_level(logging.WARNING)
    with answering(), pytest.raises(TelegramRetryAfter):
        await bot.send_message(CHAT, "again")
    assert len(fake.calls_to("sendMessage")) == 3 + 4  # 3 retries, then it gives up
    assert [r for r in caplog.records if r.exc_info] == []
    fake.assert_429s_obeyed()


async def test_a_call_that_posts_no_message_is_retried_after_retry_after(
    bot: Bot, fake: FakeBotAPI, time: FakeTime
) -> None:
    fake.inject_429(1, retry_after=3, methods=["getChat"])
    started = time()
    with answering():
        chat = await bot.get_chat(CHAT)
    assert chat.id == CHAT
    assert time() - started == pytest.approx(3)
    fake.assert_429s_obeyed()


async def test_calls_that_post_no_message_wait_out_a_429_another_call_was_given(
    bot: Bot, fake: FakeBotAPI, budget: TokenBucket, time: FakeTime
) -> None:
    """Bans of many members at once (access removals): a 429 to one ban holds every later
    ban and getChatMember back until `retry_after` has passed, not just the refused one."""
    await budget.throttled(2)  # another sender was just told to retry after 2 s
    started = time()
    assert (await bot.get_chat(CHAT)).id == CHAT
    assert time() - started == pytest.approx(2)
    assert [c.method for c in fake.calls] == ["getChat"]  # one call, after the pause


async def test_bulk_waits_for_the_budget_and_answers_do_not(
    bot: Bot, fake: FakeBotAPI, time: FakeTime
) -> None:
    started = time()
    for n in range(20):
        with answering():
            await bot.send_message(CHAT, f"answer {n}")
    assert time() == started  # twenty answers, no wait
    for n in range(20):
        await bot.send_message(CHAT, f"bulk {n}")  # outside a handler: bulk
    # 28 per second, and only 10 fit in the second the 20 answers count in.
    assert time() - started >= 1.0
    fake.assert_no_refused_calls()


async def test_the_delivery_workers_chat_send_waits_out_a_429_and_is_delivered(
    bot: Bot, fake: FakeBotAPI, time: FakeTime
) -> None:
    """The outbox's chat channel (and staff alerts) send through BotChatPort, as bulk."""
    fake.inject_429(1, retry_after=5, methods=["sendMessage"])
    started = time()
    sent = await BotChatPort(bot).send_text(CHAT, "your gift is waiting")
    assert sent.ok
    assert time() - started >= 5
    assert [m.text for m in fake.user(CHAT).messages] == ["your gift is waiting"]
    fake.assert_429s_obeyed()
