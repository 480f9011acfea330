"""Points in chat (issue 19) through the fake Bot API: earned on a paid month and its renewal,
shown in /account, redeemed for extra days or an add-on in /points (too few points said
clearly), and the expiry notice some days before, then the expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from forever.db.models import AddonPurchase, PointEntry
from forever.domain.clock import ManualClock
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.wiring.email import run_due_work
from forever.wiring.points import points_ledger
from tests.conftest import STAFF_ID, START
from tests.e2e.chat_helpers import count, snap
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user


async def _person_id(bot: Runtime, telegram_id: int) -> int:
    return (await snap(bot, telegram_id)).person_id


async def test_earn_on_payment_then_redeem_days_after_too_few(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 4301)
    _, paid = await subscribe_monthly(user)
    assert paid.accepted, paid.error_message
    await user.send_text("/account")
    text = user.last_message.text
    assert "Points: 10" in text and "earned +10 (paid membership)" in text
    # Telegram charges the next month: ten more points, once for the charge.
    clock.advance(timedelta(days=30))
    assert (await tg.renew_subscription(user, paid.charge_id)).accepted
    await user.send_text("/points")
    view = user.last_message
    assert "Your points: 20" in view.text
    assert "7 extra days of membership: 100 points" in view.text
    assert view.button_texts == ["Coaching call · 300 points", "7 extra days · 100 points"]

    answer = await user.press("7 extra days · 100 points")
    assert answer is not None and answer.show_alert
    assert answer.text == (
        "You have 20 points; this needs 100. Earn more with each paid month of membership."
    )
    assert user.last_message.text == answer.text

    # Two friends joined through the person's link: the referral hook gives 50 points each.
    ledger = points_ledger(running_bot.container)
    person_id = await _person_id(running_bot, 4301)
    await ledger.earn_for("referral_rewarded", person_id, "friend-1")
    await ledger.earn_for("referral_rewarded", person_id, "friend-2")
    end_before = (await snap(running_bot, 4301)).membership.period_end
    assert end_before is not None
    await user.send_text("/points")
    await user.press("7 extra days · 100 points")
    assert user.last_message.text.startswith("Done! Your membership now lasts 7 days longer, until")
    assert "You have 20 points left." in user.last_message.text
    state = await snap(running_bot, 4301)
    assert state.membership.period_end == end_before + timedelta(days=7)
    assert state.membership.state.value == "active" and state.membership.auto_renew
    await user.send_text("/account")
    assert "Points: 20" in user.last_message.text
    assert "redeemed -100" in user.last_message.text

    # Telegram's next charge comes on its own schedule; the days redeemed are kept after it.
    clock.advance(timedelta(days=30))
    assert (await tg.renew_subscription(user, paid.charge_id)).accepted
    assert (await snap(running_bot, 4301)).membership.period_end == (
        end_before + timedelta(days=7 + 30)
    )


async def test_redeem_an_add_on_from_account_in_romanian(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 4302, language="ro")  # a trial of Plus may have coaching
    await points_ledger(running_bot.container).earn(
        await _person_id(running_bot, 4302), 320, "gift", "test"
    )
    await user.send_text("/account")
    assert "Puncte: 320" in user.last_message.text
    await user.press("Punctele mele")
    assert "Punctele tale: 320" in user.last_message.text
    await user.press("Sesiune de coaching · 300 de puncte")
    assert user.last_message.text == ("Gata! Ai acum Sesiune de coaching. Îți rămân 20 de puncte.")
    assert await count(running_bot, AddonPurchase, addon_id="coaching", stars=0) == 1
    # The same tap again (a second press is a new tap): now too few points.
    answer = await user.press("Sesiune de coaching · 300 de puncte")
    assert answer is not None and answer.show_alert
    assert answer.text.startswith("Ai 20 de puncte; pentru asta trebuie 300.")
    await user.send_text("/account")
    assert "Sesiune de coaching × 1" in user.last_message.text
    assert await count(running_bot, PointEntry, kind="redeem") == 1

    # Bought with points, not Stars: a staff /refund of it asks Telegram for nothing.
    async with running_bot.container.sessions() as session:
        charge = (await session.execute(AddonPurchase.__table__.select())).one()
    staff = tg.user(STAFF_ID)
    await staff.send_text(f"/refund {charge.telegram_payment_charge_id}")
    assert staff.last_message.text.startswith("Nobody and no payment found")
    assert not tg.calls_to("refundStarPayment")


async def test_expiry_notice_some_days_before_then_the_points_expire(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 4303, language="it")
    _, paid = await subscribe_monthly(user, label="Plus · 300 ⭐ / mese")
    assert paid.accepted, paid.error_message
    container = running_bot.container
    notice = "Un promemoria: 10 dei tuoi punti scadono entro il 23 novembre 2027"

    def notices() -> list[str]:
        return [m.text for m in user.messages if m.text.startswith("Un promemoria")]

    async def notices_soon() -> list[str]:
        """The notice leaves through the outbox; the woken delivery worker or the drain
        hands it over within moments of the sweep."""
        for _ in range(100):  # 2 s at most
            if notices():
                break
            await asyncio.sleep(0.02)
        return notices()

    clock.set(START + timedelta(days=365 - 20))  # 20 days before the expiry: not yet
    await run_due_work(container, clock.now(), running_bot.chat)
    assert notices() == []
    clock.set(START + timedelta(days=365 - 13))  # within the 14 days' notice
    assert (await run_due_work(container, clock.now(), running_bot.chat))["points"] == 1
    assert await notices_soon() == [
        f"{notice} (ne hai 10). Apri /points per usarli per un extra "
        "o per giorni in più prima di allora."
    ]
    clock.advance(timedelta(days=1))
    await run_due_work(container, clock.now(), running_bot.chat)
    assert len(notices()) == 1  # once per expiry date

    clock.set(START + timedelta(days=366))
    results = await run_due_work(container, clock.now(), running_bot.chat)
    assert results["points"] == 1
    await user.send_text("/points")
    assert "I tuoi punti: 0" in user.last_message.text
    assert "scaduti -10" in user.last_message.text
    assert (await run_due_work(container, clock.now(), running_bot.chat))["points"] == 0


async def test_staff_see_outstanding_points_as_a_liability_in_stats(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 4304)
    _, paid = await subscribe_monthly(user)  # earns 10
    assert paid.accepted, paid.error_message
    ledger = points_ledger(running_bot.container)
    await ledger.earn_for("referral_rewarded", await _person_id(running_bot, 4304), "f1")
    await ledger.earn(await _person_id(running_bot, 4304), 91, "gift", "test")  # 151 in all
    await user.send_text("/points")
    await user.press("7 extra days · 100 points")
    staff = tg.user(STAFF_ID)
    await staff.send_text("/stats")
    report = staff.messages[-2].text
    assert "Last 30 days" in report
    assert "Outstanding now: 51 points, worth 26 ⭐" in report  # 0.5 ⭐ a point, rounded
    assert "Last 30 days: earned 151, redeemed 100, expired 0" in report


async def test_a_staff_refund_takes_back_the_points_the_payment_earned(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    container = running_bot.container
    # Kept: the points the refunded payment earned go, and only those.
    kept = await trial_user(tg, 4305)
    _, paid = await subscribe_monthly(kept)
    assert paid.accepted, paid.error_message
    await points_ledger(container).earn(await _person_id(running_bot, 4305), 7, "gift", "t")
    staff = tg.user(STAFF_ID)
    await staff.send_text(f"/refund {paid.charge_id}")
    await staff.press("Refund 300 ⭐")
    await kept.send_text("/points")
    assert "Your points: 7" in kept.last_message.text
    assert "taken back (refund) -10" in kept.last_message.text

    # Spent already: the balance goes to zero, never below, and the shortfall is recorded.
    spent = await trial_user(tg, 4306)
    _, paid = await subscribe_monthly(spent)
    assert paid.accepted, paid.error_message
    await points_ledger(container).earn(await _person_id(running_bot, 4306), 94, "gift2", "t")
    await spent.send_text("/points")
    await spent.press("7 extra days · 100 points")
    assert "You have 4 points left." in spent.last_message.text
    await staff.send_text(f"/refund {paid.charge_id}")
    await staff.press("Refund 300 ⭐")
    await spent.send_text("/points")
    assert "Your points: 0" in spent.last_message.text
    assert "taken back (refund) -4" in spent.last_message.text
    assert await count(running_bot, PointEntry, kind="revoke", reason="paid_month short 6") == 1
