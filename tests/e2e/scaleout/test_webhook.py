"""Webhook mode on one instance: the secret token, malformed bodies, store-before-200,
redeliveries, and the setWebhook call itself."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from forever.db.models import UpdateInbox
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.web.webhook import SECRET_HEADER
from tests.e2e.scaleout.harness import WEBHOOK_PATH, WEBHOOK_SECRET, Cluster, url_of


def message_update(update_id: int, user_id: int, text: str = "hello") -> dict[str, Any]:
    person = {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1795000000,
            "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
            "from": person,
            "text": text,
        },
    }


async def post(
    runtime: Runtime, body: bytes | str, secret: str | None = WEBHOOK_SECRET
) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with (
        aiohttp.ClientSession() as session,
        session.post(url_of(runtime) + WEBHOOK_PATH, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


async def inbox_rows(runtime: Runtime) -> list[UpdateInbox]:
    async with runtime.container.sessions() as session:
        return list(await session.scalars(select(UpdateInbox).order_by(UpdateInbox.update_id)))


async def test_set_webhook_with_secret_and_subscription_updates(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    await cluster.add()
    [call] = tg.calls_to("setWebhook")
    assert call.params["url"] == cluster.settings.webhook_url
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert "subscription" in call.params["allowed_updates"]
    assert "message" in call.params["allowed_updates"]
    assert not tg.calls_to("getUpdates"), "webhook mode does not poll"


async def test_a_user_is_answered_through_the_webhook(tg: FakeBotAPI, cluster: Cluster) -> None:
    await cluster.add()
    user = tg.add_user(2001, "Ana")
    await user.start()
    await cluster.drain()
    assert "Welcome" in user.last_message.text
    [row] = await inbox_rows(cluster.instances[0])
    assert row.processed_at is not None


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", WEBHOOK_SECRET + "x"])
async def test_wrong_or_missing_secret_is_401_and_not_processed(
    tg: FakeBotAPI, cluster: Cluster, secret: str | None
) -> None:
    runtime = await cluster.add()
    tg.add_user(2002, "Ana", started=True)
    status, _ = await post(runtime, json.dumps(message_update(7, 2002)), secret=secret)
    await cluster.drain()
    assert status == 401
    assert await inbox_rows(runtime) == []
    assert not tg.calls_to("sendMessage")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\xff\xfe garbage",
        b"[1, 2]",
        b'"text"',
        b"{}",
        b'{"update_id": "7"}',
        b'{"update_id": true}',
        b'{"update_id": -1}',
        b'{"update_id": 7, "message": "not a message"}',
        b'{"update_id": 7, "message": {"message_id": 1}}',
        b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than the recursion limit
        b'{"update_id": 7, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"update_id": 7, "x": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        # deep, yet shallow enough to parse: it would fail when stored (503) or processed
        b'{"update_id": 7, "x": ' + b"[" * 500 + b"]" * 500 + b"}",
        b'{"update_id": 7, "x": ' + b"[" * 940 + b"]" * 940 + b"}",
        b'{"update_id": 100000000000000000000000}',  # 1e23 overflows a BIGINT
        b'{"update_id": 9223372036854775808}',  # 2**63
        b'{"update_id": 1e23}',
    ],
)
async def test_malformed_body_is_400_never_500(
    tg: FakeBotAPI, cluster: Cluster, body: bytes
) -> None:
    runtime = await cluster.add()
    status, _ = await post(runtime, body)
    assert status == 400
    assert await inbox_rows(runtime) == []
    # The instance keeps serving afterwards.
    tg.add_user(2003, "Ana", started=True)
    status, _ = await post(runtime, json.dumps(message_update(8, 2003)))
    await cluster.drain()
    assert status == 200
    assert len(tg.user(2003).messages) == 1


async def test_update_is_stored_before_the_200_and_processed_after(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    runtime = await cluster.add()
    tg.add_user(2004, "Ana", started=True)
    gate = asyncio.Event()
    feed = runtime.dispatcher.feed_update

    async def held_feed(bot: Any, update: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await feed(bot, update, **kwargs)

    runtime.dispatcher.feed_update = held_feed  # type: ignore[method-assign]
    status, _ = await post(runtime, json.dumps(message_update(11, 2004)))
    assert status == 200
    [row] = await inbox_rows(runtime)
    assert row.update_id == 11
    assert row.processed_at is None
    assert row.claimed_by == runtime.instance
    assert tg.user(2004).messages == []
    gate.set()
    await cluster.drain()
    [row] = await inbox_rows(runtime)
    assert row.processed_at is not None
    assert len(tg.user(2004).messages) == 1


async def test_a_redelivered_update_is_processed_once(tg: FakeBotAPI, cluster: Cluster) -> None:
    runtime = await cluster.add()
    tg.add_user(2005, "Ana", started=True)
    body = json.dumps(message_update(21, 2005))
    statuses = [(await post(runtime, body))[0] for _ in range(3)]
    statuses += [s for s, _ in await asyncio.gather(*(post(runtime, body) for _ in range(5)))]
    await cluster.drain()
    assert statuses == [200] * 8, "Telegram must stop redelivering"
    assert len(tg.user(2005).messages) == 1
    assert len(await inbox_rows(runtime)) == 1


async def test_redelivery_through_the_fake_bot_api(tg: FakeBotAPI, cluster: Cluster) -> None:
    await cluster.add()
    user = tg.add_user(2006, "Ana")
    await user.send_text("hello")
    await cluster.drain()
    [first] = tg.calls_to("sendMessage")
    assert first.params["chat_id"] == 2006
    # Telegram sends the same update again (e.g. our 200 got lost on the way back).
    redelivered = message_update(tg.queue.last_update_id, 2006)
    await tg.send_update(redelivered)
    await cluster.drain()
    assert len(user.messages) == 1


async def test_the_database_being_away_is_503_so_telegram_retries(
    tg: FakeBotAPI, cluster: Cluster
) -> None:
    runtime = await cluster.add()

    async def failing_store(update_id: int, body: dict[str, Any]) -> bool:
        raise ConnectionError("database restarting")

    runtime.updates.store = failing_store  # type: ignore[method-assign]
    status, _ = await post(runtime, json.dumps(message_update(31, 2007)))
    assert status == 503


async def test_polling_stays_the_default(tg: FakeBotAPI, running_bot: Runtime) -> None:
    await tg.wait_until_polled()
    assert not tg.calls_to("setWebhook")
    assert tg.calls_to("deleteWebhook")
