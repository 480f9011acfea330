"""Sign-up through the fake Bot API: greeting, trial offer, optional and validated email,
the separate marketing question, a second /start, and the once-per-person trial."""

from __future__ import annotations

import pytest

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
