"""A customer's answer to a broadcast reaches staff (every ADMIN_IDS and SUPPORT_IDS member)
instead of the fallback; staff's Reply goes back to them; both are in the audit log; forged
buttons never make staff write to anyone."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import pytest
from sqlalchemy import select

from forever.config import Settings
from forever.db.models import AuditEntry, Person
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeMessage, FakeUser
from tests.conftest import STAFF_ID
from tests.e2e.staff_helpers import add_people, only_job, wait_for, wait_for_status

SUPPORT_ID = 900002
UNKNOWN = "I did not understand that"


@pytest.fixture
def e2e_settings(settings: Settings, tg: FakeBotAPI) -> Settings:
    tg.add_user(SUPPORT_ID, "Sue", language_code="it", username="sue_support", started=True)
    return settings.model_copy(
        update={"telegram_api_url": tg.base_url, "support_ids": frozenset({SUPPORT_ID})}
    )


async def broadcast(tg: FakeBotAPI, running_bot: Runtime, text: str, total: int) -> None:
    staff = tg.user(STAFF_ID)
    await staff.send_text("/broadcast")
    await staff.send_text(text)
    await staff.press("No button")
    await staff.press("Everyone")
    await staff.press(f"Send to {total}")
    await wait_for_status(running_bot.container, await only_job(running_bot.container), {"done"})


async def inbox_message(user: FakeUser, containing: str) -> FakeMessage:
    """The copy of a customer's message, once the outbox has delivered it."""
    await wait_for(lambda: any(containing in (m.text or "") for m in user.messages), within=5)
    return next(m for m in reversed(user.messages) if containing in (m.text or ""))


async def audit(running_bot: Runtime) -> list[AuditEntry]:
    async with running_bot.container.sessions() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def test_a_reply_to_a_broadcast_reaches_staff_and_staff_answer_back(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5501], language="ro")
    await tg.user(SUPPORT_ID).start()  # Sue has used the bot: her language is known
    await broadcast(tg, running_bot, "Class tonight at 7", total=3)  # Ana, Sam and Sue
    ana = tg.user(5501)
    [news] = ana.messages
    await ana.send_text("Can I bring a friend?", reply_to=news)
    told = ana.last_message.text
    assert UNKNOWN not in told and "a ajuns la echipa noastră" in told  # in her language

    # Every staff member gets it (owner and support), with her id and a Reply button.
    sam, sue = tg.user(STAFF_ID), tg.user(SUPPORT_ID)
    for staff in (sam, sue):
        copy = await inbox_message(staff, "Can I bring a friend?")
        assert "5501" in copy.text and "P5501" in copy.text
    assert "Answer to broadcast #1" in (await inbox_message(sam, "bring a friend")).text
    copy = await inbox_message(sue, "bring a friend")
    assert "Risposta al messaggio di massa #1" in copy.text  # Sue reads Italian
    await sue.press("Rispondi", message=copy)
    assert "P5501" in sue.last_message.text
    await sue.send_text("Certo, yes of course!")
    assert "Inviato a P5501" in sue.last_message.text
    await wait_for(lambda: "Certo, yes of course!" in (ana.last_message.text or ""), within=5)
    assert "Echipa noastră îți răspunde" in ana.last_message.text
    # Her next text after the answer is a plain follow-up within the window: staff get it too.
    await ana.send_text("Mulțumesc!")
    await inbox_message(sam, "Mulțumesc!")

    entries = await audit(running_bot)
    inbound = [e for e in entries if e.action == "customer_message"]
    outbound = [e for e in entries if e.action == "staff_reply"]
    assert [(e.actor_telegram_id, e.arguments["text"]) for e in inbound] == [
        (5501, "Can I bring a friend?"),
        (5501, "Mulțumesc!"),
    ]
    assert inbound[0].arguments["broadcast"] == 1
    assert [(e.actor_telegram_id, e.arguments["text"]) for e in outbound] == [
        (SUPPORT_ID, "Certo, yes of course!")
    ]
    person_id = inbound[0].arguments["person"]
    assert outbound[0].arguments["person"] == person_id


