"""Buying a credit pack and an add-on in chat (issue 19) through the fake Bot API: /shop and
the /account button, the invoice, the pre-checkout check, one grant per charge id, and bad
buttons and payloads."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from forever.app import build_container
from forever.config import Settings
from forever.db.models import AddonPurchase, AuditEntry, CreditEntry
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from forever.wiring.economy import credit_ledger
from tests.conftest import ROOT, STAFF_ID, START, TEST_TOKEN
from tests.e2e.chat_helpers import count
from tests.e2e.test_chat_payments import trial_user
from tests.e2e.test_staff_refunds import refunds_soon

EXTRA_WEEK = """
[[addons]]
id = "extra_week"
name = { en = "Extra week", ro = "Săptămână în plus", it = "Settimana extra" }
description = { en = "Seven days.", ro = "Șapte zile.", it = "Sette giorni." }
stars = 70
days = 7
"""


def shop_catalog(tmp_path: Path, name: str, edit: Callable[[str], str]) -> Path:
    """The business's catalog.toml with one edit, as its own file (the shipped one and the
    running bot's catalog are never changed in place)."""
    text = (ROOT / "catalog.toml").read_text(encoding="utf-8")
    changed = edit(text)
    assert changed != text, "the edit must change the catalog"
    path = tmp_path / f"{name}.toml"
    path.write_text(changed, encoding="utf-8")
    return path


@asynccontextmanager
async def bot_on(
    settings: Settings, clock: ManualClock, tg: FakeBotAPI, catalog: Path | None = None
) -> AsyncIterator[Runtime]:
    """The bot started on `catalog` (the shipped one when None), as after a restart."""
    if catalog is not None:
        settings = settings.model_copy(update={"catalog_path": str(catalog)})
    runtime = Runtime(build_container(settings, clock=clock), TEST_TOKEN)
    await runtime.start(scheduler=False, handle_as_tasks=False)
    await tg.wait_until_polled()
    try:
        yield runtime
    finally:
        await runtime.stop()
    tg.assert_no_refused_calls()


async def confirm_refund(staff: FakeUser, command: str) -> str:
    """/refund of a shop purchase asks first; staff tap the refund button."""
    await staff.send_text(command)
    ask = staff.last_message
    assert ask.text.startswith("Refund this purchase"), ask.text
    await staff.press(ask.button_texts[0], message=ask)
    return staff.last_message.text


async def plain_user(tg: FakeBotAPI, user_id: int, language: str = "en") -> FakeUser:
    user = tg.add_user(user_id, f"User{user_id}", language_code=language)
    await user.start()
    return user


