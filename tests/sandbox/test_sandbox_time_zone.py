"""One time zone per person, shown (issue 13, item 5): chat and email say the same time of
day, name the zone, and the person can change it from /language."""

from __future__ import annotations

import re

import aiohttp

from forever.sandbox.world import Sandbox
from tests.sandbox.test_sandbox_api import bot_messages, get, post, press

TIME = re.compile(r"ore (\d\d:\d\d) \(([A-Za-z_/]+)\)")


async def say(http: aiohttp.ClientSession, uid: int, text: str) -> None:
    status, result = await post(http, f"/sandbox/api/chats/{uid}/messages", {"text": text})
    assert status == 200, result


async def test_chat_and_email_show_the_same_time_in_the_persons_zone(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, lia = await post(http, "/sandbox/api/customers", {"name": "Lia", "language": "it"})
    assert status == 201
    uid = lia["id"]
    assert (await post(http, f"/sandbox/api/chats/{uid}/start", {}))[0] == 200
    await press(http, uid, "Inizia la prova gratuita")
    await say(http, uid, lia["email"])
    await press(http, uid, "No, grazie")
    await say(http, uid, "/cancel")
    await press(http, uid, "Sì, annulla")

    canceled = next(m for m in reversed(await bot_messages(http, uid)) if "Fatto" in m["html"])
    in_chat = TIME.search(canceled["html"])
    assert in_chat is not None, canceled["html"]
    [mail] = [
        m
        for m in await get(http, f"/sandbox/api/mail?customer={uid}")
        if "annullato" in m["subject"]
    ]
    text = (await get(http, f"/sandbox/api/mail/{mail['id']}"))["text"]
    in_email = TIME.search(text)
    assert in_email is not None, text
    # The same moment, the same zone (an Italian speaker who set none: Europe/Rome).
    assert in_chat.groups() == in_email.groups()
    assert in_chat.group(2) == "Europe/Rome"

    # /language names the zone and lets her pick another one from a short list.
    await say(http, uid, "/language")
    assert "Europe/Rome" in (await bot_messages(http, uid))[-1]["html"]
    await press(http, uid, "Fuso orario: Europe/Rome")
    offered = [b["text"] for row in (await bot_messages(http, uid))[-1]["buttons"] for b in row]
    assert "✓ Europe/Rome" in offered and "UTC" in offered
    await press(http, uid, "UTC")
    done = (await bot_messages(http, uid))[-1]["html"]
    assert "UTC" in done and TIME.search(done) is not None
    await say(http, uid, "/language")
    assert "UTC" in (await bot_messages(http, uid))[-1]["html"]
