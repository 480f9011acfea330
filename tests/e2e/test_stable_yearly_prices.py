"""Stable prices for a year, too (issue 18): a yearly member who keeps an older yearly price,
and a price experiment's yearly arm, are shown that price (and the saving reckoned from their
own prices) wherever the bot names it, and the invoice charges exactly what was shown."""

from __future__ import annotations

from datetime import timedelta

from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from forever.wiring.email import run_sweeps
from tests.conftest import START
from tests.e2e.chat_helpers import snap
from tests.e2e.test_stable_prices import sold_at

NNBSP = "\u202f"  # the thousands separator the bot writes
YEARLY_PLUS = f"Plus · 3{NNBSP}000 ⭐ / year"


async def yearly_plus_member(tg: FakeBotAPI, telegram_id: int) -> FakeUser:
    user = tg.add_user(telegram_id, f"User{telegram_id}")
    await user.send_text("/plans")
    await user.press(YEARLY_PLUS)
    assert (await user.pay(user.last_message)).accepted
    return user


async def test_a_yearly_member_keeps_their_yearly_price_wherever_it_is_named(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await yearly_plus_member(tg, 5701)
    await sold_at(running_bot, 5701, 2500)  # sold at 2 500; the catalog now says 3 000
    newcomer = tg.add_user(5702, "New")

    # /plans names their own yearly price, and the saving from it (12 × 300 − 2 500).
    await user.send_text("/plans")
    listed = user.last_message
    assert f"Plus · 2{NNBSP}500 ⭐ / year" in listed.button_texts
    assert YEARLY_PLUS not in listed.button_texts
    assert f"300 ⭐ a month, or 2{NNBSP}500 ⭐ a year: save 1{NNBSP}100 ⭐ (31%)" in listed.text
    # Someone new still sees the catalog's.
    await newcomer.send_text("/plans")
    assert YEARLY_PLUS in newcomer.last_message.button_texts
    assert f"300 ⭐ a month, or 3{NNBSP}000 ⭐ a year: save 600 ⭐ (17%)" in (
        newcomer.last_message.text
    )

    # The reminder before the year ends names it, and its one tap charges it.
    end = START + timedelta(days=365)
    clock.advance(end - timedelta(days=3) - clock.now())
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    reminder = user.last_message
    assert f"renew for another year (2{NNBSP}500 ⭐)" in reminder.text
    renew = f"Renew Plus for a year · 2{NNBSP}500 ⭐"
    assert reminder.button_texts == [renew, "See plans"]

    # The year ends; within 90 days the former member still pays their own price.
    clock.advance(timedelta(days=30))
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    assert (await snap(running_bot, 5701)).membership.state.value == "expired"
    await user.send_text("/plans")
    assert f"Plus · 2{NNBSP}500 ⭐ / year" in user.last_message.button_texts
    await user.press(f"Plus · 2{NNBSP}500 ⭐ / year")
    invoice = user.last_message.invoice
    assert invoice is not None and invoice.total_amount == 2500
    assert f"2{NNBSP}500 ⭐" in invoice.description and "3" + NNBSP not in invoice.description
    paid = await user.pay(user.last_message)
    assert paid.accepted and paid.total_amount == 2500
    state = await snap(running_bot, 5701)
    assert state.membership.state.value == "active"
    assert state.membership.billing.value == "yearly"


async def test_the_renewal_reminders_button_charges_the_kept_yearly_price(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await yearly_plus_member(tg, 5711)
    await sold_at(running_bot, 5711, 2500)
    clock.advance(START + timedelta(days=362) - clock.now())
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    await user.press(f"Renew Plus for a year · 2{NNBSP}500 ⭐")
    invoice = user.last_message.invoice
    assert invoice is not None and invoice.total_amount == 2500
    paid = await user.pay(user.last_message)
    assert paid.accepted and paid.total_amount == 2500
