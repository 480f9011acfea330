"""Redis restarted mid-broadcast (a redis-server of the test's own): the shared send budget
waits and retries while it is away, the broadcast goes on and completes, nobody gets a copy
twice; the FSM storage answers again once Redis is back."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

from forever.app import Container
from forever.db.repositories.broadcasts import SqlBroadcasts
from forever.services.broadcast_sender import BroadcastWorker
from forever.telegram.ratelimit import build_rate_limiter
from forever.wiring.dispatcher import build_storage
from tests.e2e.staff_helpers import wait_for
from tests.integration.test_broadcast_sender import FAST, ScriptedTransport, seed
from tests.smtp_sink import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: ASYNC220 - a short start, waited below
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        try:
            for _ in range(200):
                try:
                    if await client.ping():
                        return
                except OSError:
                    pass
                except Exception:  # redis' ConnectionError while it starts
                    pass
                await asyncio.sleep(0.02)
            raise TimeoutError("redis-server did not start")
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    yield redis
    redis.stop()


async def test_a_broadcast_goes_on_through_a_redis_restart_without_duplicates(
    container: Container, own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    await own_redis.start()
    ids = list(range(1000, 1300))
    job = await seed(container, ids)
    limiter, close = build_rate_limiter(150.0, own_redis.url, prefix="restart-test")
    transport = ScriptedTransport()
    uow = container.uow
    worker = BroadcastWorker(
        uow,
        SqlBroadcasts(uow),
        container.people_repo,
        container.events,
        container.clock,
        transport,
        limiter,
        replace(FAST, concurrency=8),
        holder="restart-test",
    )
    storage = build_storage(container.settings.model_copy(update={"redis_url": own_redis.url}))
    assert isinstance(storage, RedisStorage)
    key = StorageKey(bot_id=1, chat_id=5, user_id=5)
    try:
        await storage.set_state(key, "compose:text")
        running = asyncio.create_task(worker.run(job))
        await wait_for(lambda: sum(transport.delivered.values()) >= 60)
        own_redis.stop()  # Redis restarts: away for a moment, its memory gone
        at_stop = sum(transport.delivered.values())
        await asyncio.sleep(0.5)
        assert sum(transport.delivered.values()) - at_stop <= 8  # only sends in flight
        await own_redis.start()
        report = await asyncio.wait_for(running, 60)
        # The FSM storage reconnects by itself (the state was in the old Redis's memory).
        await storage.set_state(key, "compose:button")
        assert await storage.get_state(key) == "compose:button"
    finally:
        await storage.close()
        await close()
    assert report is not None and report.status == "done"
    assert report.delivered == len(ids)
    assert set(transport.delivered) == set(ids)
    assert max(transport.delivered.values()) == 1  # nobody twice
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
