"""The sandbox page's controls for what happens outside the chat (issue 13, item 11): feeding
the usage counter, a failed Stars renewal, and a customer blocking the bot, through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import select

from forever.db.models import Person
from forever.sandbox.world import BOT_USERNAME, STAFF_ID, Sandbox
from tests.sandbox.test_sandbox_api import bot_messages, post, press


async def customer(http: aiohttp.ClientSession, name: str) -> dict[str, Any]:
    status, body = await post(http, "/sandbox/api/customers", {"name": name, "language": "en"})
    assert status == 201
    uid = body["id"]
    assert (await post(http, f"/sandbox/api/chats/{uid}/start", {}))[0] == 200
    await press(http, uid, "Start my free trial")
    await press(http, uid, "Skip")
    return body


async def daytime(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    """Tomorrow at noon UTC: prompts are not held back by the night."""
    noon = (sandbox.clock.now() + timedelta(days=1)).date().isoformat() + "T12:00:00Z"
    status, result = await post(http, "/sandbox/api/clock", {"until": noon})
    assert status == 200, result


async def pay_basic(http: aiohttp.ClientSession, uid: int) -> None:
    assert (await post(http, f"/sandbox/api/chats/{uid}/messages", {"text": "/plans"}))[0] == 200
    await press(http, uid, "Basic · 150 ⭐ / month")
    paid = await press(http, uid, "Subscribe · 150 ⭐ / month")
    assert paid["paid"], paid


async def last_text(http: aiohttp.ClientSession, uid: int) -> str:
    return str((await bot_messages(http, uid))[-1]["html"])


async def test_feeding_usage_brings_the_usage_upgrade_prompt(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    ben = await customer(http, "Ben")
    uid = ben["id"]
    await pay_basic(http, uid)
    await daytime(sandbox, http)
    status, fed = await post(http, f"/sandbox/api/chats/{uid}/usage", {"amount": 5})
    assert status == 200 and fed["usage"] == 5
    assert "You have used" not in await last_text(http, uid)  # under Basic's limit of 12
    status, fed = await post(http, f"/sandbox/api/chats/{uid}/usage", {"amount": 7})
    assert status == 200 and fed["usage"] == 12
    prompt = await last_text(http, uid)
    assert "You have used 12 this month, the limit of <b>Basic</b>" in prompt
    assert (await post(http, f"/sandbox/api/chats/{uid}/usage", {"amount": 0}))[0] == 400
    assert (await post(http, "/sandbox/api/chats/999999/usage", {"amount": 1}))[0] == 404


async def test_a_failed_renewal_starts_the_payment_failed_journey(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    cara = await customer(http, "Cara")
    uid = cara["id"]
    # No Stars subscription yet: nothing to fail.
    status, refused = await post(http, f"/sandbox/api/chats/{uid}/failed-renewal", {})
    assert status == 409 and "no Stars subscription" in refused["error"]
    await pay_basic(http, uid)
    # The next renewal fails, when the clock reaches it; nothing happens before.
    status, armed = await post(http, f"/sandbox/api/chats/{uid}/failed-renewal", {"when": "next"})
    assert status == 200 and armed["failing"]
    assert "did not go through" not in await last_text(http, uid)
    assert (await post(http, "/sandbox/api/clock", {"days": 31}))[0] == 200
    failed = next(m for m in await bot_messages(http, uid) if "did not go through" in m["html"])
    assert "Basic" in failed["html"]
    assert [b["text"] for row in failed["buttons"] for b in row] == ["Pay now · 150 ⭐"]
    assert (await post(http, f"/sandbox/api/chats/{uid}/messages", {"text": "/account"}))[0] == 200
    assert "payment failed" in await last_text(http, uid)
    # Telegram stopped that subscription: it cannot fail again.
    assert (await post(http, f"/sandbox/api/chats/{uid}/failed-renewal", {}))[0] == 409
    assert (await post(http, f"/sandbox/api/chats/{uid}/failed-renewal", {"when": "x"}))[0] == 400


async def test_now_fails_the_renewal_at_once(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    dan = await customer(http, "Dan")
    uid = dan["id"]
    await pay_basic(http, uid)
    status, result = await post(http, f"/sandbox/api/chats/{uid}/failed-renewal", {"when": "now"})
    assert status == 200 and result["failed"]
    assert "The renewal payment for <b>Basic</b> did not go through" in await last_text(http, uid)


async def test_a_customer_who_blocks_the_bot_is_marked_when_the_bot_next_writes(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    eve = await customer(http, "Eve")
    uid = eve["id"]
    status, shown = await post(http, f"/sandbox/api/chats/{uid}/block", {"blocked": True})
    assert status == 200 and shown["blocked"] is True
    before = len(await bot_messages(http, uid))
    # Past the trial's halfway point the bot tries an upgrade prompt: Telegram answers 403.
    assert (await post(http, "/sandbox/api/clock", {"days": 4}))[0] == 200
    assert len(await bot_messages(http, uid)) == before
    assert sandbox.container is not None
    async with sandbox.container.sessions() as session:
        blocked_at = await session.scalar(
            select(Person.blocked_at).where(Person.telegram_id == uid)
        )
    assert blocked_at is not None
    # The one refused call is that 403, expected here; the fixture checks there is no other.
    assert [(c.method, c.status) for c in sandbox.fake.refused] == [("sendMessage", 403)]
    sandbox.fake.calls[:] = [c for c in sandbox.fake.calls if c.ok]
    status, shown = await post(http, f"/sandbox/api/chats/{uid}/block", {"blocked": False})
    assert status == 200 and shown["blocked"] is False
    assert (await post(http, f"/sandbox/api/chats/{uid}/block", {"blocked": "yes"}))[0] == 400


async def test_the_bots_star_balance_is_set_for_paid_broadcasts(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, balance = await post(http, "/sandbox/api/stars", {"amount": 250})
    assert status == 200 and balance == {"amount": 250, "nanostar_amount": 0}
    assert sandbox.runtime is not None
    answer = await sandbox.runtime.bot.get_my_star_balance()  # what the bot itself reads
    assert answer.amount == 250
    assert (await post(http, "/sandbox/api/stars", {"amount": -1}))[0] == 400


async def test_a_second_customer_starts_the_bot_through_sams_invite_link(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sent = await post(http, f"/sandbox/api/chats/{STAFF_ID}/messages", {"text": "/invite"})
    assert sent[0] == 200
    invite = await last_text(http, STAFF_ID)
    link = invite.split(f"https://t.me/{BOT_USERNAME}?start=", 1)[1].split()[0]
    assert link.startswith("r_")
    status, body = await post(http, "/sandbox/api/customers", {"name": "Lia", "language": "en"})
    assert status == 201
    uid = body["id"]
    # What the page's "Open link" does with the pasted link: /start with its payload.
    assert (await post(http, f"/sandbox/api/chats/{uid}/start", {"payload": link}))[0] == 200
    texts = [str(m["html"]) for m in await bot_messages(http, uid)]
    assert any("You came through Sam" in t for t in texts), texts


async def buy_in_shop(http: aiohttp.ClientSession, uid: int, label: str) -> None:
    assert (await post(http, f"/sandbox/api/chats/{uid}/messages", {"text": "/shop"}))[0] == 200
    await press(http, uid, label)
    invoice = (await bot_messages(http, uid))[-1]
    assert invoice.get("invoice"), invoice
    status, paid = await post(http, f"/sandbox/api/chats/{uid}/pay", {"message_id": invoice["id"]})
    assert status == 200 and paid["paid"], paid


async def test_buying_an_add_on_and_credits_then_spending_them(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    """Issue 19: a trial of Plus may buy the coaching call; credits bought in /shop are spent
    with "Spend credits" (the ledger call behind POST /api/usage), the low-balance notice
    follows once the balance falls to 20, and too large a spend is refused."""
    dana = await customer(http, "Dana")
    uid = dana["id"]
    await buy_in_shop(http, uid, "Coaching call · 150 ⭐")
    assert "Coaching call is yours" in await last_text(http, uid)
    status, refused = await post(http, f"/sandbox/api/chats/{uid}/credits", {"amount": 5})
    assert status == 409 and "not enough credits: 0 left" in refused["error"]
    await buy_in_shop(http, uid, "100 credits · 50 ⭐")
    status, spent = await post(http, f"/sandbox/api/chats/{uid}/credits", {"amount": 70})
    assert status == 200 and spent["balance"] == 30
    status, spent = await post(http, f"/sandbox/api/chats/{uid}/credits", {"amount": 15})
    assert status == 200 and spent["balance"] == 15
    assert "Your credit balance is low: 15 credits left." in await last_text(http, uid)
    assert (await post(http, f"/sandbox/api/chats/{uid}/credits", {"amount": 0}))[0] == 400
    assert (await post(http, "/sandbox/api/chats/999999/credits", {"amount": 1}))[0] == 404
    assert (await post(http, f"/sandbox/api/chats/{uid}/messages", {"text": "/account"}))[0] == 200
    account = await last_text(http, uid)
    assert "<b>Credits</b>: 15" in account and "Coaching call × 1" in account
