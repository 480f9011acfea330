"""Redis restarted during a broadcast sent by a real `bot.py run` (REDIS_URL set: the shared
send budget and the FSM storage live there): the broadcast goes on once Redis is back, and
every recipient gets it exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

import pytest
from redis.asyncio import Redis

from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.sandbox.fake_bot_api.state import FakeEvent
from tests.e2e.faults.process import BotProcess, free_port, poll_until, run_env
from tests.e2e.faults.test_broadcast_restart import TEXT, job_status, queue_broadcast
from tests.e2e.staff_helpers import wait_for
from tests.processes import START_WITHIN, reap, spawn

REDIS_SERVER = "/usr/bin/redis-server"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(REDIS_SERVER) is None, reason="needs redis-server"),
]


class PrivateRedis:
    """A redis-server of the test's own on a free port, keeping nothing on disk: a restart
    forgets everything, as a crashed cache would."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await spawn(
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)
        try:

            async def answers() -> bool:
                with contextlib.suppress(Exception):  # refused while it starts
                    return bool(await client.ping())
                return False

            await poll_until(answers, 30)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            await reap(process, grace=10)


async def test_a_broadcast_through_run_survives_a_redis_restart_exactly_once(
    tg: FakeBotAPI, database_url: str, tmp_path: Path
) -> None:
    redis = PrivateRedis()
    await redis.start()
    ids = list(range(600_000, 600_300))
    job_id = await queue_broadcast(database_url, tg, ids)
    copies = 0

    def on_event(event: FakeEvent) -> None:
        nonlocal copies
        if event.kind == "message" and event.message is not None and event.message.text == TEXT:
            copies += 1

    tg.subscribe(on_event)
    env = run_env(
        database_url,
        str(tg.base_url),
        REDIS_URL=redis.url,
        BROADCAST_RATE="40",
        BROADCAST_CONCURRENCY="8",
    )
    bot = BotProcess(env, tmp_path)
    try:
        await bot.start()
        await wait_for(lambda: copies >= 60, within=START_WITHIN)
        await redis.stop()  # mid-broadcast: every Redis call fails until it is back
        stopped_at = copies
        await redis.start()
        assert stopped_at < len(ids), "restarted mid-way"

        async def done() -> bool:
            return await job_status(database_url, job_id) == "done"

        await poll_until(done, START_WITHIN)
        assert await bot.stop() == 0
    finally:
        if bot.running:
            await bot.kill()
        await redis.stop()
    per_person = {t: sum(1 for m in tg.user(t).messages if m.text == TEXT) for t in ids}
    assert sorted(set(per_person.values())) == [1]  # nobody lost, nobody twice
    # The bot felt the restart (its Redis calls failed and were retried), without a traceback.
    assert any("Redis unreachable" in m for m in bot.messages("WARNING"))
    assert not [line for line in bot.lines if line.get("level") == "RAW"]
    print(  # noqa: T201 - the figure for docs/benchmarks.md
        f"\nRedis restarted after {stopped_at} of {len(ids)} copies; "
        f"{sum(per_person.values())} delivered, each once"
    )
