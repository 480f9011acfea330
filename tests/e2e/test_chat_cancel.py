"""One-tap cancel, the optional reason, one matched offer and its effect, undo, pause and
resume, through the fake Bot API; old and forged buttons never act twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forever.db.models import OutboxMessage
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from tests.conftest import START
from tests.e2e.chat_helpers import (
    count,
    edits_soon,
    events,
    kinds,
    snap,
    unanswered_callbacks,
)
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user


async def paying_user(tg: FakeBotAPI, user_id: int, language: str = "en", label: str = ""):
    user = await trial_user(tg, user_id, language)
    _, paid = await subscribe_monthly(user, label or "Plus · 300 ⭐ / month")
    assert paid.accepted
    return user, paid


async def test_sign_up_pay_upgrade_cancel_reason_offer_then_undo(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 4001)
    await subscribe_monthly(user)
    clock.advance(timedelta(days=2))
    _, pro = await subscribe_monthly(user, "Pro · 600 ⭐ / month")
    # Issue 16, item 7: the 28 days left on Plus (worth 280 ⭐) become 14 days of Pro.
    until = START + timedelta(days=2, minutes=0) + timedelta(days=30 + 14)

    await user.send_text("/cancel")
    assert "Cancel your Pro membership?" in user.last_message.text
    await user.press("Yes, cancel")
    canceled, reason_question = user.messages[-2:]
    assert "Done: cancelled" in canceled.text
    assert "8 January 2027" in canceled.text  # access until the paid period ends
    assert (pro.charge_id, "true") in await edits_soon(tg, (pro.charge_id, "true"))
    state = await snap(running_bot, 4001)
    assert state.membership.state.value == "cancel_scheduled"
    assert state.membership.period_end == until

    await user.press("Too expensive", message=reason_question)
    offer = user.last_message
    # The terms before paying: the price, how long it lasts, what it renews at.
    assert "30% off" in offer.text
    assert "420 ⭐ every 30 days instead of 600 ⭐" in offer.text
    assert "renews at 420 ⭐ for as long as you keep it" in offer.text
    links = len(tg.calls_to("createInvoiceLink"))
    await user.press("Take 30% off, renewing")
    link_call = tg.calls_to("createInvoiceLink")[-1].params
    assert int(link_call["prices"][0]["amount"]) == 420  # 600 − 30 %
    assert int(link_call["subscription_period"]) == 2592000  # renews, not a one-off month
    # Pressing the offer again does nothing twice.
    answer = await user.press("Take 30% off, renewing", message=offer)
    assert "out of date" in (answer.text or "")
    assert len(tg.calls_to("createInvoiceLink")) == links + 1

    # Undo in one tap: the Stars subscription renews again.
    await user.press("Keep my subscription", message=canceled)
    assert "you are staying" in user.last_message.text
    assert (pro.charge_id, "false") in await edits_soon(tg, (pro.charge_id, "false"))
    state = await snap(running_bot, 4001)
    assert state.membership.state.value == "active"
    assert state.renewing_star_subscription
    history = await kinds(running_bot, 4001)
    for kind in (
        EventKind.CANCELED,
        EventKind.CANCEL_REASON,
        EventKind.OFFER_SHOWN,
        EventKind.OFFER_ACCEPTED,
        EventKind.CANCEL_UNDONE,
    ):
        assert kind in history
    assert unanswered_callbacks(tg) == []


async def test_a_save_with_the_discount_renews_at_the_stated_price(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user, _ = await paying_user(tg, 4002)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Too expensive")
    await user.press("Take 30% off, renewing")
    link_message = user.last_message
    assert "210 ⭐ every 30 days (30% off the regular 300 ⭐" in link_message.text
    paid = await user.press(link_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 210
    state = await snap(running_bot, 4002)
    assert state.membership.state.value == "active"
    assert state.membership.period_end == START + timedelta(days=60)  # paid time kept
    # A membership that renews by itself, at the price the offer stated.
    assert state.membership.auto_renew and state.renewing_star_subscription
    assert state.renewal_stars == 210
    await user.send_text("/account")
    account = user.last_message.text
    assert "active" in account and "Renews on" in account
    assert "then 210 ⭐ every 30 days until you cancel\n" in account
    # The old subscription stays stopped; the new one renews at 210.
    clock.advance(timedelta(days=30))
    renewal = await tg.renew_subscription(user, paid.charge_id)
    assert renewal.accepted and renewal.total_amount == 210
    state = await snap(running_bot, 4002)
    assert state.membership.period_end == START + timedelta(days=90)
    assert state.membership.auto_renew


async def test_not_using_it_gets_a_pause_that_applies_at_once(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user, _ = await paying_user(tg, 4003)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Not using it enough")
    assert "pause instead" in user.last_message.text
    await user.press("Pause 1 month")
    assert "Paused until" in user.last_message.text
    state = await snap(running_bot, 4003)
    assert state.membership.state.value == "paused"
    assert state.membership.paused_credit == timedelta(days=30)

    clock.advance(timedelta(days=10))
    await user.send_text("/account")
    await user.press("Resume now")
    resumed = user.last_message
    assert "active again" in resumed.text
    assert resumed.button_texts == ["Renew · 300 ⭐ / month"]  # a new Stars link
    state = await snap(running_bot, 4003)
    assert state.membership.state.value == "active"
    assert state.membership.period_end == START + timedelta(days=40)
    paid = await user.press("Renew · 300 ⭐ / month")
    assert paid.accepted
    assert (await snap(running_bot, 4003)).membership.period_end == START + timedelta(days=70)


async def test_other_reason_offers_the_lower_tier(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user, _ = await paying_user(tg, 4004)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Something else")
    assert "Basic" in user.last_message.text
    await user.press("Switch to Basic")
    paid = await user.press(user.last_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 150
    state = await snap(running_bot, 4004)
    assert state.membership.plan_id == "basic"
    assert state.renewing_star_subscription


async def test_skipping_the_reason_and_declining_the_offer_keep_the_cancel(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user, _ = await paying_user(tg, 4005)
    await user.send_text("/account")
    await user.press("Cancel membership")
    await user.press("Yes, cancel")
    reason_question = user.last_message
    await user.press("Skip", message=reason_question)
    assert "Thank you for having been with us" in user.last_message.text
    state = await snap(running_bot, 4005)
    assert state.membership.state.value == "cancel_scheduled"
    assert EventKind.OFFER_SHOWN not in await kinds(running_bot, 4005)


async def test_pause_and_resume_from_account(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user, paid = await paying_user(tg, 4006)
    await user.send_text("/account")
    await user.press("Pause")
    await user.press("2 months")
    assert "Paused until" in user.last_message.text
    assert (paid.charge_id, "true") in await edits_soon(tg, (paid.charge_id, "true"))  # no charge
    pause_ask = user.messages[-2]
    answer = await user.press("3 months", message=pause_ask)
    assert "out of date" in (answer.text or "")
    await user.send_text("/account")
    await user.press("Resume now")
    assert (await snap(running_bot, 4006)).membership.state.value == "active"
    assert len(await events(running_bot, 4006, EventKind.PAUSED)) == 1


async def test_double_tap_and_forged_buttons_never_act_twice(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user, paid = await paying_user(tg, 4007)
    await user.send_text("/cancel")
    confirm = user.last_message
    await user.press("Yes, cancel", message=confirm)
    answer = await user.press("Yes, cancel", message=confirm)
    assert "out of date" in (answer.text or "")
    assert "Your membership" in user.last_message.text  # the current view
    await edits_soon(tg, (paid.charge_id, "true"))
    assert len(tg.calls_to("editUserStarSubscription")) == 1
    assert await count(running_bot, OutboxMessage, template="edit_star_subscription") == 1
    assert len(await events(running_bot, 4007, EventKind.CANCELED)) == 1

    # Forged or malformed callback data: answered, nothing changes.
    for forged in ("ac:cancel:notanumber", "cx:999", "rs:bogus:1", "of:discount_30:1", "zz"):
        confirm.reply_markup["inline_keyboard"][0][0]["callback_data"] = forged
        answer = await user.press(forged, message=confirm)
        assert answer is not None, forged
    assert len(await events(running_bot, 4007, EventKind.CANCELED)) == 1
    assert EventKind.OFFER_ACCEPTED not in await kinds(running_bot, 4007)
    assert unanswered_callbacks(tg) == []


async def test_a_trial_canceller_gets_the_catalogs_trial_offer(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 4008)
    trial_end = (await snap(running_bot, 4008)).membership.period_end
    assert trial_end is not None
    await user.send_text("/cancel")
    assert "End your free trial" in user.last_message.text
    await user.press("Yes, cancel")
    await user.press("Not using it enough")
    offer = user.last_message
    assert "Keep your free trial 7 more days" in offer.text and "No payment" in offer.text
    await user.press("Keep trying, 7 more days")
    assert "your free trial of Plus goes on until" in user.last_message.text
    state = await snap(running_bot, 4008)
    assert state.membership.state.value == "trial"
    assert state.membership.period_end == trial_end + timedelta(days=7)
    assert state.canceled_at is None
    # A trial has no Stars subscription: nothing queued for Telegram, nothing sent.
    assert await count(running_bot, OutboxMessage, template="edit_star_subscription") == 0
    assert tg.calls_to("editUserStarSubscription") == []


async def test_a_trial_canceller_who_finds_it_too_expensive_gets_the_cheaper_tier(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 4009)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Too expensive")
    assert "Basic costs 150 ⭐ every 30 days, renewing until you cancel" in (user.last_message.text)
    await user.press("Switch to Basic")
    paid = await user.press(user.last_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 150
    state = await snap(running_bot, 4009)
    assert state.membership.plan_id == "basic" and state.renewing_star_subscription


@pytest.mark.parametrize(
    ("language", "plan", "confirm", "done", "keep"),
    [
        ("ro", "Plus · 300 ⭐ / lună", "Da, anulează", "Gata: anulat", "Păstrez abonamentul"),
        ("it", "Plus · 300 ⭐ / mese", "Sì, annulla", "Fatto: annullato", "Mantieni l'abbonamento"),
    ],
)
async def test_cancel_and_undo_in_romanian_and_italian(
    tg: FakeBotAPI,
    running_bot: Runtime,
    language: str,
    plan: str,
    confirm: str,
    done: str,
    keep: str,
) -> None:
    user: FakeUser
    user, _ = await paying_user(tg, 4010, language, plan)
    await user.send_text("/cancel")
    await user.press(confirm)
    assert done in user.messages[-2].text
    await user.press(keep)
    assert (await snap(running_bot, 4010)).membership.state.value == "active"


async def test_a_pause_ends_by_itself_with_the_time_that_was_left(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    from forever.wiring.email import run_sweeps

    user, _ = await paying_user(tg, 4011)
    clock.advance(timedelta(days=10))
    await user.send_text("/account")
    await user.press("Pause")
    await user.press("1 month")
    clock.advance(timedelta(days=29))
    assert (await run_sweeps(running_bot.container, clock.now(), running_bot.chat))[
        "resume_pauses"
    ] == 0
    clock.advance(timedelta(days=1))
    assert (await run_sweeps(running_bot.container, clock.now(), running_bot.chat))[
        "resume_pauses"
    ] == 1
    state = await snap(running_bot, 4011)
    assert state.membership.state.value == "active"
    assert state.membership.period_end == clock.now() + timedelta(days=20)


async def test_account_buttons_lead_to_language_and_plans(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 4012, "it")
    await user.send_text("/account")
    assert user.last_message.button_texts == [
        "Passa a un piano superiore",
        "Annulla l'abbonamento",
        "Negozio: crediti e extra",
        "I miei punti",
        "Lingua",
    ]
    await user.press("Lingua")
    await user.press("English")
    await user.send_text("/account")
    await user.press("Upgrade")
    assert "plans" in user.last_message.text
