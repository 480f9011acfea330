"""The sandbox page's JSON API: a whole customer journey through it, live events, the
inbox with working links, and clear 400s for bad input."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp

from forever.sandbox.world import Sandbox


async def post(http: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with http.post(path, json=body) as response:
        return response.status, await response.json()


async def get(http: aiohttp.ClientSession, path: str) -> Any:
    async with http.get(path) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def bot_messages(http: aiohttp.ClientSession, user_id: int) -> list[dict[str, Any]]:
    chat = await get(http, f"/sandbox/api/chats/{user_id}")
    return [m for m in chat["messages"] if m["from_bot"]]


async def press(http: aiohttp.ClientSession, user_id: int, label: str) -> dict[str, Any]:
    """Press the newest button with this label, as the page does (by position)."""
    for message in reversed(await bot_messages(http, user_id)):
        for r, row in enumerate(message["buttons"]):
            for c, button in enumerate(row):
                if button["text"] == label:
                    body = {"message_id": message["id"], "row": r, "column": c}
                    status, result = await post(http, f"/sandbox/api/chats/{user_id}/press", body)
                    assert status == 200, result
                    return result
    raise AssertionError(f"no button {label!r}")


async def test_trial_clock_and_inbox_through_the_api(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, ana = await post(http, "/sandbox/api/customers", {"name": "Ana", "language": "en"})
    assert status == 201
    uid = ana["id"]
    assert (await post(http, f"/sandbox/api/chats/{uid}/start", {}))[0] == 200
    await press(http, uid, "Start my free trial")
    assert (await post(http, f"/sandbox/api/chats/{uid}/messages", {"text": ana["email"]}))[
        0
    ] == 200
    await press(http, uid, "Yes, email me")

    # The double opt-in email is in Ana's inbox; its confirm link works.
    inbox = await get(http, f"/sandbox/api/mail?customer={uid}")
    assert [m["subject"] for m in inbox] == ["Please confirm you want news from Forever Yoga Club"]
    detail = await get(http, f"/sandbox/api/mail/{inbox[0]['id']}")
    assert not detail["marketing"] and detail["has_html"]
    assert any(h["name"] == "Subject" for h in detail["headers"])
    confirm = detail["links"][0]["url"]
    assert confirm.startswith(sandbox.url)
    async with http.get(confirm) as response:  # opening it shows the button only
        assert response.status == 200 and "Yes, confirm" in await response.text()
    async with http.post(confirm) as response:  # the button confirms
        assert response.status == 200
    # Now the welcome email (marketing) may go out.

    # A few days on, the trial reminder arrives; the trial tips are a marketing email with a
    # one-click unsubscribe that works.
    status, moved = await post(http, "/sandbox/api/clock", {"days": 5})
    assert status == 200 and moved["offset_seconds"] == 5 * 86400
    mails = await get(http, f"/sandbox/api/mail?customer={uid}")
    assert "Your Plus trial ends in 3 days" in [m["subject"] for m in mails]
    tips = next(m for m in mails if m["marketing"])
    status, result = await post(http, f"/sandbox/api/mail/{tips['id']}/unsubscribe", {})
    assert status == 200 and result["ok"], result

    async with http.get(f"/sandbox/api/mail/{tips['id']}/html") as response:
        assert response.status == 200
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert '<base target="_blank">' in await response.text()


async def test_paying_a_plan_through_its_invoice_link(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    _, bob = await post(http, "/sandbox/api/customers", {"name": "Bob", "language": "it"})
    uid = bob["id"]
    await post(http, f"/sandbox/api/chats/{uid}/messages", {"text": "/plans"})
    plans = (await bot_messages(http, uid))[-1]
    monthly = next(b for row in plans["buttons"] for b in row if "/ mese" in b["text"])
    await press(http, uid, monthly["text"])
    link = (await bot_messages(http, uid))[-1]["buttons"][0][0]
    assert link["kind"] == "invoice_link"
    invoice = await get(http, f"/sandbox/api/invoices/{link['url'].split('$')[1]}")
    assert invoice["currency"] == "XTR" and invoice["period_days"] == 30
    status, paid = await post(http, f"/sandbox/api/chats/{uid}/pay", {"link": link["url"]})
    assert status == 200 and paid == {"paid": True, "error": None}
    chat = await get(http, f"/sandbox/api/chats/{uid}")
    assert any(m.get("payment", {}).get("first") for m in chat["messages"])


async def test_events_stream_tells_the_page_what_changed(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get("/sandbox/api/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        _, cleo = await post(http, "/sandbox/api/customers", {"name": "Cleo", "language": "ro"})
        await post(http, f"/sandbox/api/chats/{cleo['id']}/start", {})
        seen: list[dict[str, Any]] = []
        while not any(e["type"] == "message" and e["message"]["from_bot"] for e in seen):
            line = await asyncio.wait_for(stream.content.readline(), 10)
            if line.startswith(b"data: "):
                seen.append(json.loads(line[6:]))
    kinds = [e["type"] for e in seen]
    assert kinds[0] == "customer"
    reply = next(e for e in seen if e["type"] == "message" and e["message"]["from_bot"])
    assert reply["chat_id"] == cleo["id"] and "Bine ai venit" in reply["message"]["html"]


BAD_INPUT = [
    ("/sandbox/api/customers", {"language": "en"}, 400, "name: a string is required"),
    ("/sandbox/api/customers", {"name": "  "}, 400, "name: must not be empty"),
    ("/sandbox/api/customers", {"name": "x" * 65}, 400, "name: at most 64"),
    ("/sandbox/api/customers", {"name": "Ana", "language": "fr"}, 400, "language: one of"),
    ("/sandbox/api/customers", [1, 2], 400, "must be a JSON object"),
    ("/sandbox/api/chats/4242/messages", {"text": ""}, 400, "text: must not be empty"),
    ("/sandbox/api/chats/abc/messages", {"text": "hi"}, 400, "user_id: must be a number"),
    ("/sandbox/api/chats/999/messages", {"text": "hi"}, 404, "no customer with id 999"),
    ("/sandbox/api/chats/4242/press", {"message_id": "1"}, 400, "message_id: a whole number"),
    ("/sandbox/api/chats/4242/press", {"message_id": 99, "row": 0, "column": 0}, 409, "no"),
    ("/sandbox/api/chats/4242/start", {"payload": "a b"}, 400, "payload: only"),
    ("/sandbox/api/chats/4242/pay", {"link": "https://example.com"}, 400, "link: not a"),
    ("/sandbox/api/clock", {}, 400, "give days, hours or until"),
    ("/sandbox/api/clock", {"days": 0}, 400, "days: must be between 1 and 120"),
    ("/sandbox/api/clock", {"days": True}, 400, "days: a whole number"),
    ("/sandbox/api/clock", {"until": "soon"}, 400, "until: use a date like"),
    ("/sandbox/api/clock", {"until": "2020-01-01"}, 400, "only moves forward"),
    ("/sandbox/api/mail/77/unsubscribe", {}, 404, "no such email"),
]


async def test_bad_input_gets_a_clear_message(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    # One sandbox for all cases: starting one per case would be most of the run time.
    for path, body, status, needle in BAD_INPUT:
        got, answer = await post(http, path, body)
        assert (got, needle in answer["error"]) == (status, True), (path, body, answer)


async def test_a_body_that_is_not_json_is_refused(http: aiohttp.ClientSession) -> None:
    async with http.post("/sandbox/api/customers", data="name=Ana") as response:
        assert response.status == 400
        assert re.search(r"send a JSON body", (await response.json())["error"])


async def test_russian_and_spanish_customers_can_be_added_and_are_greeted_in_theirs(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    state = await get(http, "/sandbox/api/state")
    assert state["languages"] == ["en", "ro", "it", "ru", "es", "de"]
    async with http.get("/") as response:
        page = await response.text()
    assert '<option value="ru">Русский</option>' in page
    assert '<option value="es">Español</option>' in page
    for name, language, greeting in (("Оля", "ru", "Добро пожаловать"), ("Lucía", "es", "¡Hola")):
        status, customer = await post(
            http, "/sandbox/api/customers", {"name": name, "language": language}
        )
        assert status == 201
        assert (await post(http, f"/sandbox/api/chats/{customer['id']}/start", {}))[0] == 200
        texts = [m["html"] for m in await bot_messages(http, customer["id"])]
        assert any(greeting in t for t in texts), texts
