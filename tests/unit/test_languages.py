"""Languages (issue 21): Telegram language codes find a locale along a fallback chain; the
button labels and the command menu come from the gettext catalogs, in Russian and Spanish too."""

from __future__ import annotations

from forever.domain.locales import CATALOG_LOCALES, LOCALES, fallback_chain, resolve
from forever.rendering import Renderer
from forever.telegram.commands import command_menu
from forever.telegram.labels import Labels

AVAILABLE = ("en", "ro", "it", "pt", "pt-br", "es")


def test_a_regional_code_falls_back_to_its_language_then_the_default() -> None:
    assert fallback_chain("pt-BR", AVAILABLE, "en") == ("pt-br", "pt", "en")
    assert fallback_chain("pt_pt", AVAILABLE, "en") == ("pt", "en")
    assert fallback_chain("es-419", AVAILABLE, "en") == ("es", "en")
    assert fallback_chain("de-AT", AVAILABLE, "ro") == ("ro",)
    assert fallback_chain(None, AVAILABLE, "en") == ("en",)
    assert fallback_chain("EN-gb", AVAILABLE, "en") == ("en",)  # the default only once


def test_resolve_picks_the_most_specific_locale_we_have() -> None:
    assert resolve("pt-br", AVAILABLE, "en") == "pt-br"
    assert resolve("es-419", AVAILABLE, "en") == "es"
    assert resolve("fr-CA", AVAILABLE, "it") == "it"


def test_telegram_codes_map_to_the_languages_people_can_choose() -> None:
    renderer = Renderer()
    assert renderer.locale_for("it-CH") == "it"
    assert renderer.locale_for("ro-MD") == "ro"
    assert renderer.locale_for("ru") == "en"  # not every message is in Russian yet
    assert Renderer(default_locale="ro").locale_for("es-419") == "ro"


def test_buttons_speak_every_catalog_language_with_its_plurals() -> None:
    labels = Labels()
    assert labels("ru", "cancel") == "Отменить подписку"
    assert labels("es", "monthly", plan="Plus", price="300 ⭐") == "Plus · 300 ⭐ / mes"
    assert labels("ro", "confirm_cancel") == "Da, anulează"
    assert [labels.months("ru", n) for n in (1, 2, 5, 21)] == [
        "1 месяц",
        "2 месяца",
        "5 месяцев",
        "21 месяц",
    ]
    assert [labels.months("ro", n) for n in (1, 2, 20)] == ["o lună", "2 luni", "20 de luni"]
    assert labels.months("en", 1) == "1 month"
    assert labels("de", "cancel") == "Cancel membership"  # unknown: English


def test_the_command_menu_exists_in_every_catalog_language() -> None:
    english = [c.command for c in command_menu("en", staff=True)]
    for locale in CATALOG_LOCALES:
        menu = command_menu(locale, staff=True)
        assert [c.command for c in menu] == english, locale
        assert all(0 < len(c.description) <= 256 for c in menu)
    assert command_menu("ru")[0].description == "Начать или посмотреть свой статус"
    assert command_menu("es")[1].description == "Planes y precios"
    assert command_menu("it")[1].description != command_menu("en")[1].description


def test_the_languages_people_choose_are_catalog_languages() -> None:
    assert set(LOCALES) <= set(CATALOG_LOCALES)
