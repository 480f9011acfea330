"""With REDIS_URL: aiogram's Redis FSM storage and event isolation, shared by the instances."""

from __future__ import annotations

from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from redis.asyncio import Redis

from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import REDIS_TEST_URL
from tests.e2e.scaleout.harness import Cluster


async def test_instances_share_fsm_state_and_lock_chats_through_redis(
    tg: FakeBotAPI, cluster: Cluster, redis_prefix: str
) -> None:
    first = await cluster.add(redis_url=REDIS_TEST_URL, redis_prefix=redis_prefix)
    second = await cluster.add(redis_url=REDIS_TEST_URL, redis_prefix=redis_prefix)
    for runtime in (first, second):
        assert isinstance(runtime.dispatcher.storage, RedisStorage)
        assert isinstance(runtime.dispatcher.fsm.events_isolation, RedisEventIsolation)
    bot_id = first.bot.id
    key = StorageKey(bot_id=bot_id, chat_id=4000, user_id=4000)
    await first.dispatcher.storage.set_state(key, "Signup:email")
    await first.dispatcher.storage.set_data(key, {"plan": "plus"})
    assert await second.dispatcher.storage.get_state(key) == "Signup:email"
    assert await second.dispatcher.storage.get_data(key) == {"plan": "plus"}

    # Every instance receives every message of one chat; Redis serialises them per chat.
    cluster.proxy.fan_out = True
    user = tg.add_user(4001, "Ana")
    for text in ("one", "two", "three"):
        await user.send_text(text, wait=False)
    await tg.settle()
    await cluster.drain()
    assert len(user.messages) == 3

    redis = Redis.from_url(REDIS_TEST_URL)
    try:
        keys = {k.decode() async for k in redis.scan_iter(f"{redis_prefix}:*")}
    finally:
        await redis.aclose()
    assert keys, "FSM keys live under REDIS_PREFIX"
    assert not [k for k in keys if k.endswith(":lock")], "chat locks are released"
