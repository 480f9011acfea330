"""/console in the chat: staff get a one-time sign-in link that works on the bot's own web
server; customers get the ordinary fallback."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import select

from forever.db.models import AuditEntry
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.web.console import COOKIE
from tests.conftest import STAFF_ID


def link_in(text: str) -> str:
    found = re.search(r"https://forever\.test(/console/login/[A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1)


async def test_staff_sign_in_with_the_link_the_bot_sends(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    staff = tg.user(STAFF_ID)
    await staff.send_text("/console")
    path = link_in(staff.last_message.text)
    assert "10 minutes" in staff.last_message.text
    base = f"http://127.0.0.1:{running_bot.web_port}"
    async with aiohttp.ClientSession() as http:
        async with http.post(base + path, allow_redirects=False) as response:
            assert response.status == 303
            session = response.cookies[COOKIE].value
        async with http.get(base + "/console", headers={"Cookie": f"{COOKIE}={session}"}) as page:
            assert page.status == 200
            assert "Dashboard" in await page.text()
        async with http.post(base + path, allow_redirects=False) as again:
            assert again.status == 400


async def test_customers_get_the_fallback_for_console(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = tg.add_user(3001, "Eve")
    await user.send_text("hello?")
    ordinary = user.last_message.text
    await user.send_text("/console")
    assert user.last_message.text == ordinary
    async with running_bot.container.sessions() as session:
        # Staff commands leave no trace; "hello?" went to the console's inbox.
        staff_actions = select(AuditEntry).where(AuditEntry.action != "customer_unknown")
        assert (await session.scalars(staff_actions)).all() == []


async def test_texts_the_bot_did_not_understand_reach_the_inbox(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(3002, "Ana")
    await user.send_text("/start")
    await user.send_text("Can I pay by card?")
    await user.send_text("/nosuchcommand")
    async with running_bot.container.sessions() as session:
        kept = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "customer_unknown"))
        ).all()
    assert [(e.actor_telegram_id, e.arguments["text"]) for e in kept] == [
        (3002, "Can I pay by card?")
    ]
