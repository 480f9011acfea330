"""200 simulated customers doing sign-up → trial → monthly Stars payment → cancel with a
reason, all at once, through the fake Bot API over HTTP, on SQLite.

The fake Bot API and the customers run in their own process (`chat_users_process`), as
Telegram does; the bot runs here, polling it. Updates are handled one at a time
(handle_as_tasks=False), as in the e2e tests, so the latency is the bot's, not queueing.

Figures: handler latency per update (measured around the dispatcher), split into the time
the handler waited for Telegram's per-bot message budget (`BROADCAST_RATE`; replies skip it
and wait only after a 429, telegram/sending.py) and the rest, the bot's own work (database,
rendering, Bot API calls).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._bot_settings import TOKEN, bench_settings
from forever.app import build_container
from forever.db.migrate import upgrade_to_head
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.services.ratelimit import Permit, SendBudget
from forever.telegram.ratelimit import build_rate_limiter

USERS = 200
ROOT = Path(__file__).resolve().parents[1]

# Seconds the current update's handler spent waiting for budget permits.
_budget_wait: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "bench_budget_wait", default=None
)


class TimedLimiter:
    """The bot's real limiter, with the time spent waiting for a permit booked to the update
    (replies take `answer` permits since adaptive sending: they wait only after a 429)."""

    def __init__(self, inner: SendBudget) -> None:
        self.inner = inner

    async def acquire(self) -> Permit:
        return await self._timed(self.inner.acquire())

    async def answer(self) -> Permit:
        return await self._timed(self.inner.answer())

    async def _timed(self, taking: Awaitable[Permit]) -> Permit:
        started = time.perf_counter()
        permit = await taking
        waits = _budget_wait.get()
        if waits is not None:
            waits.append(time.perf_counter() - started)
        return permit

    async def pause(self, seconds: float) -> None:
        await self.inner.pause(seconds)

    async def throttled(self, seconds: float) -> None:
        await self.inner.throttled(seconds)

    async def paused_for(self) -> float:
        return await self.inner.paused_for()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def _telegram_process(users: int) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.chat_users_process",
        TOKEN,
        str(users),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    base_url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    if not base_url.startswith("http"):
        raise RuntimeError(f"the fake Bot API process did not start: {base_url!r}")
    return proc, base_url


async def main() -> list[tuple[str, str]]:
    totals: list[float] = []
    own: list[float] = []
    waited: list[float] = []
    by_kind: dict[str, list[float]] = {}

    async def timer(
        handler: Callable[[Any, dict[str, Any]], Awaitable[Any]],
        event: Any,
        data: dict[str, Any],
    ) -> Any:
        waits: list[float] = []
        token = _budget_wait.set(waits)
        started = time.perf_counter()
        try:
            return await handler(event, data)
        finally:
            spent = (time.perf_counter() - started) * 1000
            wait = sum(waits) * 1000
            _budget_wait.reset(token)
            totals.append(spent)
            waited.append(wait)
            own.append(spent - wait)
            by_kind.setdefault(_kind(event), []).append(spent - wait)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade_to_head, url)
        proc, base_url = await _telegram_process(USERS)
        try:
            settings = bench_settings(
                url,
                base_url,
            )
            clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
            container = build_container(settings, clock=clock)
            limiter, close_limiter = build_rate_limiter(settings.broadcast_rate, None)
            container.broadcasting.limiter = TimedLimiter(limiter)
            runtime = Runtime(container, TOKEN)
            runtime.dispatcher.update.outer_middleware(timer)
            await runtime.start(scheduler=False, handle_as_tasks=False)
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            await runtime.stop()
            await close_limiter()
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            await proc.wait()
    if not line:
        raise RuntimeError("the customers' process ended without results")
    result = json.loads(line)
    posted = sum(n for method, n in result["calls"].items() if method.startswith("send"))
    slowest = sorted(by_kind.items(), key=lambda kv: -_percentile(kv[1], 0.99))[:3]
    return [
        ("users at once", str(USERS)),
        ("updates handled", str(len(totals))),
        ("handler latency, own work, p50", f"{statistics.median(own):.1f} ms"),
        ("handler latency, own work, p99", f"{_percentile(own, 0.99):.1f} ms"),
        ("handler latency, own work, max", f"{max(own):.1f} ms"),
        ("waiting for the message budget, p50", f"{statistics.median(waited):.1f} ms"),
        ("waiting for the message budget, p99", f"{_percentile(waited, 0.99):.1f} ms"),
        ("handler latency incl. budget wait, p50", f"{statistics.median(totals):.1f} ms"),
        ("handler latency incl. budget wait, p99", f"{_percentile(totals, 0.99):.1f} ms"),
        ("wall time, all journeys", f"{result['wall']:.1f} s"),
        ("messages posted (send*)", f"{posted} ({posted / result['wall']:.1f}/s)"),
        ("calls the fake API refused", str(result["refused"])),
        *(
            (f"p99 own work of {kind}", f"{_percentile(values, 0.99):.1f} ms ({len(values)})")
            for kind, values in slowest
        ),
    ]


def _kind(update: Any) -> str:
    if update.message is not None:
        if update.message.successful_payment is not None:
            return "successful_payment"
        return f"message {(update.message.text or '').split(' ')[0][:16]}"
    if update.callback_query is not None:
        return f"callback {(update.callback_query.data or '').split(':')[0]}"
    return update.event_type
