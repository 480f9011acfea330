"""Stable prices (issue 18): a member keeps the price they were sold; the button names it."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from forever.db.models import AuditEntry, Event, Payment, Person, Subscription
from forever.domain.clock import ManualClock
from forever.domain.payments import InvoiceKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.winback import winback_start_parameter
from forever.wiring import customers
from forever.wiring.email import run_sweeps
from forever.wiring.experiments import experiment_desk
from tests.conftest import STAFF_ID, START
from tests.e2e.chat_helpers import snap
from tests.e2e.test_access import settle
from tests.e2e.test_chat_cancel import paying_user
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user


async def sold_at(bot: Runtime, telegram_id: int, stars: int) -> None:
    """As if the catalog said `stars` for Plus when this member bought it (it says 300 now)."""
    async with bot.container.sessions() as session, session.begin():
        person_id = (
            await session.execute(
                Person.__table__.select().where(Person.telegram_id == telegram_id)
            )
        ).first()[0]
        await session.execute(
            update(Payment).where(Payment.person_id == person_id).values(amount=stars)
        )


async def test_a_catalog_price_change_leaves_an_existing_members_price_alone(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user, _ = await paying_user(tg, 4801)
    await sold_at(running_bot, 4801, 250)  # the catalog has since gone up to 300
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Not using it enough")
    await user.press("Pause 1 month")
    clock.advance(timedelta(days=10))
    await user.send_text("/account")
    await user.press("Resume now")
    # The button names the price the member pays, and the link charges exactly that.
    assert user.last_message.button_texts == ["Renew · 250 ⭐ / month"]
    paid = await user.press("Renew · 250 ⭐ / month")
    assert paid.accepted and paid.total_amount == 250
    assert (await snap(running_bot, 4801)).membership.period_end == START + timedelta(days=70)
    renewal = await tg.renew_subscription(user, paid.charge_id)
    assert renewal.accepted and renewal.total_amount == 250


async def test_a_new_member_pays_the_catalog_price(tg: FakeBotAPI, running_bot: Runtime) -> None:
    await paying_user(tg, 4802)
    await sold_at(running_bot, 4802, 250)  # someone else's old price changes nothing here
    newcomer = await trial_user(tg, 4803)
    _, paid = await subscribe_monthly(newcomer, "Plus · 300 ⭐ / month")
    assert paid.accepted and paid.total_amount == 300


async def issue_plus(bot: Runtime, telegram_id: int) -> int:
    """What a new Plus subscription link would charge this member now."""
    container = bot.container
    async with container.sessions() as session:
        person_id = await session.scalar(select(Person.id).where(Person.telegram_id == telegram_id))
    plan = container.catalog.plan("plus")
    assert person_id is not None and plan is not None
    issued = await customers.build(container).invoicing.issue(
        person_id, plan, InvoiceKind.SUBSCRIPTION
    )
    return issued.amount


async def test_staff_migrate_a_plans_members_with_notice_in_their_language(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    english, _ = await paying_user(tg, 4811)
    romanian, _ = await paying_user(tg, 4812, "ro", "Plus · 300 ⭐ / lună")
    await paying_user(tg, 4813)  # pays today's price: not moved, not told
    await sold_at(running_bot, 4811, 250)
    await sold_at(running_bot, 4812, 250)
    before = (len(english.messages), len(romanian.messages))

    staff = tg.user(STAFF_ID)
    await staff.send_text("/migrateprice plus")
    preview = staff.last_message.text
    assert "2 members of plus keep an older price:\n• 2 monthly" in preview
    assert "2 monthly: 250 ⭐ → 300 ⭐" in preview
    assert "applies from 23 December 2026" in preview
    await settle(tg, running_bot)
    assert (len(english.messages), len(romanian.messages)) == before  # a preview tells nobody

    await staff.send_text("/migrateprice plus confirm")
    assert "Done: 2 members of plus are being told" in staff.last_message.text
    await staff.send_text("/migrateprice plus confirm")  # a second tap moves nobody again
    assert "Nobody to move on plus" in staff.last_message.text
    await settle(tg, running_bot)
    told_en = english.messages[before[0] :]
    told_ro = romanian.messages[before[1] :]
    assert len(told_en) == 1 and len(told_ro) == 1  # one notice each
    assert "from 23 December 2026, the month costs 300 ⭐ instead of the 250 ⭐" in told_en[0].text
    assert "de pe 23 decembrie 2026, luna costă 300 ⭐ în loc de 250 ⭐" in told_ro[0].text

    # Until the stated date they keep their price; from it, the catalog's.
    clock.advance(timedelta(days=29))
    assert await issue_plus(running_bot, 4811) == 250
    clock.advance(timedelta(days=1))
    assert await issue_plus(running_bot, 4811) == 300
    assert await issue_plus(running_bot, 4812) == 300
    async with running_bot.container.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
        moved = (await session.scalars(select(Event).where(Event.kind == "price_migrated"))).all()
    assert actions == ["price_migration_preview", "price_migration", "price_migration"]
    assert sorted(e.data["old"] for e in moved) == [250, 250]


async def test_an_upgrade_credits_the_days_left_at_the_price_paid(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 4821)
    await subscribe_monthly(user)
    await sold_at(running_bot, 4821, 250)  # Plus was sold at 250, the catalog now says 300
    clock.advance(timedelta(days=2))
    _, pro = await subscribe_monthly(user, "Pro · 600 ⭐ / month")
    assert pro.accepted
    # 28 days left at 250 per 30 days are worth 233 ⭐: 11 days of Pro (not 280 ⭐ and 14).
    told = " ".join(m.text for m in user.messages[-4:])
    assert "28 days left on Plus (worth 233 ⭐) become 11 extra days on Pro" in told
    state = await snap(running_bot, 4821)
    assert state.membership.period_end == START + timedelta(days=2 + 30 + 11)


async def test_a_cancel_offer_names_and_charges_the_members_own_price(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user, _ = await paying_user(tg, 4831)
    await sold_at(running_bot, 4831, 250)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Too expensive")
    assert "175 ⭐ every 30 days instead of 250 ⭐" in user.last_message.text
    await user.press("Take 30% off, renewing")
    link_message = user.last_message
    assert "175 ⭐ every 30 days (30% off the regular 250 ⭐" in link_message.text
    paid = await user.press(link_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 175


async def test_whatif_reads_the_prices_charged_from_the_payments(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    await paying_user(tg, 4841)
    await paying_user(tg, 4842)
    await sold_at(running_bot, 4842, 250)
    clock.advance(timedelta(days=91))  # both paid once: their paid access ended in 90 days
    found = await experiment_desk(running_bot.container).what_if("plus", 250)
    assert found is not None and found.at_price is None  # no experiment: no conversion
    by_price = {h.stars: h for h in found.history}
    assert (by_price[250].measured, by_price[250].churned) == (1, 1)
    assert (by_price[300].measured, by_price[300].churned) == (1, 1)
    assert by_price[300].paid_churn_90d is None and by_price[300].needed == 99


async def test_a_winback_offer_names_and_charges_the_former_members_own_price(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user, _ = await paying_user(tg, 4851)
    await sold_at(running_bot, 4851, 250)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    clock.advance(timedelta(days=40))
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    state = await snap(running_bot, 4851)
    parameter = winback_start_parameter(
        running_bot.container.signer, state.person_id, "discount_30", clock.now() + timedelta(14)
    )
    await user.start(parameter)
    assert "175 ⭐ every 30 days instead of 250 ⭐" in user.messages[-2].text
    assert "30% off the regular 250 ⭐" in user.last_message.text
    paid = await user.press(user.last_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 175


def last_invoice(tg: FakeBotAPI) -> tuple[str, int]:
    """The description Telegram's payment screen shows, and the Stars the invoice charges."""
    params = tg.calls_to("createInvoiceLink")[-1].params
    prices = params["prices"]
    if isinstance(prices, str):
        prices = json.loads(prices)
    return params["description"], sum(int(p["amount"]) for p in prices)


