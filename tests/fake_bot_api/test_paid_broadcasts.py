"""Paid broadcasts in the double: allow_paid_broadcast lifts the 30/s limit to 1000/s and
takes 0.1 Star per message from the bot's balance (getMyStarBalance); an empty balance is
refused the way this double documents (Telegram does not): 400 BALANCE_TOO_LOW."""

from __future__ import annotations

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter

from forever.sandbox.fake_bot_api import FakeBotAPI

from .conftest import ManualClock, make_bot


async def test_balance_is_a_star_amount_and_each_paid_message_takes_a_tenth() -> None:
    async with FakeBotAPI(star_balance=1) as fake:
        fake.add_user(7, "Ann", started=True)
        bot = make_bot(fake)
        try:
            assert (await bot.get_my_star_balance()).amount == 1
            await bot.send_message(7, "free", allow_paid_broadcast=None)
            await bot.send_message(7, "paid", allow_paid_broadcast=True)
            source = fake.user(7).last_message
            await bot.copy_message(7, 7, source.message_id, allow_paid_broadcast=True)
            balance = await bot.get_my_star_balance()
        finally:
            await bot.session.close()
        assert (balance.amount, balance.nanostar_amount) == (0, 800_000_000)
        assert fake.star_balance == (0, 800_000_000)
        assert fake.stats.paid_messages == 2


async def test_an_empty_balance_refuses_paid_sends_only() -> None:
    async with FakeBotAPI() as fake:
        fake.add_user(7, "Ann", started=True)
        fake.set_star_balance(0, 50_000_000)  # 0.05: less than one message
        bot = make_bot(fake)
        try:
            with pytest.raises(TelegramBadRequest, match="BALANCE_TOO_LOW"):
                await bot.send_message(7, "paid", allow_paid_broadcast=True)
            await bot.send_message(7, "free")
        finally:
            await bot.session.close()
        assert [m.text for m in fake.user(7).messages] == ["free"]
        assert fake.star_balance == (0, 50_000_000)  # a refused send costs nothing


async def test_paid_messages_count_against_1000_per_second_not_30(clock: ManualClock) -> None:
    async with FakeBotAPI(max_per_second=30, clock=clock, star_balance=1000) as fake:
        for user_id in range(1, 1002):
            fake.add_user(user_id, f"U{user_id}", started=True)
        bot = make_bot(fake)
        try:
            for user_id in range(1, 31):
                await bot.send_message(user_id, "free")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(31, "one free too many")
            # The same second: paid messages have their own, larger window.
            for user_id in range(1, 1001):
                await bot.send_message(user_id, "paid", allow_paid_broadcast=True)
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(1001, "one paid too many", allow_paid_broadcast=True)
            assert caught.value.retry_after >= 1
            clock.advance(1.01)
            await bot.send_message(1001, "paid, a second later", allow_paid_broadcast=True)
        finally:
            await bot.session.close()
        assert fake.stats.paid_messages == 1001
        assert fake.star_balance == (1000 - 101, 900_000_000)  # 1001 × 0.1 = 100.1
