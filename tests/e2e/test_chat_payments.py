"""Plans and Stars payments through the fake Bot API: the subscription link, renewals, a
yearly invoice, an upgrade, and every payment that must be refused or counted once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from tests.conftest import START
from tests.e2e.chat_helpers import Payment, count, edits_soon, events, kinds, snap


async def trial_user(tg: FakeBotAPI, user_id: int, language: str = "en") -> FakeUser:
    user = tg.add_user(user_id, f"User{user_id}", language_code=language)
    await user.start()
    await user.press(user.last_message.button_texts[0])  # start the trial
    await user.press(user.last_message.button_texts[0])  # skip the email
    return user


async def subscribe_monthly(user: FakeUser, label: str = "Plus · 300 ⭐ / month"):
    await user.send_text("/plans")
    await user.press(label)
    link_message = user.last_message
    result = await user.press(link_message.button_texts[0])
    return link_message, result


async def test_plans_show_monthly_and_yearly_with_the_saving(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(3001, "Ana")
    await user.send_text("/plans")
    plans = user.last_message
    assert "Basic" in plans.text and "Plus" in plans.text and "Pro" in plans.text
    assert "save 300 ⭐ (17%)" in plans.text  # Basic: 12 × 150 − 1500
    assert "Plus · 300 ⭐ / month" in plans.button_texts
    assert "Pro · 6\u202f000 ⭐ / year" in plans.button_texts


async def test_monthly_subscription_link_pay_renew_and_duplicate(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 3002)
    link_message, paid = await subscribe_monthly(user)
    link_call = tg.calls_to("createInvoiceLink")[-1].params
    assert int(link_call["subscription_period"]) == 2592000
    assert link_call["currency"] == "XTR"
    assert len(link_call["payload"].encode()) < 128
    assert link_message.buttons[0][0].target.startswith("https://t.me/$")  # a URL button
    assert paid.accepted, paid.error_message
    assert "Welcome to Plus" in user.last_message.text
    state = await snap(running_bot, 3002)
    assert state.membership.state.value == "active"
    assert state.membership.billing.value == "monthly"
    assert state.membership.period_end == START + timedelta(days=30)
    assert state.renewing_star_subscription

    # The same successful_payment delivered twice changes nothing.
    before = len(user.messages)
    duplicate = dict(paid.message.to_json())
    duplicate["message_id"] = paid.message.message_id + 1000
    await tg.send_update({"message": duplicate})
    assert len(user.messages) == before
    assert await count(running_bot, Payment) == 1

    # Telegram charges the next month: access extends by 30 days.
    clock.advance(timedelta(days=30))
    renewal = await tg.renew_subscription(user, paid.charge_id)
    assert renewal.accepted
    assert "renewed" in user.last_message.text
    state = await snap(running_bot, 3002)
    assert state.membership.period_end == START + timedelta(days=60)
    assert (await kinds(running_bot, 3002)).count(EventKind.RENEWED) == 1
    assert await count(running_bot, Payment) == 2


async def test_yearly_plan_is_a_one_off_invoice(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = tg.add_user(3003, "Yan")
    await user.send_text("/plans")
    await user.press("Basic · 1\u202f500 ⭐ / year")
    invoice = user.last_message
    assert invoice.invoice is not None
    assert invoice.invoice.subscription_period is None
    assert invoice.invoice.total_amount == 1500
    paid = await user.pay(invoice)
    assert paid.accepted
    state = await snap(running_bot, 3003)
    assert state.membership.billing.value == "yearly"
    assert state.membership.period_end == START + timedelta(days=365)
    assert not state.membership.auto_renew
    # Paying the same invoice again is refused by our pre-checkout (already paid).
    invoice.paid_by.clear()
    again = await user.pay(invoice)
    assert not again.accepted
    assert "already paid" in (again.error_message or "")


async def test_upgrade_stops_the_old_stars_subscription(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 3004)
    _, plus = await subscribe_monthly(user)
    _, pro = await subscribe_monthly(user, "Pro · 600 ⭐ / month")
    assert pro.accepted
    state = await snap(running_bot, 3004)
    assert state.membership.plan_id == "pro"
    assert await edits_soon(tg, (plus.charge_id, "true")) == [(plus.charge_id, "true")]
    changes = await events(running_bot, 3004, EventKind.PLAN_CHANGED)
    assert {k: changes[0].data[k] for k in ("from_plan", "to_plan")} == {
        "from_plan": "plus",
        "to_plan": "pro",
    }
    assert changes[0].data["from_period_end"]  # when Plus would have ended (access: downgrades)


async def test_an_upgrade_mid_month_says_and_keeps_the_value_of_the_days_left(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    """Issue 16, item 7: 12 days left on Basic (150 ⭐ a month: worth 60 ⭐) become 6 extra
    days of Plus (300 ⭐ a month), said before paying and added to the new period's end."""
    user = await trial_user(tg, 3020)
    _, basic = await subscribe_monthly(user, "Basic · 150 ⭐ / month")
    assert basic.accepted
    clock.advance(timedelta(days=18))
    await user.send_text("/plans")
    await user.press("Plus · 300 ⭐ / month")
    link_message = user.last_message
    assert (
        "Your 12 days left on Basic (worth 60 ⭐) become 6 extra days on Plus" in link_message.text
    )
    description = tg.calls_to("createInvoiceLink")[-1].params["description"]
    assert "12 days left on Basic (worth 60 ⭐) become 6 extra days on Plus" in description
    plus = await user.press(link_message.button_texts[0])
    assert plus.accepted
    state = await snap(running_bot, 3020)
    assert state.membership.plan_id == "plus"
    assert state.membership.period_end == clock.now() + timedelta(days=30 + 6)
    assert await edits_soon(tg, (basic.charge_id, "true")) == [(basic.charge_id, "true")]