async def test_plain_text_long_after_a_broadcast_or_with_none_gets_the_ordinary_help(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    bo = tg.add_user(5601, "Bo")
    await bo.start()
    await bo.send_text("hello?")
    assert UNKNOWN in bo.last_message.text  # never got a broadcast
    await broadcast(tg, running_bot, "Spring classes", total=2)
    await bo.send_text("nice")
    assert UNKNOWN not in bo.last_message.text  # right after: it is an answer
    clock.advance(timedelta(hours=25))
    await bo.send_text("hello again")
    assert UNKNOWN in bo.last_message.text
    # An explicit reply to the broadcast still reaches staff, however late.
    news = next(m for m in bo.messages if m.text == "Spring classes")
    await bo.send_text("late answer", reply_to=news)
    assert UNKNOWN not in bo.last_message.text
    await inbox_message(tg.user(STAFF_ID), "late answer")
    # A reply to some other message of the bot is not an answer to a broadcast.
    welcome = bo.messages[0]
    await bo.send_text("about the welcome", reply_to=welcome)
    assert UNKNOWN in bo.last_message.text


async def test_forged_reply_buttons_cannot_make_staff_write_to_anyone(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    await add_people(container, tg, [5701, 5702])
    await broadcast(tg, running_bot, "News", total=3)
    eve = tg.user(5701)
    await eve.send_text("question", reply_to=eve.messages[0])
    sam = tg.user(STAFF_ID)
    copy = await inbox_message(sam, "question")
    good = copy.reply_markup["inline_keyboard"][0][0]["callback_data"]
    async with container.sessions() as session:
        other = await session.scalar(select(Person.id).where(Person.telegram_id == 5702))
    # Another person's id with Eve's signature, a made-up one, and garbage.
    prefix, action, token = good.split(":", 2)
    mac = token[-16:]
    other_body = base64.urlsafe_b64encode(str(other).encode()).rstrip(b"=").decode()
    for forged in (f"{prefix}:{action}:{other_body}{mac}", f"{prefix}:{action}:AAAA"):
        copy.reply_markup["inline_keyboard"][0][0]["callback_data"] = forged
        answer = await sam.press(forged, message=copy)
        assert answer is not None and "no longer be answered" in (answer.text or ""), forged
    copy.reply_markup["inline_keyboard"][0][0]["callback_data"] = "inbox:zz"
    assert await sam.press("inbox:zz", message=copy) is not None  # answered, nothing more
    await sam.send_text("this must go nowhere")
    assert "no longer" not in sam.last_message.text  # not in the answering state at all
    await asyncio.sleep(0.3)
    assert all("this must go nowhere" not in (m.text or "") for m in tg.user(5702).messages)

    # A customer pressing a genuine Reply button (copied into their chat) gets nothing.
    news = eve.messages[0]
    news.reply_markup = {"inline_keyboard": [[{"text": "Reply", "callback_data": good}]]}
    await eve.press("Reply", message=news)
    await eve.send_text("pretending to be staff")
    assert "Sent to" not in (eve.last_message.text or "")
    assert [e.action for e in await audit(running_bot)].count("staff_reply") == 0


async def test_long_answers_are_kept_and_audit_still_fits_in_a_message(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    await add_people(running_bot.container, tg, range(5801, 5816))
    await broadcast(tg, running_bot, "News", total=16)
    long = "Please tell me more. " * 190  # ~4000 characters
    for telegram_id in range(5801, 5816):
        await tg.user(telegram_id).send_text(long)
    await inbox_message(tg.user(STAFF_ID), "Please tell me more.")
    [kept] = {e.arguments["text"] for e in await audit(running_bot) if e.arguments.get("text")}
    assert kept.startswith("Please tell me more.") and len(kept) >= 3000
    sam = tg.user(STAFF_ID)
    await sam.send_text("/audit")
    assert "customer_message" in sam.last_message.text
