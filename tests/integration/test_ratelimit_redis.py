"""The Redis token bucket: two instances (as two processes would) share one budget."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from forever.telegram.ratelimit import RedisTokenBucket, build_rate_limiter
from tests.conftest import REDIS_TEST_URL
from tests.fake_time import FakeTime, max_in_window


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    client = Redis.from_url(REDIS_TEST_URL)
    prefix = f"forever-test:{uuid.uuid4().hex}"
    yield client, prefix
    keys = [k async for k in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_two_instances_share_one_budget(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    time = FakeTime()
    a = RedisTokenBucket(client, 20, 2, prefix=prefix, clock=time, sleep=time.sleep)
    b = RedisTokenBucket(client, 20, 2, prefix=prefix, clock=time, sleep=time.sleep)
    stamps: list[float] = []

    async def worker(bucket: RedisTokenBucket) -> None:
        for _ in range(30):
            permit = await bucket.acquire()
            stamps.append(time())
            await permit.done()

    await asyncio.gather(worker(a), worker(b))
    stamps.sort()
    assert len(stamps) == 60
    assert max_in_window(stamps) <= 22  # rate + burst, over both instances
    assert stamps[-1] - stamps[0] >= (60 - 2) / 20 - 0.01


async def test_a_429_seen_by_one_instance_pauses_the_other(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    time = FakeTime()
    a = RedisTokenBucket(client, 20, 2, prefix=prefix, clock=time, sleep=time.sleep)
    b = RedisTokenBucket(client, 20, 2, prefix=prefix, clock=time, sleep=time.sleep)
    await a.acquire()
    await a.pause(5)
    before = time()
    await b.acquire()
    assert time() - before >= 5


async def test_every_instance_sees_how_long_a_429_pause_lasts(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    time = FakeTime()
    a = RedisTokenBucket(client, 20, 2, prefix=prefix, clock=time, sleep=time.sleep)
    b = RedisTokenBucket(client, 20, 2, prefix=prefix, clock=time, sleep=time.sleep)
    assert await b.paused_for() == 0
    await a.throttled(4)
    assert await b.paused_for() == pytest.approx(4)
    await time.sleep(4)
    assert await b.paused_for() == 0


async def test_settings_choose_redis_when_redis_url_is_set() -> None:
    limiter, close = build_rate_limiter(28, REDIS_TEST_URL, prefix=f"t:{uuid.uuid4().hex}")
    try:
        assert isinstance(limiter, RedisTokenBucket)
        await limiter.acquire()
    finally:
        await close()


async def test_the_window_cap_is_shared_too(redis: tuple[Redis, str]) -> None:
    client, prefix = redis
    time = FakeTime()
    a = RedisTokenBucket(client, 100, 10, window_cap=5, prefix=prefix, clock=time, sleep=time.sleep)
    b = RedisTokenBucket(client, 100, 10, window_cap=5, prefix=prefix, clock=time, sleep=time.sleep)
    permits = [await a.acquire() for _ in range(5)]
    waiter = asyncio.create_task(b.acquire())
    await time.sleep(0.5)
    assert not waiter.done()
    done_at = time()
    for permit in permits:
        await permit.done()
    permit = await waiter
    assert time() - done_at >= 1.0
    await permit.done()


async def test_answers_skip_the_budget_and_count_in_the_shared_window(
    redis: tuple[Redis, str],
) -> None:
    client, prefix = redis
    time = FakeTime()
    a = RedisTokenBucket(client, 28, 2, window_cap=30, prefix=prefix, clock=time, sleep=time.sleep)
    b = RedisTokenBucket(client, 28, 2, window_cap=30, prefix=prefix, clock=time, sleep=time.sleep)
    for permit in [await a.answer() for _ in range(25)]:
        await permit.done()
    assert time.sleeps == []
    stamps = []
    for _ in range(10):
        permit = await b.acquire()
        stamps.append(time())
        await permit.done()
    assert max_in_window([1000.0] * 25 + stamps) <= 30
    assert sum(1 for s in stamps if s < 1001.0) == 5


async def test_a_429_on_one_instance_pauses_the_others_answers_and_halves_bulk(
    redis: tuple[Redis, str],
) -> None:
    client, prefix = redis
    time = FakeTime()
    a = RedisTokenBucket(client, 20, 2, window_cap=22, prefix=prefix, clock=time, sleep=time.sleep)
    b = RedisTokenBucket(client, 20, 2, window_cap=22, prefix=prefix, clock=time, sleep=time.sleep)
    await a.throttled(4)
    await b.throttled(4)  # the same flood seen twice: one halving
    before = time()
    await (await b.answer()).done()
    assert time() - before == pytest.approx(4)
    assert await b.current_share() == pytest.approx(0.5)
    stamps = []
    for _ in range(20):
        permit = await a.acquire()
        stamps.append(time())
        await permit.done()
    steady = stamps[2:]
    assert 10 <= (len(steady) - 1) / (steady[-1] - steady[0]) < 12
    time.now += 60
    assert await a.current_share() == 1.0
