"""Languages (issue 21): Telegram language codes find a locale along a fallback chain; the
button labels and the command menu come from the gettext catalogs, in Russian and Spanish too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import TemplateNotFound

from forever.catalogs import days
from forever.domain.locales import CATALOG_LOCALES, LOCALES, fallback_chain, resolve
from forever.rendering import Renderer, long_datetime
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
    assert renderer.locale_for("ru") == "ru"
    assert renderer.locale_for("es-419") == "es"
    assert renderer.locale_for("pt-br") == "en"
    assert Renderer(default_locale="ro").locale_for("es-419") == "es"
    assert Renderer(default_locale="ro").locale_for("de") == "ro"


def test_russian_and_spanish_can_be_chosen() -> None:
    assert LOCALES == ("en", "ro", "it", "ru", "es")
    assert CATALOG_LOCALES == LOCALES


def test_a_message_kept_per_locale_falls_back_to_the_default_then_english(
    tmp_path: Path,
) -> None:
    """A message an owner writes per language (chat/en|ro/) with no ru or es copy: a
    Russian reader sees the default locale's copy, else the English one, with no error."""
    (tmp_path / "chat" / "en").mkdir(parents=True)
    (tmp_path / "chat" / "ro").mkdir()
    (tmp_path / "chat" / "en" / "only.j2").write_text("english {{ locale }}")
    (tmp_path / "chat" / "ro" / "only.j2").write_text("română {{ locale }}")
    (tmp_path / "chat" / "ro" / "ro_only.j2").write_text("doar română")
    assert Renderer(tmp_path).chat("only", "ru") == "english en"
    assert Renderer(tmp_path, default_locale="ro").chat("only", "es") == "română ro"
    assert Renderer(tmp_path, default_locale="it").chat("only", "ru") == "english en"
    with pytest.raises(TemplateNotFound):
        Renderer(tmp_path).chat("ro_only", "ru")  # no copy along ru → en


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
    assert labels.months("it", 1) == "un mese"
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


# --- CLDR formats -----------------------------------------------------------------------------

WHEN = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)


def render(locale: str, source: str, **context: object) -> str:
    return Renderer().env_for(locale).from_string(source).render(**context)


def test_romanian_days_follow_romanian_grammar() -> None:
    shown = [days(n, "ro") for n in (1, 2, 19, 20, 21, 101, 120)]
    assert shown == [
        "o zi",
        "2 zile",
        "19 zile",
        "20 de zile",
        "21 de zile",
        "101 zile",
        "120 de zile",
    ]


def test_russian_days_take_the_three_russian_forms() -> None:
    assert [days(n, "ru") for n in (1, 2, 5, 11, 21, 22, 25)] == [
        "1 день",
        "2 дня",
        "5 дней",
        "11 дней",
        "21 день",
        "22 дня",
        "25 дней",
    ]


def test_the_chat_days_macro_is_the_catalog_plural_in_every_locale() -> None:
    expected = {"en": "21 days", "ro": "21 de zile", "it": "21 giorni", "ru": "21 день"}
    for locale, text in expected.items():
        assert render(locale, '{% import "chat/_format.j2" as f %}{{ f.days(21) }}') == text
    assert render("es", "{{ 1|days }} / {{ 3|days }}") == "1 día / 3 días"


def test_a_date_in_each_locale() -> None:
    expected = {
        "en": "1 December 2026",
        "ro": "1 decembrie 2026",
        "it": "1 dicembre 2026",
        "ru": "1 декабря 2026\u202fг.",
        "es": "1 de diciembre de 2026",
    }
    for locale, text in expected.items():
        assert render(locale, "{{ when|long_date }}", when=WHEN) == text
        time = "9:05" if locale == "es" else "09:05"  # CLDR: Spanish writes H:mm
        assert render(locale, "{{ when|short_time }}", when=WHEN) == time


def test_a_price_and_a_number_in_each_locale() -> None:
    # Stars amounts read the same everywhere (a narrow no-break space groups thousands);
    # other numbers take the locale's separators.
    numbers = {"en": "12,345", "ro": "12.345", "it": "12.345", "ru": "12\xa0345", "es": "12.345"}
    for locale, text in numbers.items():
        assert render(locale, "{{ 1500|stars }}") == "1\u202f500 ⭐"
        assert render(locale, "{{ n|number }}", n=12345) == text


def test_email_dates_name_the_month_from_cldr() -> None:
    assert long_datetime("ro", ", ora ")(WHEN) == "1 decembrie 2026, ora 09:05 (UTC)"
    assert long_datetime("ru", ", ")(WHEN) == "1 декабря 2026\u202fг., 09:05 (UTC)"


def test_people_s_data_in_a_translated_message_is_shown_as_text() -> None:
    assert render("ru", '{{ _("Hello, %(name)s!", name=n) }}', n="Ana <b>") == (
        "Hello, Ana &lt;b&gt;!"  # an id no catalog has stays English, still escaped
    )
    shown = render(
        "ro",
        "{% trans %}Saved: we will use <b>{{ email }}</b> from now on.{% endtrans %}",
        email="a<b>@x.ro",
    )
    assert shown == "Salvat: de acum folosim <b>a&lt;b&gt;@x.ro</b>."
    assert (
        render("it", '{{ _("Would %(percent)s%% off help?", percent=30) }}')
        == "Would 30% off help?"
    )


def test_a_plan_without_a_name_in_the_language_keeps_its_english_name() -> None:
    from tests.template_samples import CHAT

    context = dict(CHAT["grant_received"], plan_names={"en": "Plus", "ro": "Plus RO"})
    assert "<b>Plus</b>" in Renderer().chat("grant_received", "es", **dict(context))
    assert "<b>Plus RO</b>" in Renderer().chat("grant_received", "ro", **dict(context))
