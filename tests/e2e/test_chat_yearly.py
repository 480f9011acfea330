"""Yearly members are told in chat before their year ends and when it has ended (issue 16,
item 6), with one tap to renew for a year: a member who never gave an email is told too."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from forever.domain.clock import ManualClock
from forever.domain.points import PointsRules
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.wiring.console import put_in_force
from forever.wiring.email import run_sweeps
from tests.conftest import START
from tests.e2e.chat_helpers import snap

YEARLY_BASIC = "Basic · 1\u202f500 ⭐ / year"
RENEW = "Renew Basic for a year · 1\u202f500 ⭐"


def without_points(bot: Runtime) -> None:
    """The year's points would expire with the year, their notice in the same days: points
    have their own tests (test_chat_points.py); these count the renewal messages alone."""
    put_in_force(bot.container, replace(bot.container.catalog, points=PointsRules()))


async def test_a_yearly_member_without_email_is_told_in_chat_and_renews_in_one_tap(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    without_points(running_bot)
    user = tg.add_user(3030, "Yara")  # never gives an email address
    await user.send_text("/plans")
    await user.press(YEARLY_BASIC)
    assert (await user.pay(user.last_message)).accepted
    state = await snap(running_bot, 3030)
    end = START + timedelta(days=365)
    assert state.membership.period_end == end

    async def sweep() -> None:
        await run_sweeps(running_bot.container, clock.now(), running_bot.chat)

    # Four days before the end: nothing yet.
    clock.advance(end - timedelta(days=4) - clock.now())
    told = len(user.messages)
    await sweep()
    assert len(user.messages) == told

    # Three days before: told once, with the date and a button that opens the yearly invoice.
    clock.advance(timedelta(days=1))
    await sweep()
    assert len(user.messages) == told + 1
    ending = user.last_message
    assert "Your year of <b>Basic</b> ends on <b>23 November 2027, 10:00 (UTC)</b>" in ending.html
    assert "never renews by itself" in ending.text
    assert ending.button_texts == [RENEW, "See plans"]
    await sweep()  # a second sweep sends nothing new
    assert len(user.messages) == told + 1

    await user.press(RENEW, message=ending)
    invoice = user.last_message
    assert invoice.invoice is not None
    assert invoice.invoice.total_amount == 1500
    assert invoice.invoice.subscription_period is None  # a one-off yearly invoice

    # The year ends: told again, once, with the same one tap.
    clock.advance(timedelta(days=3))
    await sweep()
    state = await snap(running_bot, 3030)
    assert state.membership.state.value == "expired"
    ended = user.last_message
    assert "Your year of <b>Basic</b> ended on 23 November 2027" in ended.html
    assert ended.button_texts == [RENEW, "See plans"]
    messages = len(user.messages)
    await sweep()
    clock.advance(timedelta(hours=5))
    await sweep()
    assert len(user.messages) == messages

    await user.press(RENEW, message=ended)
    assert (await user.pay(user.last_message)).accepted
    state = await snap(running_bot, 3030)
    assert state.membership.state.value == "active"
    assert state.membership.billing.value == "yearly"
    assert state.membership.period_end == clock.now() + timedelta(days=365)


async def test_the_reminder_waits_for_the_morning_in_the_members_zone(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    without_points(running_bot)
    user = tg.add_user(3031, "Ioana", language_code="ro")  # Europe/Bucharest until told
    await user.send_text("/plans")
    await user.press("De bază · 1\u202f500 ⭐ / an")
    assert (await user.pay(user.last_message)).accepted
    end = START + timedelta(days=365)  # 10:00 UTC, 12:00 in Bucharest
    # 20:00 UTC, 3 days minus 14 hours before the end: 22:00 in Bucharest, quiet hours.
    clock.advance(end - timedelta(days=3) + timedelta(hours=10) - clock.now())
    told = len(user.messages)
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    assert len(user.messages) == told
    # 06:00 UTC is 08:00 in Bucharest: it goes then, in Romanian, with the date there.
    clock.advance(timedelta(hours=10))
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    assert len(user.messages) == told + 1
    assert "se încheie pe <b>23 noiembrie 2027, ora 12:00" in user.last_message.html
    assert user.last_message.button_texts[0] == "Reînnoiește De bază pe un an · 1\u202f500 ⭐"
