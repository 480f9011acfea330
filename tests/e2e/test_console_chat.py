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
        assert (await session.scalars(select(AuditEntry))).all() == []
