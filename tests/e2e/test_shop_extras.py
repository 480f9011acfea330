"""Receipts, notices and suggestions of the economy (issue 19) through the fake Bot API and a
real SMTP sink: a receipt email per purchase to a confirmed address, the low-balance notice
once per crossing, add-on suggestions under the upgrade-prompt cap, the pay-per-use spending
in the upgrade prompt, and /shop in the command menu."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select

from forever.config import Settings
from forever.db.models import OutboxMessage
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from forever.sandbox.fake_bot_api.users import PaymentResult
from forever.wiring import customers
from forever.wiring.economy import credit_ledger
from forever.wiring.email import run_sweeps
from tests.conftest import STAFF_ID
from tests.e2e.chat_helpers import count
from tests.e2e.test_chat_cancel import paying_user
from tests.e2e.test_chat_shop import bot_on, confirm_refund, plain_user, shop_catalog
from tests.e2e.test_staff_refunds import messages_soon
from tests.smtp_sink import Received, SmtpSink, smtp_sink_fixture  # noqa: F401 - fixture

MAIL_WITHIN = 5.0  # seconds: generous for a loaded machine
HOUR = 3600.0

BIG_PACK = """
[[credit_packs]]
id = "credits_1000"
name = { en = "1000 credits", ro = "1000 de credite", it = "1000 crediti" }
credits = 1000
stars = 400
"""


def economy_catalog(tmp_path: Path) -> Path:
    """The shipped catalog (coaching suggested from 20 uses a month to Plus and Pro, the
    low-balance notice at 20 credits), plus a 1000-credit pack for 400 Stars (more than a month
    of Plus)."""
    return shop_catalog(tmp_path, "economy", lambda text: text + BIG_PACK)


async def arrived(sink: SmtpSink, n: int) -> list[Received]:
    async with asyncio.timeout(MAIL_WITHIN):
        return await sink.arrived(n)


def plain_body(mail: Received) -> str:
    body = mail.message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def buy(user: FakeUser, label: str) -> str:
    return (await pay_in_shop(user, label)).charge_id


async def pay_in_shop(user: FakeUser, label: str) -> PaymentResult:
    await user.send_text("/shop")
    await user.press(label)
    paid = await user.pay(user.last_message)
    assert paid.accepted, paid.error_message
    return paid


async def test_a_receipt_email_for_each_purchase_to_a_confirmed_address(
    tg: FakeBotAPI, e2e_settings: Settings, clock: ManualClock, smtp_sink: SmtpSink
) -> None:
    settings = e2e_settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp_sink.port, "outbox_poll_seconds": HOUR}
    )
    async with bot_on(settings, clock, tg) as bot:
        lia = tg.add_user(4301, "Lia", language_code="ro")
        await lia.start()
        await lia.press("Încep perioada gratuită")
        await lia.send_text("lia@example.com")
        await lia.press(lia.last_message.button_texts[0])  # yes, email me
        confirm = (await arrived(smtp_sink, 1))[0]
        token = re.search(r"https://forever\.test/c/(\S+)", plain_body(confirm))
        assert token is not None
        async with aiohttp.ClientSession() as web:
            url = f"http://127.0.0.1:{bot.web_port}/c/{token.group(1)}"
            async with web.post(url, data={"token": token.group(1)}) as response:
                assert response.status < 400

        pack = await pay_in_shop(lia, "100 de credite · 50 ⭐")
        pack_charge = pack.charge_id
        receipt = (await arrived(smtp_sink, 2))[1]
        assert receipt.recipients == ["lia@example.com"]
        assert receipt.message["Subject"] == "Chitanță pentru 100 de credite"
        text = plain_body(receipt)
        assert "Ce ai cumpărat: 100 de credite (100 de credite)" in text
        assert "Plătit: 50 de Stele Telegram" in text  # CLDR plural: 20 and up take "de"
        assert "Soldul tău de credite după cumpărare: 100 de credite" in text
        assert f"Referință: {pack_charge}" in text

        coaching_charge = await buy(lia, "Sesiune de coaching · 150 ⭐")
        receipt = (await arrived(smtp_sink, 3))[2]
        assert receipt.message["Subject"] == "Chitanță pentru Sesiune de coaching"
        text = plain_body(receipt)
        assert "Ce ai cumpărat: Sesiune de coaching × 1" in text
        assert "150 de Stele Telegram" in text and coaching_charge in text
        html = receipt.message.get_body(("html",))
        assert html is not None and "Sesiune de coaching" in html.get_content()

        # The pack's payment delivered again: nothing more is granted, and no second receipt.
        assert pack.message is not None
        again = dict(pack.message.to_json())
        again["message_id"] = pack.message.message_id + 1000
        await tg.send_update({"message": again})

        # Someone whose address is not confirmed gets no receipt (the purchase still works).
        bo = tg.add_user(4302, "Bo")
        await bo.start()
        await bo.press("Start my free trial")
        await bo.send_text("bo@example.com")
        await bo.press("No, thanks")
        await buy(bo, "100 credits · 50 ⭐")
        assert await count(bot, OutboxMessage, template="shop_receipt") == 2
        assert len(smtp_sink.received) == 3


async def test_low_balance_notice_once_per_crossing(
    tg: FakeBotAPI, e2e_settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    async with bot_on(e2e_settings, clock, tg, economy_catalog(tmp_path)) as bot:
        user = await plain_user(tg, 4311, language="it")
        await buy(user, "100 crediti · 50 ⭐")
        ledger = credit_ledger(bot.container)

        async def spend(amount: int, request: str) -> None:
            before = len(user.messages)
            assert (await ledger.use(4311, amount, request)).outcome.value in {"done", "repeated"}
            await messages_soon(user, before)

        await spend(50, "a")  # 50 left: above 20, nothing said
        assert "saldo crediti è basso" not in user.last_message.text
        await spend(35, "b")  # 15 left: crossed
        notice = user.last_message
        assert notice.text.startswith("Il tuo saldo crediti è basso: restano 15 crediti.")
        assert notice.button_texts == ["Compra crediti"]
        await spend(5, "c")  # 10 left: still below, no second notice
        await spend(35, "b")  # the same request again: counts once, says nothing
        assert await count(bot, OutboxMessage, template="low_balance") == 1
        await user.press("Compra crediti", message=notice)
        assert "100 crediti" in user.last_message.text  # the shop

        await buy(user, "100 crediti · 50 ⭐")  # 110: above again
        await spend(95, "d")  # 15: a new crossing, a new notice
        assert await count(bot, OutboxMessage, template="low_balance") == 2
        assert "restano 15 crediti" in user.last_message.text


async def test_add_on_suggested_from_usage_once_per_cap_and_not_once_bought(
    tg: FakeBotAPI, e2e_settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    async with bot_on(e2e_settings, clock, tg, economy_catalog(tmp_path)) as bot:
        container = bot.container
        pro, _ = await paying_user(tg, 4321, label="Pro · 600 ⭐ / month")  # no tier above
        light, _ = await paying_user(tg, 4322, label="Pro · 600 ⭐ / month")
        record_usage = customers.build(container).record_usage
        assert await record_usage(4321, 20) == 20
        assert await record_usage(4322, 19) == 19
        clock.advance(timedelta(hours=1))
        before = len(light.messages)
        await run_sweeps(container, clock.now(), bot.chat)
        suggestion = pro.last_message
        assert suggestion.text.startswith(
            "Hi, User4321! You have used 20 this month. Coaching call could help"
        )
        assert suggestion.button_texts == [
            "Buy Coaching call · 150 ⭐",
            "Shop: credits and add-ons",
        ]
        assert len(light.messages) == before  # below the add-on's threshold

        # Within the cap period (7 days) nothing more; after it, once more.
        clock.advance(timedelta(days=3))
        await run_sweeps(container, clock.now(), bot.chat)
        assert pro.last_message is suggestion
        clock.advance(timedelta(days=5))  # 1 December: a new month's usage counter
        assert await record_usage(4321, 22) == 22
        await run_sweeps(container, clock.now(), bot.chat)
        assert await count(bot, OutboxMessage, template="addon_suggestion") == 2
        assert "You have used 22 this month" in pro.last_message.text

        # Bought from the suggestion's button: never suggested again.
        await pro.press("Buy Coaching call · 150 ⭐", message=suggestion)
        assert (await pro.pay(pro.last_message)).accepted
        clock.advance(timedelta(days=8))
        assert await record_usage(4321, 5) == 27
        await run_sweeps(container, clock.now(), bot.chat)
        assert await count(bot, OutboxMessage, template="addon_suggestion") == 2


async def test_upgrade_prompt_says_when_pay_per_use_passed_a_plan_price(
    tg: FakeBotAPI, e2e_settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    async with bot_on(e2e_settings, clock, tg, economy_catalog(tmp_path)) as bot:
        heavy, _ = await paying_user(tg, 4331, label="Basic · 150 ⭐ / month")
        thrifty, _ = await paying_user(tg, 4332, label="Basic · 150 ⭐ / month")
        await buy(heavy, "1000 credits · 400 ⭐")
        await buy(thrifty, "100 credits · 50 ⭐")
        clock.advance(timedelta(hours=1))
        before = len(thrifty.messages)
        sent = await run_sweeps(bot.container, clock.now(), bot.chat)
        assert sent["upgrade_prompts"] == 1
        prompt = heavy.last_message
        assert (
            "In the last 30 days you spent 400 ⭐ on pay-per-use credits, more than Plus costs "
            "a month (300 ⭐)."
        ) in prompt.text
        assert "Upgrade to Plus" in prompt.button_texts
        assert len(thrifty.messages) == before  # 50 ⭐ is less than a month of Plus
        async with bot.container.sessions() as session:
            context = await session.scalar(
                select(OutboxMessage.context).where(OutboxMessage.template == "upgrade_prompt")
            )
        assert context is not None and context["rule"] == "spending"


async def test_shop_is_in_the_customers_command_menu_in_every_language(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    wanted = {
        "en": "Credits and add-ons",
        "ro": "Credite și extraopțiuni",
        "it": "Crediti ed extra",
    }
    menus = {
        c.params.get("language_code", ""): c.params["commands"]
        for c in tg.calls_to("setMyCommands")
        if "chat_id" not in str(c.params.get("scope", ""))
    }
    for language, description in wanted.items():
        raw = menus[language]
        commands = raw if isinstance(raw, list) else json.loads(raw)
        assert {"command": "shop", "description": description} in commands


async def test_stats_show_add_on_revenue_credit_sales_consumption_and_arpu(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    ana, _ = await paying_user(tg, 4341)  # Plus, 300 ⭐
    await buy(ana, "100 credits · 50 ⭐")
    await buy(ana, "Coaching call · 150 ⭐")
    bo = await plain_user(tg, 4342)
    bo_pack = await buy(bo, "100 credits · 50 ⭐")
    ledger = credit_ledger(running_bot.container)
    await ledger.use(4341, 30, "ana-1")
    await ledger.use(4342, 20, "bo-1")
    staff = tg.user(STAFF_ID)
    assert "Credits taken back: 80 of 100" in await confirm_refund(staff, f"/refund {bo_pack}")
    # The refund goes out through the outbox. Let it be marked sent before the clock moves an
    # hour: a row still in flight would then look abandoned (its lease run out) and go again.
    for _ in range(500):
        if await count(running_bot, OutboxMessage, template="refund_star_payment", status="sent"):
            break
        await asyncio.sleep(0.02)
    assert len(tg.calls_to("refundStarPayment")) == 1
    clock.advance(timedelta(hours=1))
    await staff.send_text("/stats")
    report = next(m.text for m in reversed(staff.messages) if "Add-ons and credits" in m.text)
    assert "Add-on revenue: 150 ⭐ (1 sold for 150 ⭐, 0 ⭐ refunded)" in report
    assert "Credit sales: 50 ⭐ (2 packs, 200 credits, 50 ⭐ refunded)" in report
    assert "Credits used: 50 by 2 people" in report
    # Plans 300 + add-ons 150 + credits 50, over the one active member.
    assert "ARPU: 500.0 ⭐ (500 ⭐ of all revenue, 1 active member)" in report