async def test_buy_a_credit_pack_once_per_charge(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = await plain_user(tg, 4101)
    await user.send_text("/shop")
    shop = user.last_message
    assert "100 credits" in shop.text and "50 ⭐" in shop.text
    # Without a plus or pro membership the coaching call is not offered.
    assert "Coaching" not in shop.text
    assert shop.button_texts == ["100 credits · 50 ⭐"]
    await user.press("100 credits · 50 ⭐")
    invoice = tg.calls_to("sendInvoice")[-1].params
    assert invoice["currency"] == "XTR" and invoice["payload"] == "shop:c:credits_100"
    paid = await user.pay(user.last_message)
    assert paid.accepted, paid.error_message
    assert "100 credits were added" in user.last_message.text
    assert "balance is now 100 credits" in user.last_message.text

    # The same successful_payment delivered again grants nothing more.
    before = len(user.messages)
    again = dict(paid.message.to_json())
    again["message_id"] = paid.message.message_id + 1000
    await tg.send_update({"message": again})
    assert len(user.messages) == before
    assert await count(running_bot, CreditEntry) == 1


async def test_buy_an_add_on_from_account_in_romanian(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = await trial_user(tg, 4102, language="ro")  # a trial of Plus may buy coaching
    await user.send_text("/account")
    await user.press("Magazin: credite și extraopțiuni")
    shop = user.last_message
    assert "Sesiune de coaching" in shop.text
    await user.press("Sesiune de coaching · 150 ⭐")
    assert tg.calls_to("sendInvoice")[-1].params["payload"] == "shop:a:coaching"
    paid = await user.pay(user.last_message)
    assert paid.accepted, paid.error_message
    assert "Ai acum Sesiune de coaching" in user.last_message.text
    assert await count(running_bot, AddonPurchase, addon_id="coaching", stars=150) == 1


async def test_add_on_with_days_ends_and_italian_texts(
    tg: FakeBotAPI, e2e_settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    catalog = shop_catalog(tmp_path, "week", lambda text: text + EXTRA_WEEK)
    async with bot_on(e2e_settings, clock, tg, catalog) as bot:
        user = await plain_user(tg, 4103, language="it")
        await user.send_text("/shop")
        assert "Settimana extra" in user.last_message.text
        await user.press("Settimana extra · 70 ⭐")
        paid = await user.pay(user.last_message)
        assert paid.accepted, paid.error_message
        assert "Ora hai Settimana extra, fino al" in user.last_message.text
        async with bot.container.sessions() as session:
            row = (await session.execute(AddonPurchase.__table__.select())).one()
        assert row.ends_at.replace(tzinfo=None) == (START + timedelta(days=7)).replace(tzinfo=None)


async def test_pre_checkout_refuses_gone_changed_or_not_allowed_items(
    tg: FakeBotAPI, e2e_settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    async with bot_on(e2e_settings, clock, tg):
        user = await trial_user(tg, 4104)
        await user.send_text("/shop")
        await user.press("Coaching call · 150 ⭐")
        coaching_invoice = user.last_message
        await user.press("100 credits · 50 ⭐", message=user.messages[-2])
        pack_invoice = user.last_message

    # The business changes the catalog and restarts before the person pays: the pack costs
    # more, and the coaching call is now only for Pro.
    changed = shop_catalog(
        tmp_path,
        "changed",
        lambda text: text.replace("credits = 100\nstars = 50", "credits = 100\nstars = 60").replace(
            'stars = 150\nplans = ["plus", "pro"]', 'stars = 150\nplans = ["pro"]'
        ),
    )
    async with bot_on(e2e_settings, clock, tg, changed) as bot:
        refused = await user.pay(pack_invoice)
        assert not refused.accepted
        assert refused.error_message == (
            "The price of this item has changed. Open /shop for a new invoice."
        )
        refused = await user.pay(coaching_invoice)
        assert not refused.accepted and "Your plan cannot buy this item" in (
            refused.error_message or ""
        )

    # Then it stops selling add-ons altogether.
    gone = shop_catalog(
        tmp_path,
        "gone",
        # The add-on leaves the catalog, and with it the points reward that gave it.
        lambda text: text.replace("[[addons]]", "[[gone]]").replace(
            'addon = "coaching"\npoints = 300', "days = 30\npoints = 300"
        ),
    )
    async with bot_on(e2e_settings, clock, tg, gone) as bot:
        refused = await user.pay(coaching_invoice)
        assert not refused.accepted and "no longer sold" in (refused.error_message or "")
        assert await count(bot, AddonPurchase) == 0
        assert await count(bot, CreditEntry) == 0


async def test_stale_and_forged_buttons_get_a_clear_message(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await plain_user(tg, 4105)
    await user.send_text("/shop")
    message = user.last_message
    message.reply_markup["inline_keyboard"][0][0]["callback_data"] = "sh:a:coaching"
    answer = await user.press("sh:a:coaching", message=message)
    assert answer is not None and answer.show_alert
    assert (
        answer.text == "This item is not available to you any more. Here is what you can buy now."
    )
    message.reply_markup["inline_keyboard"][0][0]["callback_data"] = "sh:zz:nothing:x"
    answer = await user.press("sh:zz:nothing:x", message=message)
    assert answer is not None and answer.text == (
        "This button is not valid. Open /shop to see what you can buy."
    )
    message.reply_markup["inline_keyboard"][0][0]["callback_data"] = "sh:q:credits_100"
    answer = await user.press("sh:q:credits_100", message=message)
    assert answer is not None and "not available" in (answer.text or "")
    assert not tg.calls_to("sendInvoice")


async def test_account_shows_balance_history_and_add_ons(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 4106)
    await user.send_text("/account")
    assert "Credits" not in user.last_message.text  # nothing bought yet: no wallet lines
    await user.send_text("/shop")
    await user.press("100 credits · 50 ⭐")
    assert (await user.pay(user.last_message)).accepted
    await user.send_text("/shop")
    await user.press("Coaching call · 150 ⭐")
    assert (await user.pay(user.last_message)).accepted
    used = await credit_ledger(running_bot.container).use(4106, 30, "job-1")
    assert used.balance == 70
    await user.send_text("/account")
    text = user.last_message.text
    assert "Credits: 70" in text
    assert "used -30" in text and "bought +100" in text
    assert text.index("used -30") < text.index("bought +100")  # newest first
    assert "Add-ons" in text and "Coaching call × 1" in text


async def test_staff_refund_takes_back_unspent_credits_and_ends_an_add_on(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 4107)
    await user.send_text("/shop")
    await user.press("100 credits · 50 ⭐")
    pack = await user.pay(user.last_message)
    await user.send_text("/shop")
    await user.press("Coaching call · 150 ⭐")
    coaching = await user.pay(user.last_message)
    assert pack.accepted and coaching.accepted
    await credit_ledger(running_bot.container).use(4107, 30, "job-1")

    staff = tg.user(STAFF_ID)
    await staff.send_text(f"/refund {pack.charge_id} asked by email")
    ask = staff.last_message
    assert "User4107 (4107)" in ask.text and "credits_100 · 50 ⭐" in ask.text
    assert "70 now; 30 were already spent (shortfall)" in ask.text
    assert "Reason: asked by email" in ask.text
    assert ask.button_texts == ["Refund 50 ⭐", "Cancel"]
    assert await count(running_bot, AuditEntry, action="refund") == 0  # nothing done yet
    buttons = copy.deepcopy(ask.reply_markup)
    await staff.press("Refund 50 ⭐", message=ask)
    assert staff.last_message.text == (
        f"Refunded {pack.charge_id} (credits_100): Telegram is asked to return the Stars. "
        "Credits taken back: 70 of 100; 30 were already spent (shortfall)."
    )
    # A second tap on the same button (a double tap, sent before the buttons went away)
    # changes nothing more.
    ask.reply_markup = buttons
    again = await staff.press("Refund 50 ⭐", message=ask)
    assert (
        again is not None and again.show_alert and "already done or cancelled" in (again.text or "")
    )
    # Cancel leaves the purchase as it is; then a confirmed refund ends the add-on.
    await staff.send_text(f"/refund {coaching.charge_id}")
    await staff.press("Cancel", message=staff.last_message)
    assert staff.last_message.text == "Cancelled; nothing was refunded."
    assert "The add-on has ended." in await confirm_refund(staff, f"/refund {coaching.charge_id}")
    await staff.send_text(f"/refund {coaching.charge_id}")
    assert staff.last_message.text.startswith("Already refunded")
    await staff.send_text(f"/refund {pack.charge_id}")
    assert staff.last_message.text.startswith("Already refunded")

    assert (4107, pack.charge_id) in await refunds_soon(tg, (4107, pack.charge_id))
    assert (4107, coaching.charge_id) in await refunds_soon(tg, (4107, coaching.charge_id))
    async with running_bot.container.sessions() as session:
        audit = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "refund")))
    assert [a.arguments["note"] for a in audit] == ["asked by email", ""]  # once each
    await user.send_text("/account")
    text = user.last_message.text
    assert "Credits: 0" in text and "refunded -70 (30 already spent)" in text
    assert "Add-ons" not in text  # the coaching call ended with its refund
