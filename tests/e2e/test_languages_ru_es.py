"""Russian and Spanish are full languages (issue 21): a Telegram in ru or es is served in it
from the first /start, /language offers and switches to both, and the plans show the
catalog's Russian and Spanish names."""

from __future__ import annotations

from forever.runtime import Runtime
from forever.sandbox.fake_bot_api import FakeBotAPI
from tests.e2e.chat_helpers import snap


async def test_a_russian_telegram_is_served_in_russian_from_the_first_start(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(6101, "Оля", language_code="ru")
    await user.start()
    assert any("Добро пожаловать" in m.text for m in user.messages)
    assert (await snap(running_bot, 6101)).language == "ru"
    await user.send_text("/plans")
    shown = user.last_message
    assert "Базовый" in shown.text and "Видеотека" in shown.text
    assert any(t.startswith("Базовый · ") for t in shown.button_texts)


async def test_a_latin_american_spanish_telegram_is_served_in_spanish(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(6102, "Lucía", language_code="es-419")
    await user.start()
    assert any("Te damos la bienvenida" in m.text for m in user.messages)
    assert (await snap(running_bot, 6102)).language == "es"
    await user.send_text("/plans")
    assert "Básico" in user.last_message.text
    assert "3 clases en vivo por semana" in user.last_message.text


async def test_a_language_we_do_not_speak_gets_the_default(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(6103, "João", language_code="pt-br")
    await user.start()
    assert any("Welcome to" in m.text for m in user.messages)
    assert (await snap(running_bot, 6103)).language == "en"


async def test_language_offers_and_switches_to_russian_and_spanish(
    tg: FakeBotAPI, running_bot: Runtime
) -> None:
    user = tg.add_user(6104, "Ana", language_code="en")
    await user.send_text("/language")
    offered = user.last_message.button_texts
    for name in ("English", "Română", "Italiano", "Русский", "Español"):
        assert name in offered
    await user.press("Русский")
    assert "по-русски" in user.last_message.text
    assert (await snap(running_bot, 6104)).language == "ru"
    await user.send_text("/language")
    await user.press("Español")
    assert "en español" in user.last_message.text
    assert (await snap(running_bot, 6104)).language == "es"


async def test_a_forged_language_is_refused(tg: FakeBotAPI, running_bot: Runtime) -> None:
    user = tg.add_user(6105, "Ana", language_code="en")
    await user.send_text("/language")
    choices = user.last_message
    for forged in ("lg:de", "lg:pt-br", "lg:RU", "lg:" + "x" * 40):
        choices.reply_markup["inline_keyboard"][0][0]["callback_data"] = forged
        await user.press(forged, message=choices)
    assert (await snap(running_bot, 6105)).language == "en"
