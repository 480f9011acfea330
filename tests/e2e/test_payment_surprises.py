"""Stars payments that must not surprise anyone (issue 16, items 1-4), through the fake Bot
API: a renewal charged after a cancel, a late charge of a replaced subscription, a payment from
someone the invoice is not for, and a payment that does not match its invoice. Each is given
back with refundStarPayment (once, even when delivered twice), said in one honest sentence,
and grants nothing; the last two alert staff."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from sqlalchemy import select

from forever.domain.catalog import LateCharge
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI, FakeUser
from forever.sandbox.fake_bot_api.users import PaymentResult
from tests.conftest import STAFF_ID, START
from tests.e2e.chat_helpers import Payment, events, snap
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user


def refunds(tg: FakeBotAPI) -> list[tuple[int, str]]:
    return [
        (int(c.params["user_id"]), str(c.params["telegram_payment_charge_id"]))
        for c in tg.calls_to("refundStarPayment")
    ]


async def refunds_soon(tg: FakeBotAPI, wanted: tuple[int, str]) -> list[tuple[int, str]]:
    """The refund leaves through the outbox after the commit; the worker is woken at once."""
    for _ in range(150):  # 3 s at most
        if wanted in refunds(tg):
            break
        await asyncio.sleep(0.02)
    return refunds(tg)


async def staff_told_soon(tg: FakeBotAPI, needle: str) -> list[str]:
    staff = tg.user(STAFF_ID)
    for _ in range(150):
        texts = [m.text or "" for m in staff.messages]
        if any(needle in t for t in texts):
            break
        await asyncio.sleep(0.02)
    return [m.text or "" for m in staff.messages]


async def refunded_at(bot: Runtime, charge_id: str) -> object:
    async with bot.container.sessions() as session:
        return await session.scalar(
            select(Payment.refunded_at).where(Payment.telegram_charge_id == charge_id)
        )


async def delivered_again(tg: FakeBotAPI, user: FakeUser, paid: PaymentResult) -> None:
    """Telegram delivers the same successful_payment a second time: nothing more happens."""
    assert paid.message is not None
    before = len(user.messages)
    duplicate = dict(paid.message.to_json())
    duplicate["message_id"] = paid.message.message_id + 1000
    await tg.send_update({"message": duplicate})
    await asyncio.sleep(0.3)  # time for a (wrong) second refund to leave
    assert len(user.messages) == before


async def cancelled_member(tg: FakeBotAPI, user_id: int) -> tuple[FakeUser, PaymentResult]:
    user = await trial_user(tg, user_id)
    _, paid = await subscribe_monthly(user)
    assert paid.accepted
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    return user, paid


async def test_a_renewal_charged_after_a_cancel_is_refunded_and_the_cancel_stands(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user, paid = await cancelled_member(tg, 7001)
    assert (await snap(running_bot, 7001)).membership.state.value == "cancel_scheduled"
    clock.advance(timedelta(days=30))
    # Telegram took the charge just before the cancel reached it.
    late = await tg.renew_subscription(user, paid.charge_id, charged_before_cancel=True)
    assert late.accepted and late.charge_id is not None
    said = user.last_message.text
    assert "after you had cancelled" in said and "refunding it in full" in said
    assert "renew" not in said.replace("nothing renewing", "")
    assert await refunds_soon(tg, (7001, late.charge_id)) == [(7001, late.charge_id)]
    assert tg.state.payments[late.charge_id].refunded
    state = await snap(running_bot, 7001)
    assert state.membership.state.value == "cancel_scheduled"
    assert not state.membership.auto_renew and not state.renewing_star_subscription
    assert state.membership.period_end == START + timedelta(days=30)  # nothing added
    assert await refunded_at(running_bot, late.charge_id) is not None
    reasons = [e.data["reason"] for e in await events(running_bot, 7001, EventKind.REFUNDED)]
    assert reasons == ["late_charge_after_cancel"]
    assert await events(running_bot, 7001, EventKind.RENEWED) == []
    await user.send_text("/account")
    assert "Renews on" not in user.last_message.text
    # The same charge delivered twice is refunded once.
    await delivered_again(tg, user, late)
    assert refunds(tg) == [(7001, late.charge_id)]


async def test_a_renewal_after_a_cancel_in_telegrams_settings_is_refunded_too(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 7004)
    _, paid = await subscribe_monthly(user)
    assert paid.accepted and paid.invoice_payload is not None
    await tg.send_subscription_update(user, paid.invoice_payload, "canceled")
    assert (await snap(running_bot, 7004)).membership.state.value == "cancel_scheduled"
    clock.advance(timedelta(days=30))
    late = await tg.renew_subscription(user, paid.charge_id, charged_before_cancel=True)
    assert late.charge_id is not None
    assert "after you had cancelled" in user.last_message.text
    assert await refunds_soon(tg, (7004, late.charge_id)) == [(7004, late.charge_id)]
    state = await snap(running_bot, 7004)
    assert state.membership.state.value == "cancel_scheduled" and not state.membership.auto_renew


async def test_the_catalog_may_keep_a_late_charge_adding_the_month_still_cancelled(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    container = running_bot.container
    container.catalog = dataclasses.replace(
        container.catalog, late_charge_after_cancel=LateCharge.KEEP
    )
    user, paid = await cancelled_member(tg, 7002)
    clock.advance(timedelta(days=30))
    late = await tg.renew_subscription(user, paid.charge_id, charged_before_cancel=True)
    assert late.accepted
    said = user.last_message.text
    assert "we kept it and added the 30 days it pays for" in said
    assert "stays cancelled, with nothing renewing after that" in said
    state = await snap(running_bot, 7002)
    assert state.membership.state.value == "cancel_scheduled"
    assert not state.membership.auto_renew
    assert state.membership.period_end == START + timedelta(days=60)
    await user.send_text("/account")
    assert "Renews on" not in user.last_message.text
    await asyncio.sleep(0.3)
    assert refunds(tg) == []


async def test_a_late_charge_of_a_replaced_subscription_is_refunded(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 7003)
    _, basic = await subscribe_monthly(user, "Basic · 150 ⭐ / month")
    _, plus = await subscribe_monthly(user, "Plus · 300 ⭐ / month")
    assert basic.accepted and plus.accepted
    before = (await snap(running_bot, 7003)).membership
    assert before.plan_id == "plus"
    clock.advance(timedelta(days=30))
    late = await tg.renew_subscription(user, basic.charge_id, charged_before_cancel=True)
    assert late.accepted and late.charge_id is not None
    said = user.last_message.text
    assert "for your earlier Basic subscription, which we had already stopped" in said
    assert "refunding it in full" in said and "membership renewed" not in said
    assert await refunds_soon(tg, (7003, late.charge_id)) == [(7003, late.charge_id)]
    after = (await snap(running_bot, 7003)).membership
    assert after == before  # still Plus, same period, still renewing
    await delivered_again(tg, user, late)
    assert refunds(tg) == [(7003, late.charge_id)]


async def test_a_payment_from_someone_else_is_refunded_to_them_and_staff_alerted(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    owner = tg.add_user(7010, "Owner")
    await owner.send_text("/plans")
    await owner.press("Plus · 300 ⭐ / month")
    link = owner.last_message.buttons[0][0].target
    other = tg.add_user(7011, "Other")
    await other.start()
    paid = await tg.pay_without_pre_checkout(other, link)
    assert paid.accepted and paid.charge_id is not None
    assert "invoice made for someone else" in other.last_message.text
    assert "refunding it in full" in other.last_message.text
    assert await refunds_soon(tg, (7011, paid.charge_id)) == [(7011, paid.charge_id)]
    staff = await staff_told_soon(tg, paid.charge_id)
    alert = next(t for t in staff if paid.charge_id in t)
    assert "Payment refunded automatically" in alert and "(paid by someone else)" in alert
    assert "7011" in alert and "7010" in alert
    # Nobody got anything.
    assert (await snap(running_bot, 7010)).membership.state.value == "none"
    assert (await snap(running_bot, 7011)).membership.state.value == "none"
    assert await refunded_at(running_bot, paid.charge_id) is not None
    await delivered_again(tg, other, paid)
    assert refunds(tg) == [(7011, paid.charge_id)]


async def test_a_payment_that_does_not_match_its_invoice_grants_nothing(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = await trial_user(tg, 7020)
    trial = (await snap(running_bot, 7020)).membership
    await user.send_text("/plans")
    await user.press("Basic · 1\u202f500 ⭐ / year")
    invoice = user.last_message
    paid = await tg.pay_without_pre_checkout(user, invoice, amount=1)
    assert paid.accepted and paid.total_amount == 1 and paid.charge_id is not None
    said = user.last_message.text
    assert "did not match what the invoice asked for" in said
    assert "refunding it in full" in said
    assert await refunds_soon(tg, (7020, paid.charge_id)) == [(7020, paid.charge_id)]
    alert = next(t for t in await staff_told_soon(tg, paid.charge_id) if paid.charge_id in t)
    assert "(wrong amount or currency)" in alert and "1 XTR" in alert and "1500 XTR" in alert
    assert (await snap(running_bot, 7020)).membership == trial  # still the trial, no year
    await user.send_text("/account")
    assert "trial" in user.last_message.text.lower()
    await delivered_again(tg, user, paid)
    assert refunds(tg) == [(7020, paid.charge_id)]
