"""Replies at the speed of a bare bot: Forever against a bare aiogram bot (one handler, one
reply) on the same fake Bot API, in the same run and process layout as bench_chat (the fake
and the customers in `send_users_process`, the bot here, polling it).

Figures, each time from a customer's `/start` to the bot's reply, as the customer sees it:
(a) 200 customers at once (first contact, then again as returning customers): p99 against
    the bare bot's, goal ≤ 1.5×;
(b) one at a time: p50, goal ≤ the bare bot's p50 + 5 ms;
(c) the fake enforcing Telegram's 30 messages per second for everything: 200 first contacts at
    once, goal 0 replies lost and 0 retries before a 429's `retry_after`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.filters import CommandStart
from aiogram.types import Message

from bench._bot_settings import TOKEN, bench_settings
from forever.app import build_container
from forever.db.migrate import upgrade_to_head
from forever.domain.clock import ManualClock
from forever.runtime import Runtime, freeze_start_up_objects

USERS = 200
# Bare and Forever take turns this many times and their samples are pooled, so a load spike
# on a shared machine does not land on one of them only.
ROUNDS = 2
ROOT = Path(__file__).resolve().parents[1]

Stop = Callable[[], Awaitable[None]]


class _Counts(logging.Handler):
    """Counts what the bot logs: warnings, and records carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.warnings = 0
        self.tracebacks = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.warnings += 1
        if record.exc_info:
            self.tracebacks += 1


async def _customers(*extra: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.send_users_process",
        TOKEN,
        str(USERS),
        *extra,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    base_url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    if not base_url.startswith("http"):
        raise RuntimeError(f"the customers' process did not start: {base_url!r}")
    return proc, base_url


async def _start_bare(base_url: str, _tmp: str) -> Stop:
    """The floor: aiogram's polling with one handler sending one reply."""
    bot = Bot(
        TOKEN,
        session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome! Tap a plan to begin.")

    # This process also holds Forever's modules, which a bare bot's would not: their objects
    # are kept out of the collector's sight here too, as Forever's are (`bot.py run` does).
    freeze_start_up_objects()
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot, handle_signals=False, close_bot_session=False, polling_timeout=25
        )
    )

    async def stop() -> None:
        await dispatcher.stop_polling()
        await polling
        await bot.session.close()

    return stop


async def _start_forever(base_url: str, tmp: str) -> Stop:
    """Forever as `bot.py run` runs it (polling, updates handled as tasks), on SQLite."""
    url = f"sqlite+aiosqlite:///{tmp}/bench.db"
    await asyncio.to_thread(upgrade_to_head, url)
    settings = bench_settings(
        url,
        base_url,
    )
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    runtime = Runtime(build_container(settings, clock=clock), TOKEN)
    await runtime.start(scheduler=False)
    freeze_start_up_objects()  # as `bot.py run` does once serving
    return runtime.stop


async def _run(start: Callable[[str, str], Awaitable[Stop]], *extra: str) -> dict[str, Any]:
    counts = _Counts()
    logging.getLogger().addHandler(counts)
    with tempfile.TemporaryDirectory() as tmp:
        proc, base_url = await _customers(*extra)
        try:
            stop = await start(base_url, tmp)
            assert proc.stdout is not None
            line = await proc.stdout.readline()
            await stop()
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            await proc.wait()
            logging.getLogger().removeHandler(counts)
    if not line:
        raise RuntimeError("the customers' process ended without results")
    result: dict[str, Any] = json.loads(line)
    result["warnings"], result["tracebacks"] = counts.warnings, counts.tracebacks
    return result


def _p(values: list[float | None], share: float) -> float:
    got = sorted(v for v in values if v is not None)
    return got[min(len(got) - 1, max(0, round(share * (len(got) - 1))))]


def _lost(values: list[float | None]) -> int:
    return sum(1 for v in values if v is None)


async def main() -> list[tuple[str, str]]:
    # Telegram's 429s are expected in (c): one warning line each, and no traceback.
    logging.getLogger("forever.telegram.sending").propagate = True
    bare: dict[str, Any] = {}
    forever: dict[str, Any] = {}
    for _ in range(ROUNDS):
        _pool(bare, await _run(_start_bare))
        _pool(forever, await _run(_start_forever))
    limited = await _run(_start_forever, "--telegram-limit")
    rows: list[tuple[str, str]] = [
        ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("customers", f"{USERS} (bare and Forever: {ROUNDS} rounds each, taking turns, pooled)"),
    ]
    for label, key in (("first contact", "first_contact_burst"), ("returning", "returning_burst")):
        b99, f99 = _p(bare[key], 0.99), _p(forever[key], 0.99)
        rows += [
            (f"(a) {USERS} at once, {label}: bare bot p50 / p99", _ms(bare[key])),
            (f"(a) {USERS} at once, {label}: Forever p50 / p99", _ms(forever[key])),
            (f"(a) {label}: Forever p99 ÷ bare p99 (goal ≤ 1.5)", f"{f99 / b99:.2f}"),
        ]
    b50, f50 = _p(bare["one_at_a_time"], 0.5), _p(forever["one_at_a_time"], 0.5)
    rows += [
        ("(b) one at a time: bare bot p50 / p99", _ms(bare["one_at_a_time"])),
        ("(b) one at a time: Forever p50 / p99", _ms(forever["one_at_a_time"])),
        ("(b) Forever p50 − bare p50 (goal ≤ 5 ms)", f"{f50 - b50:+.1f} ms"),
        ("(a, b) replies lost, bare / Forever", f"{_count_lost(bare)} / {_count_lost(forever)}"),
        (
            "(a) the fake Bot API's own CPU per burst (first contact / returning), bare; Forever",
            f"{_fake_cpu(bare)}; {_fake_cpu(forever)}",
        ),
    ]
    first = limited["first_contact_burst"]
    rows += [
        (f"(c) 30 msg/s enforced, {USERS} at once: p50 / p99", _ms(first)),
        ("(c) replies lost (goal 0)", str(_lost(first))),
        ("(c) 429s answered by the fake", str(limited["too_many_requests"])),
        ("(c) retries before retry_after (goal 0)", str(limited["early_retries"])),
        ("(c) warnings logged / tracebacks", f"{limited['warnings']} / {limited['tracebacks']}"),
        (
            "other refusals (all runs)",
            str(sum(r["refused_other"] for r in (bare, forever, limited))),
        ),
    ]
    return rows


def _fake_cpu(pooled: dict[str, Any]) -> str:
    first, returning = pooled["fake_cpu_first_ms"], pooled["fake_cpu_returning_ms"]
    return f"{first / ROUNDS:.0f} / {returning / ROUNDS:.0f} ms"


def _pool(into: dict[str, Any], result: dict[str, Any]) -> None:
    for key, value in result.items():
        into[key] = into.get(key, [] if isinstance(value, list) else 0) + value


def _count_lost(result: dict[str, Any]) -> int:
    return sum(
        _lost(result[k]) for k in ("first_contact_burst", "returning_burst", "one_at_a_time")
    )


def _ms(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "none answered"
    return f"{statistics.median(got):.1f} / {_p(values, 0.99):.1f} ms"
