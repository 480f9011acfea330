"""CPU per update inside the bot alone: 200 `/start` updates fed straight into the
dispatcher at once, the Bot API answering from a canned reply (no HTTP, no fake's work), for
the bare aiogram bot of `bench_send` and for Forever as `bot.py run` starts it (SQLite).
What is left is the dispatch, the middlewares, the handler, the rendering and the request's
form: the part of a burst's time that is the bot's own code.

    .venv/bin/python -m bench.profile_dispatch
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.filters import CommandStart
from aiogram.types import Message, Update

from bench._bot_settings import TOKEN, bench_settings
from forever.app import build_container
from forever.db.migrate import upgrade_to_head
from forever.domain.clock import ManualClock
from forever.runtime import Runtime, freeze_start_up_objects
from forever.sandbox.fake_bot_api import FakeBotAPI

BURST = 200
FIRST_ID = 20_000
_SENT = {"message_id": 1, "date": 1764000000, "chat": {"id": 1, "type": "private"}, "text": "x"}


def _start(update_id: int, user_id: int, bot: Bot) -> Update:
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1764000000,
                "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
                "from": {"id": user_id, "is_bot": False, "first_name": "Ana"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        },
        context={"bot": bot},
    )


def _canned(session: BaseSession) -> None:
    """The session builds its form and reads an answer as usual; nothing goes out."""
    assert isinstance(session, AiohttpSession)  # the bare bot's and Forever's LeanSession

    async def make_request(bot: Bot, method: Any, **_timeout: Any) -> Any:
        session.build_form_data(bot, method)
        result = _SENT if method.__api_method__ == "sendMessage" else True
        answer = json.dumps({"ok": True, "result": result})
        return session.check_response(bot, method, 200, answer).result

    session.make_request = make_request  # type: ignore[method-assign,assignment]


async def _burst(dispatcher: Dispatcher, bot: Bot, first_update: int, first_user: int) -> float:
    """CPU ms per update for one burst of BURST people writing at once."""
    updates = [_start(first_update + i, first_user + i, bot) for i in range(BURST)]
    gc.collect()
    cpu = time.process_time()
    await asyncio.gather(*(dispatcher.feed_update(bot, u) for u in updates))
    return (time.process_time() - cpu) * 1000 / BURST


async def _bare() -> list[float]:
    bot = Bot(TOKEN, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome! Tap a plan to begin.")

    _canned(bot.session)
    try:
        return [await _burst(dispatcher, bot, r * BURST, FIRST_ID) for r in range(3)]
    finally:
        await bot.session.close()


async def _forever() -> tuple[float, float, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeBotAPI(TOKEN) as telegram:  # start-up's own calls only
            assert telegram.base_url is not None
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            await asyncio.to_thread(upgrade_to_head, url)
            clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
            runtime = Runtime(
                build_container(bench_settings(url, telegram.base_url), clock=clock), TOKEN
            )
            await runtime.start(polling=False, scheduler=False)
            try:
                freeze_start_up_objects()
                _canned(runtime.bot.session)
                dispatcher, bot = runtime.dispatcher, runtime.bot
                first = await _burst(dispatcher, bot, 0, FIRST_ID)
                later = await _burst(dispatcher, bot, BURST, FIRST_ID + BURST)
                returning = [
                    await _burst(dispatcher, bot, (2 + r) * BURST, FIRST_ID) for r in range(3)
                ]
            finally:
                await runtime.stop()
    return first, later, returning


async def main() -> list[tuple[str, str]]:
    bare = await _bare()
    first, later, returning = await _forever()

    def ms(values: list[float]) -> str:
        return " / ".join(f"{v:.3f}" for v in values) + " ms"

    return [
        ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        (f"bare bot, {BURST} at once, three bursts", ms(bare)),
        ("Forever, first contact: the first burst after start-up", ms([first])),
        ("Forever, first contact: the next burst of newcomers", ms([later])),
        ("Forever, returning people, three bursts", ms(returning)),
        ("Forever ÷ bare (returning, best of three)", f"{min(returning) / min(bare):.2f}"),
    ]


if __name__ == "__main__":
    for figure, value in asyncio.run(main()):
        print(f"- {figure}: {value}")
