"""`bot.py sandbox` in-process: everything starts, the page and health answer, it stops."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from forever.config import load_settings
from forever.sandbox.world import HOST, STAFF_ID, Sandbox, sandbox_settings
from tests.conftest import ROOT


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


async def test_a_kept_database_brings_its_customers_back(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None, catalog_path=str(ROOT / "catalog.toml"), log_level="WARNING"
    )
    db = tmp_path / "kept.db"
    first = await Sandbox.start(settings, db_path=db, port=0, scheduler=False)
    try:
        ana = first.add_customer("Ana", "it")
        await first.start_bot(ana.id)
    finally:
        await first.stop()
    second = await Sandbox.start(settings, db_path=db, port=0, scheduler=False)
    try:
        restored = second.customer(ana.id)
        assert (restored.user.first_name, restored.user.language_code) == ("Ana", "it")
        newcomer = second.add_customer("Bob", "en")
        assert newcomer.id > ana.id
        await second.send_text(ana.id, "/start")
        reply = restored.user.last_message
        assert reply is not None and "Ana" in (reply.text or "")
    finally:
        await second.stop()
    second.fake.assert_no_refused_calls()


def test_everything_outward_points_inward() -> None:
    base = load_settings(
        _env_file=None,
        admin_ids="111,222",
        smtp_host="smtp.example.com",
        smtp_username="me",
        smtp_password="pw",
        redis_url="redis://example.com:6379/0",
        timezone="Europe/Rome",
    )
    settings = sandbox_settings(
        base,
        database_url="sqlite+aiosqlite:///x.db",
        api_url="http://127.0.0.1:5000",
        smtp_port=2525,
        port=8080,
    )
    assert settings.admin_ids == frozenset({STAFF_ID})
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_username) == (HOST, 2525, None)
    assert settings.smtp_security.value == "none"
    assert settings.redis_url is None
    assert str(settings.public_url).startswith("http://127.0.0.1:8080")
    assert settings.web_host == "127.0.0.1"
    assert settings.timezone == "Europe/Rome"  # the business's own settings stay
