"""Telegram's own `subscription` updates: a cancel or re-enable in Telegram's settings and a
failed renewal change the state as the bot's buttons would; emails confirm a cancel."""

from __future__ import annotations

from sqlalchemy import select

from forever.db.models import Consent, OutboxMessage, Person
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.e2e.chat_helpers import count, edits_soon, events, kinds, snap, subscription
from tests.e2e.test_chat_cancel import paying_user
from tests.e2e.test_chat_payments import subscribe_monthly


async def test_the_bot_asks_telegram_for_subscription_updates(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    polls = tg.calls_to("getUpdates")
    allowed = polls[0].params.get("allowed_updates")
    assert "subscription" in str(allowed)
    assert "pre_checkout_query" in str(allowed)


async def test_canceled_in_telegram_then_reenabled(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user, paid = await paying_user(tg, 5001)
    await tg.send_subscription_update(user, paid.invoice_payload, "canceled")
    canceled, question = user.messages[-2:]
    assert "cancelled your Plus subscription in Telegram" in canceled.text
    assert "why did you cancel" in question.text
    state = await snap(running_bot, 5001)
    assert state.membership.state.value == "cancel_scheduled"
    cancel_events = await events(running_bot, 5001, EventKind.CANCELED)
    assert cancel_events[0].data["source"] == "telegram"
    # Telegram already knows: nothing is queued for it, so nothing will reach it.
    assert await count(running_bot, OutboxMessage, template="edit_star_subscription") == 0
    assert tg.calls_to("editUserStarSubscription") == []

    await user.press("Not using it enough", message=question)
    assert "pause instead" in user.last_message.text

    await tg.send_subscription_update(user, paid.invoice_payload, "active")
    state = await snap(running_bot, 5001)
    assert state.membership.state.value == "active"
    assert state.renewing_star_subscription
    assert "Renews on" in user.last_message.text
    # Delivered again: nothing more happens.
    before = len(user.messages)
    await tg.send_subscription_update(user, paid.invoice_payload, "active")
    assert len(user.messages) == before
    assert (await kinds(running_bot, 5001)).count(EventKind.CANCEL_UNDONE) == 1


async def test_failed_renewal_is_past_due_with_a_way_to_pay(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user, paid = await paying_user(tg, 5002)
    await tg.send_subscription_update(user, paid.invoice_payload, "failed")
    notice = user.last_message
    assert "did not go through" in notice.text
    assert notice.button_texts == ["Pay now · 300 ⭐"]
    assert (await snap(running_bot, 5002)).membership.state.value == "past_due"
    assert EventKind.PAYMENT_FAILED in await kinds(running_bot, 5002)
    result = await user.press("Pay now · 300 ⭐")
    assert result.accepted
    state = await snap(running_bot, 5002)
    assert state.membership.state.value == "active"
    assert state.renewing_star_subscription
    # The failed subscription must not retry and charge a second time.
    assert await edits_soon(tg, (paid.charge_id, "true")) == [(paid.charge_id, "true")]


async def test_updates_for_unknown_payloads_are_ignored(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user, _ = await paying_user(tg, 5003)
    before = len(user.messages)
    await tg.send_subscription_update(user, "not-our-payload", "canceled")
    assert len(user.messages) == before
    assert (await snap(running_bot, 5003)).membership.state.value == "active"


async def test_cancel_is_confirmed_by_email_and_consent_stays_pending(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(5004, "Mia")
    await user.start()
    await user.press("Start my free trial")
    await user.send_text("mia@example.com")
    await user.press("Yes, email me")
    assert "confirmation link to mia@example.com" in user.last_message.text
    _, paid = await subscribe_monthly(user)
    assert paid.accepted
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    assert "confirmation to mia@example.com" in user.messages[-2].text
    async with running_bot.container.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        consent = await session.scalar(select(Consent))
    templates = [r.template for r in rows]
    assert "consent_confirm" in templates
    assert templates.count("cancel_confirmed") == 1
    assert consent is not None and consent.confirmed_at is None  # only the link confirms
    sub = await subscription(running_bot, 5004)
    assert sub.state == "cancel_scheduled"


async def test_failed_renewal_for_someone_who_blocked_the_bot(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user, paid = await paying_user(tg, 5005)
    user.block()
    await tg.send_subscription_update(user, paid.invoice_payload, "failed")
    state = await snap(running_bot, 5005)
    assert state.membership.state.value == "past_due"  # recorded even though unsent
    async with running_bot.container.sessions() as session:
        blocked = await session.scalar(select(Person.blocked_at).where(Person.telegram_id == 5005))
    assert blocked is not None
    # The 403 was expected here; the harness checks there is no other refused call.
    assert {(c.method, c.status) for c in tg.refused} == {("sendMessage", 403)}
    tg.calls[:] = [c for c in tg.calls if c.ok]


async def test_canceled_in_telegram_while_past_due_ends_access(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user, paid = await paying_user(tg, 5006)
    await tg.send_subscription_update(user, paid.invoice_payload, "failed")
    await tg.send_subscription_update(user, paid.invoice_payload, "canceled")
    assert "membership has ended" in user.messages[-2].text
    assert (await snap(running_bot, 5006)).membership.state.value == "expired"
