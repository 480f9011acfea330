"""The Telegram side of the paid broadcast benchmark, in its own process: the fake Bot API
(30 messages/s for ordinary sends, 1000/s for paid ones, a Star balance), 10,000 customers and
the staff member who composes the broadcast.

Protocol: JSON lines. Out: {"url"}, then {"polled": monotonic} at the bot's first getUpdates,
then after "go" on stdin {"result": ...} once the staff member got the report, then after
"floor" on stdin {"floor": ...}. The process ends when stdin closes.
Times are time.monotonic(), one clock for every process of the machine (CLOCK_MONOTONIC).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramRetryAfter

from forever.sandbox.fake_bot_api import DEFAULT_TOKEN, FakeBotAPI, FakeEvent, FakeUser

FREE_LIMIT = 30
STAFF = 900001
FIRST_ID = 1_000_000
_SPENT = re.compile(r"Stars spent \(fast paid mode\): ([\d.]+) ⭐")


def emit(**data: Any) -> None:
    print(json.dumps(data), flush=True)


async def line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


def _buttons(user: FakeUser) -> list[str]:
    last = user.last_message
    return last.button_texts if last is not None else []


def _shows(user: FakeUser, button: str) -> bool:
    return button in _buttons(user)


async def until(predicate: Callable[[], bool], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not answer in time")
        await asyncio.sleep(0.02)


async def serve(recipients: int, stars: int) -> None:
    async with FakeBotAPI(
        DEFAULT_TOKEN, max_per_second=FREE_LIMIT, star_balance=stars, update_timeout=120.0
    ) as tg:
        staff = tg.add_user(STAFF, "Sam", started=True)
        ids = range(FIRST_ID, FIRST_ID + recipients)
        for telegram_id in ids:
            tg.add_user(telegram_id, f"P{telegram_id}", started=True)
        copies: list[float] = []
        reported = asyncio.Event()

        def on_event(event: FakeEvent) -> None:
            if event.kind != "message":
                return
            if event.chat_id != STAFF:
                copies.append(time.monotonic())
            elif event.message is not None and "Delivered:" in (event.message.text or ""):
                reported.set()

        tg.subscribe(on_event)
        emit(url=tg.base_url)
        await tg.wait_until_polled(within=120)
        emit(polled=time.monotonic())
        if await line() != "go":
            return
        # `bot.py run` handles updates as tasks: an update is confirmed before its answer
        # is sent, so each step waits for the button it needs next.
        await staff.send_text("/broadcast")
        await until(lambda: _shows(staff, "Cancel"))
        await staff.send_text("The spring timetable is out. See you on the mat!")
        await until(lambda: _shows(staff, "No button"))
        await staff.press("No button")
        await until(lambda: _shows(staff, "Everyone"))
        await staff.press("Everyone")
        await until(lambda: any(b.startswith("⚡") for b in _buttons(staff)))
        preview = staff.last_message.text or ""
        paid_button = next(b for b in _buttons(staff) if b.startswith("⚡"))
        await asyncio.sleep(1.5)  # staff read the preview; its replies leave the first second
        before = tg.star_balance
        started = time.monotonic()
        await staff.press(paid_button)
        await asyncio.wait_for(reported.wait(), 600)
        elapsed = time.monotonic() - started
        after = tg.star_balance
        per_chat = tg.stats.deliveries
        span = copies[-1] - copies[0] if len(copies) > 1 else 0.0
        found = _SPENT.search(staff.last_message.text or "")
        emit(
            result={
                "preview_states_cost": "⭐" in preview and "balance" in preview,
                "paid_button": paid_button,
                "copies": len(copies),
                "sustained": (len(copies) - 1) / span if span > 0 else 0.0,
                "confirm_to_report": elapsed,
                "too_many_requests": tg.stats.too_many_requests,
                "paid_messages": tg.stats.paid_messages,
                "duplicates": sum(1 for t in ids if per_chat[t] > 1),
                "lost": sum(1 for t in ids if per_chat[t] == 0),
                "stars_reported": found.group(1) if found else None,
                "stars_taken": (before[0] - after[0]) + (before[1] - after[1]) / 1e9,
            }
        )
        if await line() == "floor":
            emit(floor=await raw_paid_sends(tg, list(ids)))
        await asyncio.to_thread(sys.stdin.read)


async def raw_paid_sends(tg: FakeBotAPI, ids: list[int], concurrency: int = 48) -> dict[str, Any]:
    """The floor: a bare aiogram loop copying one message to everyone with
    allow_paid_broadcast, as many in flight as Forever uses, obeying 429s, no database."""
    source = next(m for m in tg.user(STAFF).history if not m.from_bot)
    bot = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=tg.api_server))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for telegram_id in ids:
        queue.put_nowait(telegram_id)

    async def worker() -> None:
        while not queue.empty():
            chat_id = queue.get_nowait()
            while True:
                try:
                    await bot.copy_message(
                        chat_id, STAFF, source.message_id, allow_paid_broadcast=True
                    )
                    break
                except TelegramRetryAfter as error:
                    await asyncio.sleep(error.retry_after)

    before = tg.stats.too_many_requests
    started = time.monotonic()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await bot.session.close()
    elapsed = time.monotonic() - started
    return {"rate": len(ids) / elapsed, "too_many_requests": tg.stats.too_many_requests - before}


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