async def test_an_upgrade_to_a_year_says_the_credit_before_the_invoice(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 3021, language="it")
    await subscribe_monthly(user, "Base · 150 ⭐ / mese")
    clock.advance(timedelta(days=20))  # 10 days of Basic left: 50 ⭐, 6 days of Plus a year
    await user.send_text("/plans")
    await user.press("Plus · 3\u202f000 ⭐ / anno")
    note, invoice = user.messages[-2], user.last_message
    assert "I tuoi 10 giorni rimasti su Base (del valore di 50 ⭐) diventano 6 giorni" in note.text
    assert invoice.invoice is not None and invoice.invoice.total_amount == 3000
    assert (await user.pay(invoice)).accepted
    state = await snap(running_bot, 3021)
    assert state.membership.period_end == clock.now() + timedelta(days=365 + 6)


async def test_same_plan_twice_is_not_sold_twice(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = await trial_user(tg, 3005)
    await subscribe_monthly(user)
    await user.send_text("/plans")
    await user.press("Plus · 300 ⭐ / month")
    assert "already have a monthly" in user.last_message.text


async def test_tampered_foreign_stale_and_vanished_payloads_are_refused(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    owner = tg.add_user(3010, "Owner")
    other = tg.add_user(3011, "Other")
    await owner.send_text("/plans")
    await owner.press("Plus · 300 ⭐ / month")
    link = owner.last_message.buttons[0][0].target

    # Someone else paying the owner's link.
    refused = await other.pay(link)
    assert not refused.accepted
    assert "someone else" in (refused.error_message or "")

    # A tampered payload (one character changed).
    info = tg.state.invoice_links[link.rsplit("$", 1)[1]]
    original = info.payload
    info.payload = original[:-1] + ("A" if original[-1] != "A" else "B")
    refused = await owner.pay(link)
    assert not refused.accepted
    assert "do not recognise" in (refused.error_message or "")
    info.payload = original

    # A link older than a day.
    clock.advance(timedelta(hours=25))
    refused = await owner.pay(link)
    assert not refused.accepted
    assert "expired" in (refused.error_message or "")

    # A plan that is no longer in the catalog.
    await owner.send_text("/plans")
    await owner.press("Basic · 150 ⭐ / month")
    basic_link = owner.last_message.buttons[0][0].target
    catalog = running_bot.container.catalog
    running_bot.container.catalog = dataclasses.replace(
        catalog, plans=tuple(p for p in catalog.plans if p.id != "basic")
    )
    refused = await owner.pay(basic_link)
    assert not refused.accepted
    assert "no longer offered" in (refused.error_message or "")
    assert await count(running_bot, Payment) == 0
    assert (await snap(running_bot, 3010)).membership.state.value == "none"


async def test_forged_plan_button_gets_a_clear_answer(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = tg.add_user(3012, "Mallory")
    await user.send_text("/plans")
    plans = user.last_message
    plans.reply_markup["inline_keyboard"][0][0]["callback_data"] = "pl:gold:monthly"
    answer = await user.press("pl:gold:monthly")
    assert answer is not None and "not possible" in (answer.text or "")
    plans.reply_markup["inline_keyboard"][0][0]["callback_data"] = "pl:::::::"
    answer = await user.press("pl:::::::")
    assert answer is not None  # answered, nothing else happens
    assert tg.calls_to("createInvoiceLink") == []


@pytest.mark.parametrize(
    ("language", "label", "thanks"),
    [
        ("ro", "Plus · 300 ⭐ / lună", "Bine ai venit la Plus"),
        ("it", "Plus · 300 ⭐ / mese", "Benvenuto in Plus"),
    ],
)
async def test_paying_in_romanian_and_italian(
    tg: FakeBotAPI, running_bot: Runtime, language: str, label: str, thanks: str
) -> None:
    user = await trial_user(tg, 3020, language)
    _, paid = await subscribe_monthly(user, label)
    assert paid.accepted
    assert thanks in user.last_message.text


async def test_a_payment_for_no_invoice_of_ours_is_kept_but_grants_nothing(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(3030, "Forger")
    await user.start()
    body = {
        "message_id": 9999,
        "date": 1795000000,
        "chat": {"id": 3030, "type": "private", "first_name": "Forger"},
        "from": {"id": 3030, "is_bot": False, "first_name": "Forger"},
        "successful_payment": {
            "currency": "XTR",
            "total_amount": 1,
            "invoice_payload": "forged-payload",
            "telegram_payment_charge_id": "stxFORGED",
            "provider_payment_charge_id": "x",
        },
    }
    await tg.send_update({"message": body})
    assert "could not match it" in user.last_message.text
    assert await count(running_bot, Payment) == 1
    assert (await snap(running_bot, 3030)).membership.state.value == "none"
    await tg.send_update({"message": body | {"message_id": 10000}})
    assert await count(running_bot, Payment) == 1
