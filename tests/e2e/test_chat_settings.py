"""/language, /email, /privacy (erase on one confirming tap), /help, win-back links, the
upgrade-prompt sweep and a user who blocked the bot, through the fake Bot API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from forever.db.models import Person, Suppression
from forever.db.repositories.journeys import SqlGiftHistory
from forever.db.repositories.suppressions import suppression_hash
from forever.domain.clock import ManualClock
from forever.domain.events import EventKind
from forever.domain.signing import email_hash
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from forever.services.winback import winback_start_parameter
from forever.wiring import customers
from forever.wiring.email import run_sweeps
from tests.e2e.chat_helpers import count, edits_soon, events, snap
from tests.e2e.test_chat_cancel import paying_user
from tests.e2e.test_chat_payments import subscribe_monthly, trial_user


async def test_language_switch_changes_every_later_reply(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(6001, "Ana", language_code="en")
    await user.send_text("/language")
    await user.press("Română")
    assert "română" in user.last_message.text
    await user.send_text("/account")
    assert "Abonamentul tău" in user.last_message.text
    await user.send_text("/language")
    await user.press("Italiano")
    await user.send_text("/account")
    assert "Il tuo abbonamento" in user.last_message.text
    assert (await snap(running_bot, 6001)).language == "it"


async def test_email_change_validates_and_asks_consent_again(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(6002, "Ben")
    await user.start()
    await user.press("Start my free trial")
    await user.send_text("ben@example.com")
    await user.press("Yes, email me")
    await user.send_text("/email")
    assert "ben@example.com" in user.last_message.text
    await user.send_text("ben@")
    assert "does not look like an email" in user.last_message.text
    await user.send_text("ben.new@example.org")
    assert "ben.new@example.org" in user.messages[-2].text
    assert "occasional emails" in user.last_message.text  # consent asked for the new address
    await user.press("Yes, email me")
    assert "ben.new@example.org" in user.last_message.text
    state = await snap(running_bot, 6002)
    assert state.email == "ben.new@example.org"
    assert state.email_status == "unconfirmed"
    # /email, then thinking better of it.
    await user.send_text("/email")
    await user.press("Cancel")
    await user.send_text("hello")
    assert "/help" in user.last_message.text


async def test_privacy_shows_what_is_kept_and_erases_on_one_tap(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(6003, "Cara", username="cara")
    await user.start()
    await user.press("Start my free trial")
    await user.send_text("cara@example.com")
    _, paid = await subscribe_monthly(user)
    await user.send_text("/privacy")
    view = user.last_message
    assert "cara@example.com" in view.text and "@cara" in view.text
    await user.press("Delete my data")
    await user.press("Keep my data")
    assert "nothing changed" in user.last_message.text
    await user.press("Delete my data", message=view)
    await user.press("Yes, delete everything")
    assert "personal data is deleted" in user.last_message.text
    # The renewal is stopped through the outbox, within about a second of the tap.
    assert (paid.charge_id, "true") in await edits_soon(tg, (paid.charge_id, "true"))
    async with running_bot.container.sessions() as session:
        erased = await session.scalar(select(Person).where(Person.erased_at.is_not(None)))
        assert erased is not None
        assert (erased.telegram_id, erased.email, erased.first_name) == (None, None, None)
        hashed = await session.scalar(select(Suppression.email_hash))
        keyed = suppression_hash(session, "cara@example.com")
    # Keyed from SECRET_KEY: the plain SHA-256 of a guessed address does not find it.
    assert hashed == keyed and hashed != email_hash("cara@example.com")
    assert len(await events(running_bot, None, EventKind.ERASED)) == 1
    # Coming back as someone new: no second trial with the erased address.
    await user.start()
    await user.press("Start my free trial")
    await user.send_text("cara@example.com")
    assert "already used with this email" in user.last_message.text


async def test_help_lists_the_commands(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = tg.add_user(6004, "Dan", language_code="ro")
    await user.send_text("/help")
    assert "/plans" in user.last_message.text and "/privacy" in user.last_message.text


async def test_winback_link_applies_its_offer(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user, _ = await paying_user(tg, 6005)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    clock.advance(timedelta(days=40))
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    state = await snap(running_bot, 6005)
    assert state.membership.state.value == "expired"
    parameter = winback_start_parameter(
        running_bot.container.signer,
        state.person_id,
        "discount_30",
        clock.now() + timedelta(days=14),
    )
    assert len(parameter) <= 64

    # Someone else's link, or a tampered one, gives nothing.
    stranger = tg.add_user(6006, "Stranger")
    await stranger.start(parameter)
    assert "not valid" in stranger.messages[0].text
    await user.start(parameter[:-2] + "xx")
    assert "not valid" in user.messages[-2].text

    await user.start(parameter)
    # The terms before paying: the price, for how long, and what it renews at.
    offer = user.messages[-2].text
    assert "30% off" in offer and "210 ⭐ every 30 days instead of 300 ⭐" in offer
    assert "renews at 210 ⭐ until you cancel" in offer
    link_message = user.last_message
    link_call = tg.calls_to("createInvoiceLink")[-1].params
    assert int(link_call["subscription_period"]) == 2592000  # a Stars subscription
    assert int(link_call["prices"][0]["amount"]) == 210
    assert "210 ⭐ every 30 days (30% off the regular 300 ⭐" in link_message.text
    paid = await user.press(link_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 210
    state = await snap(running_bot, 6005)
    assert state.membership.state.value == "active"
    # Back on a membership that renews by itself, at the stated price.
    assert state.membership.auto_renew and state.renewing_star_subscription
    assert state.renewal_stars == 210
    recovered = await events(running_bot, 6005, EventKind.WINBACK_RECOVERED)
    assert recovered[0].data["offer"] == "discount_30"
    await user.send_text("/account")
    assert "then 210 ⭐ every 30 days until you cancel" in user.last_message.text
    clock.advance(timedelta(days=30))
    renewal = await tg.renew_subscription(user, paid.charge_id)
    assert renewal.accepted and renewal.total_amount == 210
    assert (await snap(running_bot, 6005)).membership.period_end == clock.now() + timedelta(days=30)


async def test_a_second_winback_discount_within_the_period_is_not_offered(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user, _ = await paying_user(tg, 6011)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    clock.advance(timedelta(days=40))
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    person_id = (await snap(running_bot, 6011)).person_id
    signer = running_bot.container.signer
    first = winback_start_parameter(signer, person_id, "comeback_40", clock.now() + timedelta(14))
    await user.start(first)
    paid = await user.press(user.last_message.button_texts[0])
    assert paid.accepted and paid.total_amount == 180
    # They cancel the discounted subscription; it ends; a month later another win-back.
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    clock.advance(timedelta(days=35))
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    assert (await snap(running_bot, 6011)).membership.state.value == "expired"
    links_before = len(tg.calls_to("createInvoiceLink"))
    second = winback_start_parameter(signer, person_id, "comeback_40", clock.now() + timedelta(14))
    await user.start(second)
    assert any("not valid" in m.text for m in user.messages[-2:] if m.text)
    assert len(tg.calls_to("createInvoiceLink")) == links_before  # nothing to pay
    assert len(await events(running_bot, 6011, EventKind.WINBACK_RECOVERED)) == 1
    # The win-back emails make no discount to them either (the journeys' gift query).
    gifts = SqlGiftHistory(running_bot.container.sessions)
    since = clock.now() - timedelta(days=180)
    assert await gifts.gifted([person_id], ["comeback_40", "discount_30"], since) == {person_id}
    assert await gifts.gifted([person_id], ["discount_30"], since) == set()
    assert await gifts.gifted([person_id], ["comeback_40"], clock.now()) == set()


async def test_an_expired_winback_link_gives_nothing(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user, _ = await paying_user(tg, 6010)
    await user.send_text("/cancel")
    await user.press("Yes, cancel")
    clock.advance(timedelta(days=40))
    await run_sweeps(running_bot.container, clock.now(), running_bot.chat)
    state = await snap(running_bot, 6010)
    parameter = winback_start_parameter(
        running_bot.container.signer,
        state.person_id,
        "discount_30",
        clock.now() + timedelta(days=14),
    )
    clock.advance(timedelta(days=15))
    await user.start(parameter)
    assert "not valid" in user.messages[-2].text or "not valid" in user.last_message.text
    assert user.last_message.invoice is None


async def test_upgrade_prompt_halfway_through_the_trial_once_per_cap(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 6007)
    container = running_bot.container
    assert (await run_sweeps(container, clock.now(), running_bot.chat))["upgrade_prompts"] == 0
    clock.advance(timedelta(days=4))
    assert (await run_sweeps(container, clock.now(), running_bot.chat))["upgrade_prompts"] == 1
    prompt = user.last_message
    assert "halfway through your trial" in prompt.text
    assert "Plus" in prompt.text and "Pro" in prompt.text
    # Issue 13: a list per tier, every feature in full (the table truncated and misaligned).
    assert "<pre>" not in prompt.html
    assert "• Weekly one-to-one session\n• Priority booking" in prompt.text
    clock.advance(timedelta(days=1))
    assert (await run_sweeps(container, clock.now(), running_bot.chat))["upgrade_prompts"] == 0
    paid = await user.press("Upgrade to Pro")
    assert paid is None or paid.text is None
    result = await user.press(user.last_message.button_texts[0])
    assert result.accepted
    assert (await snap(running_bot, 6007)).membership.plan_id == "pro"


async def test_usage_at_the_tier_limit_prompts_but_not_after_a_recent_cancel(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    container = running_bot.container
    heavy, _ = await paying_user(tg, 6008, label="Basic · 150 ⭐ / month")
    quitter, _ = await paying_user(tg, 6009, label="Basic · 150 ⭐ / month")
    await quitter.send_text("/cancel")
    await quitter.press("Yes, cancel")
    await quitter.press("Keep my subscription")
    record_usage = customers.build(container).record_usage
    assert await record_usage(6008, 12) == 12
    assert await record_usage(6009, 12) == 12
    assert await record_usage(999999, 1) is None
    clock.advance(timedelta(hours=1))
    assert (await run_sweeps(container, clock.now(), running_bot.chat))["upgrade_prompts"] == 1
    assert "used 12 this month" in heavy.last_message.text
    assert "Upgrade to Plus" in heavy.last_message.button_texts
    assert "used 12" not in quitter.last_message.text


async def test_a_user_who_blocked_the_bot_is_marked_not_crashed(
    tg: FakeBotAPI, running_bot: Runtime, clock: ManualClock
) -> None:
    user = await trial_user(tg, 6010)
    user.block()
    clock.advance(timedelta(days=4))
    assert (await run_sweeps(running_bot.container, clock.now(), running_bot.chat))[
        "upgrade_prompts"
    ] == 0
    async with running_bot.container.sessions() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 6010))
    assert person is not None and person.blocked_at is not None
    # The one refused call is that 403, expected here; the harness checks there is no other.
    assert [(c.method, c.status) for c in tg.refused] == [("sendMessage", 403)]
    tg.calls[:] = [c for c in tg.calls if c.ok]
    assert await count(running_bot, Person) >= 1


async def test_time_zone_is_set_from_language_and_shown_and_forged_zones_refused(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    """Issue 13, item 5: the person picks their zone; every later time is shown in it."""
    user = tg.add_user(6020, "Ion", language_code="ro")
    await user.send_text("/language")
    assert "Europe/Bucharest" in user.last_message.text  # a Romanian speaker's usual zone
    await user.press("Fus orar: Europe/Bucharest")
    choices = user.last_message
    assert "✓ Europe/Bucharest" in choices.button_texts and "UTC" in choices.button_texts
    await user.press("Europe/London")
    assert "Europe/London" in user.last_message.text
    async with running_bot.container.sessions() as session:
        zone = await session.scalar(select(Person.timezone).where(Person.telegram_id == 6020))
    assert zone == "Europe/London"
    # A forged zone changes nothing.
    forged = "tz:Mars/Olympus"
    choices.reply_markup["inline_keyboard"][0][0]["callback_data"] = forged
    answer = await user.press(forged, message=choices)
    assert answer is not None and answer.text
    await user.send_text("/language")
    assert "Europe/London" in user.last_message.text
