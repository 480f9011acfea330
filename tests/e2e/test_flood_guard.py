"""The per-user flood guard through the real bot (polling) and the fake Bot API over HTTP:
one user floods 500 odd updates; another user is answered, the flooder is told once (in
their language), their payments all count, and dropped updates cost no database work.

The guard runs on a fake clock that only moves when a test moves it, so how many updates
get through is exact (the burst), however slow the machine is."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from forever.app import build_container
from forever.config import Settings
from forever.db.models import Payment, Person
from forever.domain.clock import ManualClock
from forever.domain.flood import FloodGuard
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import STAFF_ID, TEST_TOKEN
from tests.e2e.chat_helpers import count, snap, unanswered_callbacks
from tests.e2e.flood_helpers import (
    GROUP,
    dropped,
    group_message,
    odd_updates,
    sql_of_updates,
    sticker,
    writes,
)
from tests.fake_time import FakeTime

RATE, BURST = 5.0, 10
NOTICE_RO = "mai repede decât le pot citi"
NOTICE_EN = "faster than I can read them"


@pytest.fixture
def flood_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def guarded_bot(
    e2e_settings: Settings, clock: ManualClock, tg: FakeBotAPI, flood_time: FakeTime
) -> AsyncIterator[Runtime]:
    """The bot as `bot.py run` polls, with the flood guard's defaults (5/s, bursts of 10)."""
    settings = e2e_settings.model_copy(update={"flood_rate": RATE, "flood_burst": BURST})
    container = build_container(settings, clock=clock)
    container.flood = FloodGuard(RATE, BURST, clock=flood_time)
    runtime = Runtime(container, TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    yield runtime
    await runtime.stop()
    tg.assert_no_refused_calls()


def notices(messages: list[str], needle: str) -> int:
    return sum(needle in text for text in messages)


async def test_a_flooder_is_slowed_while_others_are_answered_and_payments_count(
    tg: FakeBotAPI, guarded_bot: Runtime
) -> None:
    calm = tg.add_user(7001, "Calm", language_code="en")
    flooder = tg.add_user(7002, "Flo", language_code="en")
    # Four updates of the burst: a plan picked, then the language set to Romanian (so the
    # notice must come in the person's language, not Telegram's "en").
    await flooder.send_text("/plans")
    plans = flooder.last_message
    await flooder.press("Plus · 300 ⭐ / month")
    pay_link = flooder.last_message
    await flooder.send_text("/language")
    await flooder.press("Română")

    await odd_updates(tg, flooder, plans, 250)
    paid = await flooder.press(pay_link.button_texts[0], message=pay_link)  # mid-flood
    assert getattr(paid, "accepted", False), paid
    await odd_updates(tg, flooder, plans, 250, start=250)
    await tg.send_subscription_update(flooder, paid.invoice_payload, "canceled")
    await calm.send_text("/help")

    assert "/plans" in calm.last_message.text, "the calm user's /help is answered"
    await guarded_bot.flood.close()  # the notice leaves in the background
    texts = [m.text or "" for m in flooder.messages]
    assert notices(texts, NOTICE_RO) == 1
    assert notices(texts, NOTICE_EN) == 0
    # The six tokens left of the burst let six odd updates in; the other 494 were dropped.
    assert dropped(guarded_bot) == 500 - (BURST - 4)
    # Money is never dropped: the payment and Telegram's cancellation both count.
    assert await count(guarded_bot, Payment) == 1
    state = await snap(guarded_bot, flooder.id)
    assert state.membership.state.value == "cancel_scheduled"
    # Of the 124 forged presses dropped, the first ten got an answer (a quick tapper's
    # spinner stops); the rest were left to time out at no cost.
    assert len(unanswered_callbacks(tg)) == 124 - BURST


async def test_dropped_updates_cost_no_database_work(tg: FakeBotAPI, guarded_bot: Runtime) -> None:
    flooder = tg.add_user(7003, "Flo")
    await flooder.start()
    welcome = flooder.last_message
    await odd_updates(tg, flooder, welcome, 9)  # the rest of the burst
    await tg.settle()
    with sql_of_updates(guarded_bot) as statements:
        await odd_updates(tg, flooder, welcome, 200, start=9)
        await tg.settle()
    assert statements == []
    assert dropped(guarded_bot) == 200


async def test_odd_updates_within_the_rate_write_nothing(
    tg: FakeBotAPI, guarded_bot: Runtime, flood_time: FakeTime
) -> None:
    user = tg.add_user(7004, "Ana")
    stranger = tg.add_user(7005, "Stranger")  # never opened the bot; only chats in a group
    await user.start()
    welcome = user.last_message
    with sql_of_updates(guarded_bot) as statements:
        for round_ in range(5):
            flood_time.now += 1.0  # a person's pace: nothing is dropped
            await odd_updates(tg, user, welcome, 4, start=4 * round_)
            await group_message(tg, stranger, round_)
            await tg.settle()
    assert writes(statements) == []
    assert dropped(guarded_bot) == 0
    # They were handled as before: stickers and unknown commands get the usual hint.
    assert sum("did not understand" in (m.text or "") for m in user.messages) == 10
    assert unanswered_callbacks(tg) == []
    async with guarded_bot.container.sessions() as session:
        people = set(await session.scalars(select(Person.telegram_id)))
    assert stranger.id not in people, "group chatter makes nobody a person"


async def test_group_commands_and_staff_are_not_blocked(
    tg: FakeBotAPI, guarded_bot: Runtime
) -> None:
    staff = tg.user(STAFF_ID)
    for _ in range(30):  # staff work in quick runs; the operator named them
        await staff.send_text("/help")
    assert sum("/plans" in (m.text or "") for m in staff.messages) == 30
    assert dropped(guarded_bot) == 0
    # A group flooder's drops are silent in the group; the notice goes to their private chat
    # once they write there (the bot may not write first to someone who never opened it).
    talker = tg.add_user(7006, "Talker")
    for number in range(30):
        await group_message(tg, talker, number)
    await tg.settle()
    await guarded_bot.flood.close()
    assert dropped(guarded_bot) == 20
    assert tg.calls_to("sendMessage")[-1].params["chat_id"] == STAFF_ID, "no notice yet"
    await sticker(tg, talker)
    await tg.settle()
    await guarded_bot.flood.close()
    assert dropped(guarded_bot) == 21
    assert notices([m.text or "" for m in talker.messages], NOTICE_EN) == 1
    assert all(c.params.get("chat_id") != GROUP["id"] for c in tg.calls_to("sendMessage"))
