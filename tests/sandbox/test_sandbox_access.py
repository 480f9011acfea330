"""The sandbox with a catalog that opens chats (issue 17): the chats exist in its Telegram,
a customer joins with the button in the chat and is removed when the clock passes the end of
access."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from forever.config import load_settings
from forever.sandbox.fake_bot_api import FakeMessage, FakeUser
from forever.sandbox.fake_bot_api.groups import groups
from forever.sandbox.world import HOST, Sandbox
from tests.e2e.test_access import CLUB, catalog_with_chats


async def arrives(user: FakeUser, button: str) -> FakeMessage:
    """The bot's message with this button, once the outbox worker handed it over."""
    for _ in range(100):
        found = [m for m in user.messages if button in m.button_texts]
        if found:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message with the button {button!r}")


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Sandbox]:
    settings = load_settings(
        _env_file=None, catalog_path=str(catalog_with_chats(tmp_path)), log_level="WARNING"
    )
    sandbox = await Sandbox.start(settings, db_path=tmp_path / "s.db", port=0, scheduler=False)
    yield sandbox
    await sandbox.stop()
    sandbox.fake.assert_no_refused_calls()


async def test_a_customer_joins_the_club_channel_and_leaves_when_the_trial_ends(
    box: Sandbox,
) -> None:
    assert box.runtime is not None
    base = f"http://{HOST}:{box.runtime.web_port}"
    async with aiohttp.ClientSession(base) as http:
        async with http.post("/sandbox/api/customers", json={"name": "Ana", "language": "en"}) as r:
            ana = (await r.json())["id"]
        await box.start_bot(ana)
        user = box.customer(ana).user
        for _ in range(2):  # start the trial, skip the email
            last = user.last_message
            assert last is not None
            await box.press(ana, last.message_id, 0, 0)
        invite = await arrives(user, "Club channel")
        async with http.post(
            f"/sandbox/api/chats/{ana}/press",
            json={"message_id": invite.message_id, "row": 0, "column": 0},
        ) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["answer"] == "Ana joined Club channel"
        assert groups(box.fake.state)[CLUB].status(ana) == "member"

        await box.advance(timedelta(days=8))
        assert groups(box.fake.state)[CLUB].status(ana) == "left"
        assert "membership has ended" in (user.last_message.text or "")  # type: ignore[union-attr]
