"""Stable prices (issue 18): a member keeps the price they were sold; the button names it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from forever.db.models import Payment, Person
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import START
from tests.e2e.chat_helpers import snap
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
