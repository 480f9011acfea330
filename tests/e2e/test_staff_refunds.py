"""/refund through the fake Bot API: staff see the payment, confirm with a tap, Telegram is
asked for the Stars back (through the outbox), the access the payment bought is taken off,
the customer is told in their language; twice is refused, and nobody else can do it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from forever.db.models import AuditEntry, OutboxMessage, Payment, Person
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.refunds import RefundOutcome, StaffRefunds
from forever.wiring.staff import chat_dependencies
from tests.conftest import STAFF_ID, START
from tests.e2e.chat_helpers import (
    count,
    edits_soon,
    events,
    snap,
    unanswered_callbacks,
)
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user


def refunds(tg: FakeBotAPI) -> list[tuple[int, str]]:
    return [
        (int(c.params["user_id"]), str(c.params["telegram_payment_charge_id"]))
        for c in tg.calls_to("refundStarPayment")
    ]


async def refunds_soon(tg: FakeBotAPI, wanted: tuple[int, str]) -> list[tuple[int, str]]:
    """refundStarPayment leaves through the outbox after the commit; the worker is woken at
    once, so it reaches Telegram within about a second of the tap."""
    for _ in range(150):  # 3 s at most
        if wanted in refunds(tg):
            break
        await asyncio.sleep(0.02)
    return refunds(tg)


async def messages_soon(user, before: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(150):
        if len(user.messages) > before:
            return
        await asyncio.sleep(0.02)


async def set_language(bot: Runtime, telegram_id: int, language: str) -> None:
    async with bot.container.sessions.begin() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
        assert person is not None
        person.language = language


async def test_refunding_a_members_only_payment_ends_her_access_and_tells_her(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    ana = await trial_user(tg, 5101)
    _, paid = await subscribe_monthly(ana)
    assert paid.accepted
    await set_language(running_bot, 5101, "ro")
    staff = tg.user(STAFF_ID)

    await staff.send_text("/refund 5101 charged twice")
    confirm = staff.last_message.text
    assert "Refund this payment of User5101" in confirm
    assert "300 ⭐" in confirm and paid.charge_id in confirm and "Plus" in confirm
    assert "23 November 2026, 10:00 (UTC)" in confirm and "Reason: charged twice" in confirm
    before = len(ana.messages)
    await staff.press("Refund 300 ⭐")
    done = staff.last_message.text
    assert "Refunded 300 ⭐ to User5101" in done and "Their access has ended" in done

    # Telegram is asked for the Stars back, and the renewing subscription is stopped.
    assert (5101, paid.charge_id) in await refunds_soon(tg, (5101, paid.charge_id))
    assert (paid.charge_id, "true") in await edits_soon(tg, (paid.charge_id, "true"))
    # She is told, in Romanian.
    await messages_soon(ana, before)
    told = ana.messages[-1].text
    assert "rambursat plata de 300 ⭐" in told and "s-a încheiat acum" in told
    # Her /account shows the membership ended.
    await set_language(running_bot, 5101, "en")
    await ana.send_text("/account")
    account = ana.last_message.text
    assert "State: ended" in account and "Renews on" not in account
    state = await snap(running_bot, 5101)
    assert state.membership.state.value == "expired" and not state.membership.auto_renew

    refunded = await events(running_bot, 5101, EventKind.REFUNDED)
    assert len(refunded) == 1
    assert refunded[0].data["charge_id"] == paid.charge_id
    assert refunded[0].data["amount"] == 300 and refunded[0].data["by"] == STAFF_ID
    assert refunded[0].data["reason"] == "staff"
    assert refunded[0].data["note"] == "charged twice"
    ended = await events(running_bot, 5101, EventKind.ACCESS_ENDED)
    assert [e.data["reason"] for e in ended] == ["refund"]

    # Twice is refused clearly, by person and by charge id; Telegram is asked only once.
    await staff.send_text("/refund 5101")
    assert "has no payment left to refund" in staff.last_message.text
    await staff.send_text(f"/refund {paid.charge_id}")
    assert "Already refunded" in staff.last_message.text
    assert refunds(tg) == [(5101, paid.charge_id)]
    # /user lists her payments and the refund.
    await staff.send_text("/user 5101")
    card = staff.last_message.text
    assert "Payments" in card and paid.charge_id in card and "refunded 23 November 2026" in card
    assert "refunded" in card
    async with running_bot.container.sessions() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert actions.count("refund") == 1
    await staff.send_text("/audit")
    assert "refund" in staff.last_message.text
    # /stats counts the money as it moved: received and given back, not a conversion.
    await staff.send_text("/stats")
    report = staff.messages[-2].text
    assert "Revenue: 0 ⭐ (300 ⭐ received, 300 ⭐ refunded in 1 refund)" in report
    assert "converted to paid: 0 of 1" in report


async def test_refunding_one_of_several_payments_shortens_the_access(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    bo = await trial_user(tg, 5102)
    _, first = await subscribe_monthly(bo)
    clock.advance(timedelta(days=10))
    renewal = await tg.renew_subscription(bo, first.charge_id)
    assert renewal.accepted
    assert (await snap(running_bot, 5102)).membership.period_end == START + timedelta(days=60)
    staff = tg.user(STAFF_ID)

    await staff.send_text("/refund @nobody_here")
    assert "Nobody and no payment found" in staff.last_message.text
    await staff.send_text("/refund")
    assert "Refund a payment" in staff.last_message.text

    await staff.send_text("/refund 5102")
    listing = staff.last_message
    assert "2 payments that can be refunded" in listing.text
    assert listing.button_texts == [
        "3 December 2026 · plus · 300 ⭐",
        "23 November 2026 · plus · 300 ⭐",
    ]
    await staff.press("3 December 2026 · plus · 300 ⭐")
    assert renewal.charge_id in staff.last_message.text
    await staff.press("Refund 300 ⭐")
    done = staff.last_message.text
    assert "Their access now ends on 23 December 2026, 10:00 (UTC)" in done

    assert (5102, renewal.charge_id) in await refunds_soon(tg, (5102, renewal.charge_id))
    assert (first.charge_id, "true") in await edits_soon(tg, (first.charge_id, "true"))
    state = await snap(running_bot, 5102)
    assert state.membership.period_end == START + timedelta(days=30)
    assert state.membership.state.value == "cancel_scheduled"
    assert not state.membership.auto_renew
    await bo.send_text("/account")
    account = bo.last_message.text
    assert "Access until: 23 December 2026" in account and "Renews on" not in account
    assert (await snap(running_bot, 5102)).membership.has_access
    # The other payment can still be refunded on its own; the refunded one is not offered.
    await staff.send_text("/refund 5102")
    assert staff.last_message.button_texts == ["Refund 300 ⭐", "Cancel"]
    assert first.charge_id in staff.last_message.text
    await staff.press("Cancel")
    assert "nothing was refunded" in staff.last_message.text
    assert refunds(tg) == [(5102, renewal.charge_id)]


async def test_two_taps_at_once_refund_once(tg: FakeBotAPI, running_bot: Runtime) -> None:
    cy = await trial_user(tg, 5103)
    _, paid = await subscribe_monthly(cy)
    staff = tg.user(STAFF_ID)
    await staff.send_text("/refund 5103")
    await staff.press("Refund 300 ⭐", wait=False)
    await staff.press("Refund 300 ⭐", wait=False)
    await tg.settle()
    await refunds_soon(tg, (5103, paid.charge_id))
    await asyncio.sleep(0.2)
    assert refunds(tg) == [(5103, paid.charge_id)]
    assert len(await events(running_bot, 5103, EventKind.REFUNDED)) == 1
    assert await count(running_bot, OutboxMessage, template="refund_made") == 1
    assert unanswered_callbacks(tg) == []

    # Two use cases racing on the database (two staff, two instances): one wins.
    dan = await trial_user(tg, 5104)
    _, dans = await subscribe_monthly(dan)
    async with running_bot.container.sessions() as session:
        payment_id = await session.scalar(
            select(Payment.id).where(Payment.telegram_charge_id == dans.charge_id)
        )
    assert payment_id is not None
    tools = chat_dependencies(running_bot.container)["staff_refunds"]
    assert isinstance(tools, StaffRefunds)
    results = await asyncio.gather(
        tools.refund(staff_id=STAFF_ID, payment_id=payment_id),
        tools.refund(staff_id=STAFF_ID, payment_id=payment_id),
    )
    assert sorted(r.outcome for r in results) == [RefundOutcome.ALREADY, RefundOutcome.OK]
    assert len(await events(running_bot, 5104, EventKind.REFUNDED)) == 1
    await refunds_soon(tg, (5104, dans.charge_id))
    assert [r for r in refunds(tg) if r[0] == 5104] == [(5104, dans.charge_id)]


async def test_nobody_else_can_refund_and_forged_taps_do_nothing(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    eve = await trial_user(tg, 5105)
    _, paid = await subscribe_monthly(eve)
    async with running_bot.container.sessions() as session:
        payment_id = await session.scalar(
            select(Payment.id).where(Payment.telegram_charge_id == paid.charge_id)
        )
    # A customer gets the ordinary answer to /refund: no hint that it exists.
    await eve.send_text("hello?")
    ordinary = eve.last_message.text
    await eve.send_text(f"/refund 5105 {paid.charge_id}")
    assert eve.last_message.text == ordinary
    await eve.send_text("/help")
    assert "/refund" not in eve.last_message.text
    # Forged refund buttons, from the customer and from staff without a pending /refund.
    await eve.send_text("/plans")
    plans = eve.last_message
    staff = tg.user(STAFF_ID)
    await staff.send_text("/refund 5105")
    pending = staff.last_message
    for user, message in ((eve, plans), (staff, pending)):
        for forged in (f"rf:ok:{payment_id}:00000000", f"rf:ok:{payment_id}", "rf:zz:1:ab"):
            message.reply_markup["inline_keyboard"][0][0]["callback_data"] = forged
            answer = await user.press(forged, message=message)
            assert answer is not None, forged
    assert refunds(tg) == []
    assert await events(running_bot, 5105, EventKind.REFUNDED) == []
    assert (await snap(running_bot, 5105)).membership.state.value == "active"
    assert unanswered_callbacks(tg) == []
    async with running_bot.container.sessions() as session:
        refunded_at = await session.scalar(
            select(Payment.refunded_at).where(Payment.id == payment_id)
        )
    assert refunded_at is None
