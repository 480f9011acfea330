"""The double refuses what Telegram would refuse, in Telegram's own words, so a call the real
Bot API would reject fails in our tests first."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice

from forever.sandbox.fake_bot_api import FakeBotAPI

from .conftest import ManualClock, make_bot


async def _post(fake: FakeBotAPI, method: str, **params: object) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/bot{fake.token}/{method}", json=params) as response,
    ):
        return response.status, await response.json()


async def test_unknown_method_is_404(fake: FakeBotAPI) -> None:
    status, body = await _post(fake, "sendTelepathy", chat_id=1)
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_wrong_token_is_401(fake: FakeBotAPI) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}/bot1:wrong/getMe") as response,
    ):
        assert response.status == 401


async def test_missing_required_parameter_is_refused(fake: FakeBotAPI) -> None:
    status, body = await _post(fake, "sendMessage", text="hello")
    assert status == 400
    assert "chat_id" in body["description"]
    assert fake.refused[-1].method == "sendMessage"


async def test_parameter_of_the_wrong_type_is_refused(fake: FakeBotAPI) -> None:
    fake.add_user(7, "Ann", started=True)
    status, body = await _post(fake, "sendMessage", chat_id=7, text="hi", disable_notification=3)
    assert status == 400
    assert "disable_notification" in body["description"]


@pytest.mark.parametrize(
    "html",
    [
        "<b>unclosed",
        "<div>not a Telegram tag</div>",
        "<b>bad <i>nesting</b></i>",
        "5 < 6 unescaped",
    ],
)
async def test_html_telegram_cannot_parse_is_refused(fake: FakeBotAPI, bot: Bot, html: str) -> None:
    fake.add_user(7, "Ann", started=True)
    with pytest.raises(TelegramBadRequest, match="parse"):
        await bot.send_message(7, html, parse_mode="HTML")


async def test_valid_html_is_stored_as_text_and_entities(fake: FakeBotAPI, bot: Bot) -> None:
    ann = fake.add_user(7, "Ann", started=True)
    await bot.send_message(
        7, "<b>Bold</b> &amp; <a href='https://x.test/'>link</a>", parse_mode="HTML"
    )
    message = ann.last_message
    assert message is not None
    assert message.text == "Bold & link"
    kinds = [e["type"] for e in message.entities]
    assert kinds == ["bold", "text_link"]


async def test_text_limit_counts_characters_after_parsing(fake: FakeBotAPI, bot: Bot) -> None:
    fake.add_user(7, "Ann", started=True)
    await bot.send_message(7, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")  # 4096 visible
    with pytest.raises(TelegramBadRequest, match="too long"):
        await bot.send_message(7, "a" * 4097)
    with pytest.raises(TelegramBadRequest, match="empty"):
        await bot.send_message(7, "<b></b>", parse_mode="HTML")


async def test_callback_data_over_64_bytes_is_refused(fake: FakeBotAPI, bot: Bot) -> None:
    fake.add_user(7, "Ann", started=True)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="é" * 33)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(7, "pick", reply_markup=markup)


async def test_blocked_and_never_started_users_are_403(fake: FakeBotAPI, bot: Bot) -> None:
    fake.add_user(7, "Ann", started=False)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(7, "you never opened the bot")
    fake.add_user(8, "Ben", started=True)
    await bot.send_message(8, "hello")
    fake.block(8)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(8, "still there?")


async def test_global_flood_limit_answers_429_with_retry_after(clock: ManualClock) -> None:
    async with FakeBotAPI(max_per_second=30, clock=clock) as fake:
        for user_id in range(1, 32):
            fake.add_user(user_id, f"U{user_id}", started=True)
        bot = make_bot(fake)
        try:
            for user_id in range(1, 31):
                await bot.send_message(user_id, "hi")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(31, "one too many")
            assert caught.value.retry_after >= 1
            clock.advance(1.01)
            await bot.send_message(31, "after waiting")
        finally:
            await bot.session.close()
        assert fake.user(31).last_message.text == "after waiting"
        assert len(fake.calls_to("sendMessage")) == 31 + 1


async def test_injected_faults_hit_the_next_calls_only(fake: FakeBotAPI, bot: Bot) -> None:
    fake.add_user(7, "Ann", started=True)
    fake.inject_5xx(1)
    fake.inject_429(1, retry_after=3)
    with pytest.raises(TelegramServerError):
        await bot.send_message(7, "first")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(7, "second")
    assert caught.value.retry_after == 3
    await bot.send_message(7, "third")
    assert [m.text for m in fake.user(7).messages] == ["third"]


async def test_stars_invoice_rules(fake: FakeBotAPI, bot: Bot) -> None:
    fake.add_user(7, "Ann", started=True)
    # Other currencies need a payment provider; digital goods are sold in Stars only.
    with pytest.raises(TelegramBadRequest, match="PAYMENT_PROVIDER_INVALID"):
        await bot.send_invoice(
            7, "Plus", "a month", "p1", currency="EUR", prices=[LabeledPrice(label="x", amount=5)]
        )
    with pytest.raises(TelegramBadRequest):
        await bot.create_invoice_link(
            "Plus", "monthly", "p" * 129, currency="XTR", prices=[LabeledPrice(label="x", amount=5)]
        )
    link = await bot.create_invoice_link(
        "Plus",
        "monthly",
        "p1",
        currency="XTR",
        prices=[LabeledPrice(label="Plus", amount=300)],
        subscription_period=2592000,
    )
    assert link.startswith("https://t.me/$")
