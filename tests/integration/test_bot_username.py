"""Telegram unreachable when the delivery worker starts: asking for the bot's username (the
links in emails open the bot by it) is retried with a doubling delay, one warning line per try
and no traceback, until Telegram answers."""

from __future__ import annotations

import logging
import socket

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from forever.app import Container
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.telegram.bot_port import BotChatPort
from forever.wiring.email import keep_learning_bot_username
from tests.conftest import TEST_TOKEN


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens there once closed


async def test_an_unreachable_telegram_is_asked_again_with_backoff_one_line_a_try(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeBotAPI(TEST_TOKEN) as tg:
        await asks_until_telegram_answers(tg, container, caplog)


async def asks_until_telegram_answers(
    tg: FakeBotAPI, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    down = TelegramAPIServer.from_base(f"http://127.0.0.1:{closed_port()}")
    bot = Bot(TEST_TOKEN, session=AiohttpSession(api=down))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # Telegram comes back after the third try
        waits.append(seconds)
        if len(waits) == 3:
            bot.session.api = TelegramAPIServer.from_base(str(tg.base_url))

    caplog.set_level(logging.INFO)
    try:
        await keep_learning_bot_username(
            container, BotChatPort(bot), first_delay=2, max_delay=5, sleep=sleep
        )
    finally:
        await bot.session.close()
    assert container.bot_username == "forever_test_bot"
    assert waits == [2, 4, 5]  # doubling, capped
    tries = [r for r in caplog.records if "bot's username" in r.getMessage()]
    assert [r.levelname for r in tries] == ["WARNING"] * 3
    assert [r.getMessage().rsplit("; ", 1)[1] for r in tries] == [
        "next try in 2 s",
        "next try in 4 s",
        "next try in 5 s",
    ]
    assert all("TelegramNetworkError" in r.getMessage() for r in tries)
    assert not [r for r in caplog.records if r.exc_info]  # no traceback
    assert TEST_TOKEN not in caplog.text
