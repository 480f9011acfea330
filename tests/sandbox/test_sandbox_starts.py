"""`bot.py sandbox` in-process: everything starts, the page and health answer, it stops."""

from __future__ import annotations

import aiohttp

from forever.sandbox.world import Sandbox


async def test_the_page_and_health_answer(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    assert sandbox.url.startswith("http://127.0.0.1:")
    async with http.get("/") as response:
        assert response.status == 200
        assert "Forever sandbox" in await response.text()
    async with http.get("/healthz") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ok"


async def test_a_customer_talks_to_the_bot(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    async with http.post("/sandbox/api/customers", json={"name": "Ana", "language": "ro"}) as r:
        assert r.status == 201
        customer = await r.json()
    async with http.post(f"/sandbox/api/chats/{customer['id']}/start", json={}) as r:
        assert r.status == 200
    async with http.get(f"/sandbox/api/chats/{customer['id']}") as r:
        chat = await r.json()
    replies = [m for m in chat["messages"] if m["from_bot"]]
    assert "Bine ai venit" in replies[-1]["html"]
