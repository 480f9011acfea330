"""Fixtures for the fake Bot API's own tests: a running double, a real aiogram Bot talking to
it over HTTP, and a helper that runs a real Dispatcher in polling mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession

from forever.sandbox.fake_bot_api import FakeBotAPI


class QuickCloseSession(AiohttpSession):
    """aiogram sleeps 250 ms after closing its session to let TLS connections wind down;
    there is no TLS here, and the sleep would dominate the suite's run time."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class ManualClock:
    """A monotonic clock the test moves by hand (flood windows, query timeouts)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(update_timeout=5.0) as api:
        yield api


def make_bot(fake: FakeBotAPI, **kwargs: Any) -> Bot:
    return Bot(fake.token, session=QuickCloseSession(api=fake.api_server), **kwargs)


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(fake)
    yield bot
    await bot.session.close()


StartPolling = Callable[[Dispatcher], Awaitable[None]]


@pytest.fixture
async def start_polling(fake: FakeBotAPI, bot: Bot) -> AsyncIterator[StartPolling]:
    """Run a Dispatcher against the double like tests of the bot will: handle_as_tasks=False,
    so an update is confirmed (next getUpdates) only once its handler has finished."""
    running: list[tuple[Dispatcher, asyncio.Task[None]]] = []

    async def start(dp: Dispatcher) -> None:
        task = asyncio.create_task(
            dp.start_polling(
                bot,
                handle_as_tasks=False,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=30,
            )
        )
        running.append((dp, task))
        await fake.wait_until_polled()

    yield start
    for dp, task in running:
        await dp.stop_polling()
        await task
