"""The skeleton bot, end to end through the fake Bot API: greeting per language, help,
fallback for unexpected text, and the command menu."""

from __future__ import annotations

import pytest

from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.conftest import STAFF_ID


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "Welcome"), ("ro", "Bine ai venit"), ("it", "Benvenut"), ("de", "Welcome")],
)
async def test_start_greets_in_the_users_language(
    tg: FakeBotAPI, running_bot: Runtime, language: str, expected: str
) -> None:
    user = tg.add_user(1001, "Ana", language_code=language)
    await user.start()
    reply = user.last_message
    assert reply is not None
    assert expected in reply.text
    assert "Ana" in reply.text


async def test_unexpected_text_gets_short_help(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = tg.add_user(1002, "Bob")
    await user.send_text("what is this?")
    reply = user.last_message
    assert reply is not None
    assert "/help" in reply.text


async def test_command_menu_per_language_and_staff_only_commands(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    calls = tg.calls_to("setMyCommands")
    by_scope = {
        (c.params.get("language_code", ""), str(c.params.get("scope", ""))): c for c in calls
    }
    languages = {lang for lang, _ in by_scope}
    assert {"", "en", "ro", "it"} <= languages
    staff_calls = [c for c in calls if str(STAFF_ID) in str(c.params.get("scope", ""))]
    assert staff_calls, "staff get their own menu"
    customer_names = {
        cmd["command"] for c in calls if c not in staff_calls for cmd in _commands(c.params)
    }
    staff_names = {cmd["command"] for c in staff_calls for cmd in _commands(c.params)}
    assert "broadcast" in staff_names
    assert "broadcast" not in customer_names
    assert {"start", "plans", "account", "cancel", "help"} <= customer_names


def _commands(params: dict) -> list[dict]:
    import json

    raw = params["commands"]
    return json.loads(raw) if isinstance(raw, str) else raw
