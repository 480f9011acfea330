"""Sign-up through the fake Bot API: greeting, trial offer, optional and validated email,
the separate marketing question, a second /start, and the once-per-person trial."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from forever.db.models import Consent
from forever.domain.events import EventKind
from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.e2e.chat_helpers import kinds, snap


async def test_start_offers_the_trial_and_asks_for_an_optional_email(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(2001, "Ana", language_code="en")
    await user.start()
    welcome = user.last_message
    assert welcome is not None
    assert "7 days" in welcome.text
    assert "Start my free trial" in welcome.button_texts

    await user.press("Start my free trial")
    assert "email" in user.last_message.text.lower()
    assert "Skip" in user.last_message.button_texts

    await user.send_text("a@b")
    assert "does not look like an email" in user.last_message.text
    await user.send_text("x" * 5000)
    assert "does not look like an email" in user.last_message.text

    await user.send_text("Ana@Example.com")
    texts = [m.text for m in user.messages[-2:]]
    assert "free trial of Plus has started" in texts[0]
    assert "occasional emails" in texts[1]  # marketing consent asked separately
    state = await snap(running_bot, 2001)
    assert state.membership.state.value == "trial"
    assert state.email == "Ana@example.com"
    assert EventKind.TRIAL_STARTED in await kinds(running_bot, 2001)


async def test_skipping_the_email_starts_the_trial(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = tg.add_user(2002, "Bob")
    await user.start()
    await user.press("Start my free trial")
    await user.press("Skip")
    assert "has started" in user.last_message.text
    assert (await snap(running_bot, 2002)).email is None


async def test_second_start_shows_the_state_never_a_second_trial(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(2003, "Cleo")
    await user.start()
    welcome = user.last_message
    await user.press("Start my free trial")
    await user.press("Skip")
    await user.start()
    assert "Welcome back" in user.last_message.text
    assert "free trial" in user.last_message.text
    assert "Start my free trial" not in user.last_message.button_texts
    # The old welcome button, pressed again, starts nothing and shows the current state.
    answer = await user.press("Start my free trial", message=welcome)
    assert answer is not None and "out of date" in (answer.text or "")
    assert "once per person" in user.last_message.text
    assert (await kinds(running_bot, 2003)).count(EventKind.TRIAL_STARTED) == 1


async def test_trial_is_once_per_email_address(tg: FakeBotAPI, running_bot: Runtime) -> None:
    first = tg.add_user(2004, "Dan")
    await first.start()
    await first.press("Start my free trial")
    await first.send_text("dan@example.com")
    second = tg.add_user(2005, "Dan again")
    await second.start()
    await second.press("Start my free trial")
    await second.send_text("DAN@example.com")
    assert "already used with this email" in second.last_message.text
    assert (await snap(running_bot, 2005)).membership.state.value == "none"


@pytest.mark.parametrize(
    ("language", "greeting", "trial_button", "started"),
    [
        ("ro", "Bine ai venit", "Încep perioada gratuită", "a început"),
        ("it", "Benvenuto", "Inizia la prova gratuita", "è iniziata"),
    ],
)
async def test_sign_up_in_romanian_and_italian(
    tg: FakeBotAPI,
    running_bot: Runtime,
    language: str,
    greeting: str,
    trial_button: str,
    started: str,
) -> None:
    user = tg.add_user(2010, "Ioana", language_code=language)
    await user.start()
    assert greeting in user.last_message.text
    await user.press(trial_button)
    await user.send_text("not an email")
    assert "email" in user.last_message.text
    await user.send_text("ioana@example.com")
    assert started in user.messages[-2].text


async def test_unexpected_text_outside_sign_up_gets_short_help(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(2020, "Eve")
    await user.send_text("y" * 5000)
    assert "/help" in user.last_message.text


async def test_yes_to_emails_works_again_after_an_email_change(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    """The consent question asked for a new address takes its "Yes": a confirmation link
    goes to the new address (it used to answer "That button is out of date")."""
    user = tg.add_user(2030, "Gina")
    await user.start()
    await user.press("Start my free trial")
    await user.send_text("gina@example.com")
    await user.press("Yes, email me")
    assert "confirmation link" in user.last_message.text
    await user.send_text("/email")
    await user.send_text("gina.new@example.org")
    question = user.last_message
    assert "occasional emails" in question.text
    answer = await user.press("Yes, email me", message=question)
    assert answer is None or "out of date" not in (answer.text or "")
    assert "confirmation link" in user.last_message.text
    assert "gina.new@example.org" in user.last_message.text
    assert (await snap(running_bot, 2030)).marketing == "pending"
    async with running_bot.container.sessions() as session:
        addresses = list(await session.scalars(select(Consent.email).order_by(Consent.id)))
    assert addresses == ["gina@example.com", "gina.new@example.org"]


async def test_the_email_error_names_only_buttons_that_are_there(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(2031, "Hugo")
    # At sign-up the address is optional: the error offers Skip, and Skip is there.
    await user.start()
    await user.press("Start my free trial")
    await user.send_text("hugo@")
    error = user.last_message
    assert "Skip" in error.text and error.button_texts == ["Skip"]
    await user.send_text("hugo@example.com")
    # On /email there is nothing to skip: the error names the Cancel button it shows.
    await user.send_text("/email")
    await user.send_text("hugo@")
    error = user.last_message
    assert "does not look like an email" in error.text
    assert "Skip" not in error.text
    assert error.button_texts == ["Cancel"] and "tap Cancel" in error.text
    await user.press("Cancel", message=error)
    assert "nothing changed" in user.last_message.text.lower()
    assert (await snap(running_bot, 2031)).email == "hugo@example.com"


async def test_the_account_link_in_emails_opens_the_account(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    """Emails link to https://t.me/<bot>?start=account: Telegram sends "/start account", and
    the person sees where they stand with its buttons (cancel, plans), not an error."""
    user = tg.add_user(2032, "Ida")
    await user.start()
    await user.press("Start my free trial")
    await user.press("Skip")
    await user.send_text("/start account")
    assert "Welcome back" in user.last_message.text
    assert "free trial" in user.last_message.text
    assert "could not" not in user.last_message.text.lower()
