"""Promo codes through the chat (issue 19): staff create, list and disable codes; customers
use them with /promo CODE or a start=p_CODE link; each message a customer can get, in en, ro
and it; a percent code's invoice charges the discounted price, and /stats counts it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from forever.db.models import AuditEntry, Invoice, PromoCode
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from tests.conftest import STAFF_ID, START
from tests.e2e.chat_helpers import count, events, snap
from tests.e2e.test_chat_payments import trial_user


async def staff_says(tg: FakeBotAPI, text: str) -> str:
    staff = tg.user(STAFF_ID)
    await staff.send_text(text)
    return staff.last_message.text


async def new_code(tg: FakeBotAPI, text: str) -> None:
    answer = await staff_says(tg, f"/promo new {text}")
    assert "created" in answer, answer


async def test_staff_create_list_and_disable_codes(tg: FakeBotAPI, running_bot: Runtime) -> None:
    usage = await staff_says(tg, "/promo")
    assert "/promo new CODE percent=20 plans=plus,pro limit=100 expires=2027-01-31" in usage

    created = await staff_says(
        tg, "/promo new spring20 percent=20 plans=plus,pro limit=100 expires=2027-01-31"
    )
    assert "Code SPRING20 created: 20% off the next payment · Plus, Pro" in created
    assert "up to 100 uses · until 31 January 2027 (UTC)" in created
    me = tg.calls_to("getMe")
    assert me  # the link names the bot
    assert "/promo SPRING20" in created and "?start=p_SPRING20" in created
    await new_code(tg, "WEEK days=7")

    # Every mistake is named, and nothing is created.
    for text, words in [
        ("/promo new SPRING20 days=3", "The code SPRING20 exists already"),
        ("/promo new X! percent=5", "“X!” cannot be a code"),
        ("/promo new OTHER percent=0", "percent must be a whole number from 1 to 90, got “0”"),
        ("/promo new OTHER percent=ten", "got “ten”"),
        ("/promo new OTHER days=400", "days must be a whole number from 1 to 365"),
        ("/promo new OTHER percent=5 limit=-1", "limit must be a whole number from 1 to"),
        ("/promo new OTHER percent=5 plans=gold", "There is no plan “gold” (plans: basic"),
        ("/promo new OTHER percent=5 expires=2026-11-01", "already passed"),
        ("/promo new OTHER percent=5 expires=soon", "“soon” is not a date"),
        ("/promo new OTHER", "Give exactly one of percent= or days="),
        ("/promo new OTHER percent=5 days=5", "Give exactly one of percent= or days="),
        ("/promo new OTHER percent=5 colour=red", "There is no option “colour”"),
        ("/promo new", "Give the code and its terms"),
    ]:
        answer = await staff_says(tg, text)
        assert words in answer and "Nothing was created." in answer, (text, answer)
    assert await count(running_bot, PromoCode) == 2

    listed = await staff_says(tg, "/promo list")
    assert "SPRING20: 20% off the next payment · Plus, Pro" in listed and "used 0" in listed
    assert "WEEK: 7 free days · every plan · no limit of uses · no end date" in listed

    assert "Code WEEK disabled" in await staff_says(tg, "/promo off week")
    assert "was already disabled" in await staff_says(tg, "/promo off WEEK")
    assert "There is no code “NOPE”" in await staff_says(tg, "/promo off NOPE")
    assert "disabled" in (await staff_says(tg, "/promo list")).split("WEEK")[1]

    async with running_bot.container.sessions() as session:
        actions = [
            (a.action, a.arguments.get("code"))
            for a in await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]
    assert ("promo_new", "SPRING20") in actions and ("promo_new", "WEEK") in actions
    assert actions.count(("promo_off", "WEEK")) == 1


async def test_a_percent_code_lowers_the_next_invoice_once_and_counts_in_stats(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    await new_code(tg, "SPRING20 percent=20 plans=plus,pro")
    user = await trial_user(tg, 5101)
    await user.send_text("/promo spring20")
    assert "Code SPRING20 applied: 20% off your next payment for Plus, Pro." in (
        user.last_message.text
    )
    await user.send_text("/plans")
    assert user.last_message.text.startswith(
        "🎟 Your code SPRING20 takes 20% off your next payment for Plus, Pro: the invoice"
    )
    await user.press("Plus · 300 ⭐ / month")
    link_message = user.last_message
    # The price shown is the price charged.
    assert "240 ⭐ every 30 days (20% off the regular 300 ⭐" in link_message.text
    link = tg.calls_to("createInvoiceLink")[-1].params
    assert int(link["prices"][0]["amount"]) == 240
    paid = await user.press(link_message.button_texts[0])
    assert paid.accepted, paid.error_message
    assert (await snap(running_bot, 5101)).membership.plan_id == "plus"
    [used] = await events(running_bot, 5101, "promo_paid")
    assert (used.data["full"], used.data["amount"], used.data["discount"]) == (300, 240, 60)

    # The discount is taken: the next invoice (a year of Pro) is at the full price.
    await user.send_text("/plans")
    assert "SPRING20" not in user.last_message.text
    await user.press("Pro · 6\u202f000 ⭐ / year")
    assert int(tg.calls_to("sendInvoice")[-1].params["prices"][0]["amount"]) == 6000
    # Using the code again is refused.
    await user.send_text("/promo SPRING20")
    assert "You have already used the code SPRING20" in user.last_message.text

    staff = tg.user(STAFF_ID)
    await staff.send_text("/stats")
    report = next(m.text for m in reversed(staff.messages) if "Codes redeemed" in (m.text or ""))
    assert "Codes redeemed: 1; payments at a code's price: 1, discount given: 60 ⭐" in report


async def test_a_yearly_invoice_at_the_code_price(tg: FakeBotAPI, running_bot: Runtime) -> None:
    await new_code(tg, "YEAR10 percent=10 plans=pro")
    user = tg.add_user(5102, "Ivo", language_code="it")
    await user.start("p_year10")  # a start link: the greeting, then the code
    greeting, applied = user.messages[-2].text, user.last_message.text
    assert "Codice YEAR10 applicato: 10% di sconto sul prossimo pagamento per Pro" in applied
    assert greeting and "YEAR10" not in greeting
    await user.send_text("/plans")
    await user.press("Pro · 6\u202f000 ⭐ / anno")
    invoice = tg.calls_to("sendInvoice")[-1].params
    assert int(invoice["prices"][0]["amount"]) == 5400
    assert "5\u202f400 ⭐" in invoice["description"] and "10%" in invoice["description"]
    paid = await user.pay(user.last_message)
    assert paid.accepted, paid.error_message
    assert len(await events(running_bot, 5102, "promo_paid")) == 1
    # The next year is at the full price: the code is used up, and a price paid with a code
    # is never the price kept for this member.
    await user.send_text("/plans")
    await user.press("Pro · 6\u202f000 ⭐ / anno")
    async with running_bot.container.sessions() as session:
        amounts = list(await session.scalars(select(Invoice.amount).order_by(Invoice.id)))
    assert amounts == [5400, 6000]


async def test_a_days_code_extends_a_trial_in_romanian(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    await new_code(tg, "WEEK days=7 plans=plus")
    user = await trial_user(tg, 5103, language="ro")
    await user.send_text("/promo week")
    text = user.last_message.text
    assert "Codul WEEK a fost aplicat: 7 zile în plus." in text
    assert "ține acum până pe 7 decembrie 2026" in text
    assert (await snap(running_bot, 5103)).membership.period_end == START + timedelta(days=14)


async def test_every_refusal_has_its_sentence(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    await new_code(tg, "ONCE percent=10 limit=1")
    await new_code(tg, "SOON percent=10 expires=2026-11-30")
    await new_code(tg, "OFF percent=10")
    await new_code(tg, "PROWEEK days=7 plans=pro")
    await new_code(tg, "WEEK days=7")
    await staff_says(tg, "/promo off OFF")
    first = await trial_user(tg, 5104)
    await first.send_text("/promo ONCE")
    assert "applied" in first.last_message.text

    user = await trial_user(tg, 5105)
    nobody = tg.add_user(5106, "Nina")
    await nobody.start()

    async def says(who: FakeUser, text: str) -> str:
        await who.send_text(text)
        return who.last_message.text

    assert "Send the code after the command" in await says(user, "/promo")
    assert "Send the code after the command" in await says(user, "/promo TWO WORDS")
    assert "There is no code “NOPE”" in await says(user, "/promo nope")
    assert "There is no code “x!”" in await says(user, "/promo x!")
    assert "has been used as many times as it allows" in await says(user, "/promo once")
    assert "The code OFF is no longer valid" in await says(user, "/promo off")
    assert "is for Pro, not for your plan" in await says(user, "/promo PROWEEK")
    assert "you have none running now" in await says(nobody, "/promo WEEK")
    clock.advance(timedelta(days=7, hours=14))  # 1 December, 00:00 UTC
    assert "The code SOON has expired" in await says(user, "/promo SOON")
    # A start link with a broken code greets, then says the code is unknown.
    await nobody.start("p_no$such")
    assert "There is no code" in nobody.last_message.text
    # Refusals count no use.
    async with running_bot.container.sessions() as session:
        uses = dict((await session.execute(select(PromoCode.code, PromoCode.uses))).all())
    assert uses == {"ONCE": 1, "SOON": 0, "OFF": 0, "PROWEEK": 0, "WEEK": 0}


async def test_italian_refusals(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = await trial_user(tg, 5107, language="it")
    await user.send_text("/promo NOPE")
    assert "Il codice “NOPE” non esiste" in user.last_message.text
