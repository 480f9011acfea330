"""200 simulated customers doing sign-up → trial → monthly Stars payment → cancel with a
reason, all at once, through the fake Bot API over HTTP, on SQLite.

Figures: handler latency per update (measured around the dispatcher, the bot's own work),
and the wall time of the whole run. Updates are handled one batch at a time
(handle_as_tasks=False), as in the e2e tests, so the latency is the bot's, not queueing.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forever.app import build_container
from forever.config import load_settings
from forever.db.migrate import upgrade_to_head
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser

USERS = 200
TOKEN = "123456789:BENCH-token-for-the-fake-botapi-xyz"
ROOT = Path(__file__).resolve().parents[1]


async def journey(user: FakeUser) -> None:
    await user.start()
    await user.press("Start my free trial")
    await user.press("Skip")
    await user.send_text("/plans")
    await user.press("Plus · 300 ⭐ / month")
    paid = await user.press(user.last_message.button_texts[0])
    assert getattr(paid, "accepted", False), paid
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Too expensive")
    await user.press("No, thanks")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def main() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade_to_head, url)
        async with FakeBotAPI(TOKEN, update_timeout=120.0) as tg:
            settings = load_settings(
                _env_file=None,
                database_url=url,
                bot_token=TOKEN,
                secret_key="bench-secret-key-0123456789abcdef",
                catalog_path=str(ROOT / "catalog.toml"),
                telegram_api_url=tg.base_url,
                public_url="https://forever.test",
                web_port=0,
                smtp_security="none",
                log_level="WARNING",
            )
            clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
            runtime = Runtime(build_container(settings, clock=clock), TOKEN)
            durations: list[float] = []
            by_kind: dict[str, list[float]] = {}

            async def timer(
                handler: Callable[[Any, dict[str, Any]], Awaitable[Any]],
                event: Any,
                data: dict[str, Any],
            ) -> Any:
                started = time.perf_counter()
                try:
                    return await handler(event, data)
                finally:
                    spent = time.perf_counter() - started
                    durations.append(spent)
                    by_kind.setdefault(_kind(event), []).append(spent * 1000)

            runtime.dispatcher.update.outer_middleware(timer)
            await runtime.start(scheduler=False, handle_as_tasks=False)
            await tg.wait_until_polled()
            users = [tg.add_user(10_000 + i, f"User{i}") for i in range(USERS)]
            started = time.perf_counter()
            await asyncio.gather(*(journey(u) for u in users))
            wall = time.perf_counter() - started
            await runtime.stop()
            refused = len(tg.refused)
    ms = [d * 1000 for d in durations]
    slowest = sorted(by_kind.items(), key=lambda kv: -_percentile(kv[1], 0.99))[:3]
    return [
        ("users at once", str(USERS)),
        ("updates handled", str(len(ms))),
        ("handler latency p50", f"{statistics.median(ms):.1f} ms"),
        ("handler latency p99", f"{_percentile(ms, 0.99):.1f} ms"),
        ("handler latency max", f"{max(ms):.1f} ms"),
        ("wall time, all journeys", f"{wall:.1f} s"),
        ("calls the fake API refused", str(refused)),
        *(
            (f"p99 of {kind}", f"{_percentile(values, 0.99):.1f} ms ({len(values)} updates)")
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
