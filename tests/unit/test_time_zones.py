"""One time zone per person, shown (issue 13, item 5): the same zone in every rendering, named
next to every time of day; the short list of zones a person is offered."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from forever.domain.journeys import zone_or_default
from forever.domain.timezones import valid_zone, zone_choices
from forever.rendering import Renderer

WHEN = datetime(2026, 12, 7, 9, 54, tzinfo=UTC)


def test_the_offered_zones_are_short_per_language_valid_and_end_with_utc() -> None:
    ro = zone_choices("ro", "Europe/Bucharest", "UTC")
    assert ro[0] == "Europe/Bucharest" and ro[-1] == "UTC" and len(ro) == len(set(ro)) <= 10
    assert "Europe/Chisinau" in ro
    assert zone_choices("it", "Asia/Tokyo", "Europe/Rome")[:2] == ["Asia/Tokyo", "Europe/Rome"]
    assert all(valid_zone(z) for z in zone_choices("en", "UTC", "UTC"))
    assert not valid_zone("Mars/Olympus") and not valid_zone("") and not valid_zone(None)


def test_russian_and_spanish_speakers_get_their_common_zones() -> None:
    for locale, usual in (("ru", "Europe/Moscow"), ("es", "America/Mexico_City")):
        zones = zone_choices(locale, "UTC", "UTC")
        assert usual in zones and len(zones) == len(set(zones)) <= 10
        assert all(valid_zone(z) for z in zones)
    assert zone_or_default(None, ZoneInfo("UTC"), "ru") == ZoneInfo("Europe/Moscow")
    assert zone_or_default(None, ZoneInfo("UTC"), "es") == ZoneInfo("UTC")  # no single guess


def test_chat_and_email_templates_show_the_time_in_the_readers_zone_and_name_it() -> None:
    renderer = Renderer(timezone="UTC")
    rome = renderer.zone_for(None, "it")
    assert rome == zone_or_default(None, ZoneInfo("UTC"), "it")  # the quiet-hours rule too
    chat = renderer.in_zone(rome).chat(
        "canceled", "it", plan="Plus", until=WHEN, ended=False, from_telegram=False, email=None
    )
    assert "7 dicembre 2026, ore 10:54 (Europe/Rome)" in chat
    _subject, html, text = renderer.in_zone(rome).email(
        "cancel_confirmed",
        "it",
        business="B",
        name="Lia",
        plan_name="Plus",
        access_until=WHEN,
        canceled_at=WHEN,
        bot_url="https://t.me/forever_bot",
        account_url="https://t.me/forever_bot?start=account",
    )
    assert "7 dicembre 2026, ore 10:54 (Europe/Rome)" in text
    assert "ore 10:54 (Europe/Rome)" in html
    # Someone who picked a zone sees it, whatever their language.
    own = renderer.in_zone(renderer.zone_for("Asia/Tokyo", "it"))
    assert "7 dicembre 2026, ore 18:54 (Asia/Tokyo)" in own.chat(
        "canceled", "it", plan="Plus", until=WHEN, ended=False, from_telegram=False, email=None
    )
    # The renderer everyone shares is not changed by a person's zone.
    assert "ore 09:54 (UTC)" in renderer.chat(
        "canceled", "it", plan="Plus", until=WHEN, ended=False, from_telegram=False, email=None
    )
