"""Tests play users through the double: text, buttons, payments, and webhook delivery, all
against a real aiogram Dispatcher over HTTP."""

from __future__ import annotations

import asyncio

from aiogram import Bot, Dispatcher, F
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)
from aiohttp import web

from forever.sandbox.fake_bot_api import FakeBotAPI

from .conftest import StartPolling


def echo_dispatcher(paid: list[Message]) -> Dispatcher:
    dp = Dispatcher()

    @dp.message(F.text == "/menu")
    async def menu(message: Message) -> None:
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="yes")]]
        )
        await message.answer("Sure?", reply_markup=keyboard)

    @dp.message(F.text == "/buy")
    async def buy(message: Message) -> None:
        await message.answer_invoice(
            "Plus",
            "one year",
            "payload-1",
            currency="XTR",
            prices=[LabeledPrice(label="Plus", amount=3000)],
        )

    @dp.message(F.successful_payment)
    async def got_paid(message: Message) -> None:
        paid.append(message)
        await message.answer("Thanks!")

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"You said: {message.text}")

    @dp.callback_query(F.data == "yes")
    async def yes(query: CallbackQuery) -> None:
        await query.answer("Done")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Confirmed")

    @dp.pre_checkout_query()
    async def check(query: PreCheckoutQuery) -> None:
        await query.answer(ok=query.invoice_payload == "payload-1", error_message="stale")

    return dp


async def test_text_reply_arrives_before_send_text_returns(
    fake: FakeBotAPI, start_polling: StartPolling
) -> None:
    await start_polling(echo_dispatcher([]))
    ann = fake.add_user(7, "Ann")
    await ann.send_text("hello <there>")
    assert ann.last_message.text == "You said: hello <there>"


async def test_pressing_a_button_answers_and_edits(
    fake: FakeBotAPI, start_polling: StartPolling
) -> None:
    await start_polling(echo_dispatcher([]))
    ann = fake.add_user(7, "Ann")
    await ann.send_text("/menu")
    answer = await ann.press("Yes")
    assert answer is not None and answer.text == "Done"
    assert ann.last_message.text == "Confirmed"
    assert ann.last_message.edited


async def test_paying_an_invoice_in_stars(fake: FakeBotAPI, start_polling: StartPolling) -> None:
    paid: list[Message] = []
    await start_polling(echo_dispatcher(paid))
    ann = fake.add_user(7, "Ann")
    await ann.send_text("/buy")
    result = await ann.pay(ann.last_message)
    assert result.accepted
    assert len(paid) == 1
    payment = paid[0].successful_payment
    assert payment is not None
    assert (payment.currency, payment.total_amount) == ("XTR", 3000)
    assert ann.last_message.text == "Thanks!"
    again = await ann.pay(ann.messages[-2])
    assert not again.accepted, "an invoice is paid once"


async def test_webhook_delivery_checks_the_secret_and_waits_for_2xx(
    fake: FakeBotAPI, bot: Bot
) -> None:
    received: list[dict] = []
    secrets: list[str | None] = []

    async def hook(request: web.Request) -> web.Response:
        secrets.append(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        received.append(await request.json())
        return web.Response(status=500 if len(received) == 1 else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret-token")
        ann = fake.add_user(7, "Ann")
        await asyncio.wait_for(ann.send_text("via webhook"), 5)
    finally:
        await runner.cleanup()
    # The first delivery got a 500, so Telegram delivered the same update again.
    assert len(received) == 2
    assert received[0]["update_id"] == received[1]["update_id"]
    assert received[1]["message"]["text"] == "via webhook"
    assert secrets == ["s3cret-token", "s3cret-token"]
