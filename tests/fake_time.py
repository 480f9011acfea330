"""A clock and sleep that move only when something sleeps: rate tests run in no real time."""

from __future__ import annotations

import asyncio


class FakeTime:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    """The most events in any window of `window` seconds (Telegram's sliding count)."""
    best, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


class HeldTime:
    """A clock that moves only when the test advances it; sleepers wait until then. For a
    budget that is "busy" for as long as the test wants, and a pause that ends on cue."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._moved = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        until = self.now + max(seconds, 0.0)
        await asyncio.sleep(0)
        while self.now < until:
            await self._moved.wait()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()