async def test_the_payment_screen_names_the_kept_price_it_charges(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    """A price seen is the price charged: the invoice's own description, too."""
    user, _ = await paying_user(tg, 4861)
    await sold_at(running_bot, 4861, 250)  # the catalog now says 300
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    await user.press("Not using it enough")
    await user.press("Pause 1 month")
    clock.advance(timedelta(days=10))
    await user.send_text("/account")
    await user.press("Resume now")
    description, amount = last_invoice(tg)
    assert amount == 250
    assert "250 ⭐" in description and "300" not in description


async def test_the_payment_screen_of_an_offer_names_its_price_in_each_language(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    cases = [
        (4862, "en", "Plus · 300 ⭐ / month", "Yes, cancel", "Too expensive"),
        (4863, "ro", "Plus · 300 ⭐ / lună", "Da, anulează", "Prea scump"),
        (4864, "it", "Plus · 300 ⭐ / mese", "Sì, annulla", "Troppo caro"),
    ]
    for telegram_id, language, plus, confirm, too_expensive in cases:
        user, _ = await paying_user(tg, telegram_id, language, plus)
        await sold_at(running_bot, telegram_id, 250)  # the catalog now says 300
        await user.send_text("/cancel")
        await user.press(confirm)
        await user.press(too_expensive)
        await user.press(user.last_message.button_texts[0])  # 30% off, renewing
        description, amount = last_invoice(tg)
        assert amount == 175, language
        assert "175 ⭐" in description, (language, description)
        assert "300" not in description and "250" not in description, description


async def left_long_ago(tg: FakeBotAPI, bot: Runtime, clock: ManualClock, telegram_id: int):
    """A Plus member sold at 250 (the catalog now says 300) who cancelled on day 0: their
    paid access ends on day 30."""
    user, _ = await paying_user(tg, telegram_id)
    await sold_at(bot, telegram_id, 250)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    return user


async def test_a_former_member_keeps_their_price_for_90_days_after_access_ended(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    early = await left_long_ago(tg, running_bot, clock, 4871)
    late = await left_long_ago(tg, running_bot, clock, 4872)
    ended = START + timedelta(days=30)
    clock.advance(ended + timedelta(days=89) - clock.now())
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    assert (await snap(running_bot, 4871)).membership.state.value == "expired"

    # Day 89 after paid access ended: still their own price, for an offer and for a plain
    # re-subscription.
    assert await issue_plus(running_bot, 4871) == 250
    await early.send_text("/plans")  # the list names the price the link will charge
    assert "Plus · 250 ⭐ / month" in early.last_message.button_texts
    state = await snap(running_bot, 4871)
    parameter = winback_start_parameter(
        running_bot.container.signer, state.person_id, "discount_30", clock.now() + timedelta(14)
    )
    await early.start(parameter)
    assert "30% off the regular 250 ⭐" in early.last_message.text
    paid = await early.press(early.last_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 175

    # Day 91: a new member again, at the catalog price; an offer applies to that.
    clock.advance(timedelta(days=2))
    assert await issue_plus(running_bot, 4872) == 300
    await late.send_text("/plans")
    assert "Plus · 300 ⭐ / month" in late.last_message.button_texts
    state = await snap(running_bot, 4872)
    parameter = winback_start_parameter(
        running_bot.container.signer, state.person_id, "discount_30", clock.now() + timedelta(14)
    )
    await late.start(parameter)
    assert "30% off the regular 300 ⭐" in late.last_message.text
    paid = await late.press(late.last_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 210


async def test_the_upgrade_prompt_names_the_members_own_price(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    from forever.wiring import customers as uses

    keeper, _ = await paying_user(tg, 4881, label="Basic · 150 ⭐ / month")
    await sold_at(running_bot, 4881, 120)  # sold at 120; the catalog now says 150
    other, _ = await paying_user(tg, 4882, label="Basic · 150 ⭐ / month")
    record_usage = uses.build(running_bot.container).record_usage
    assert await record_usage(4881, 12) == 12
    assert await record_usage(4882, 12) == 12
    clock.advance(timedelta(hours=1))
    assert (await run_sweeps(running_bot.container, clock.now(), running_bot.chat))[
        "upgrade_prompts"
    ] == 2
    await settle(tg, running_bot)
    assert "<b>Basic</b> · 120 ⭐/mo (your plan)" in keeper.last_message.html
    assert "<b>Plus</b> · 300 ⭐/mo" in keeper.last_message.html
    assert "<b>Basic</b> · 150 ⭐/mo (your plan)" in other.last_message.html


async def test_account_names_the_kept_price_when_no_stars_subscription_is_on_record(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    """/account's renewal line names what the member would actually be charged: the older
    price they keep, not the catalog's, also when no Stars subscription of theirs is on
    record (its charge id lost, as for a membership moved in from elsewhere)."""
    user, _ = await paying_user(tg, 4811)
    await sold_at(running_bot, 4811, 250)  # the catalog has since gone up to 300
    async with running_bot.container.sessions() as session, session.begin():
        person_id = await session.scalar(select(Person.id).where(Person.telegram_id == 4811))
        await session.execute(
            update(Subscription)
            .where(Subscription.person_id == person_id)
            .values(star_charge_id=None, star_payload=None)
        )
    await user.send_text("/account")
    text = user.last_message.text or ""
    assert "then 250 ⭐ every 30 days" in text
    assert "300 ⭐" not in text
