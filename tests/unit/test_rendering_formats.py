"""The email `_format.j2` helpers written in Python (CLDR dates): the same text the macros they
replaced wrote, and remembered links that never mix up text and markup or two time zones."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup

from forever.rendering import Renderer, long_datetime, remembered

WHEN = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)


def test_dates_read_as_before_in_each_locale() -> None:
    renderer = Renderer()
    rome = WHEN.astimezone(ZoneInfo("Europe/Rome"))
    context = {
        "business": "B",
        "name": "Ana",
        "plan_name": "Plus",
        "access_until": rome,
        "canceled_at": rome,
        "bot_url": "",
        "account_url": "",
        "standing": "",
        "tz": ZoneInfo("Europe/Rome"),
    }
    _, html, _ = renderer.email("cancel_confirmed", "it", **context)
    assert "1 dicembre 2026, ore 10:05 (Europe/Rome)" in html
    _, html, text = renderer.email("cancel_confirmed", "ro", **context)
    assert "1 decembrie 2026, ora 10:05 (Europe/Rome)" in html
    assert "1 decembrie 2026" in text


def test_a_datetime_is_escaped_markup() -> None:
    shown = long_datetime("en", " <at> ")(WHEN)
    assert isinstance(shown, Markup)
    assert shown == "1 December 2026 &lt;at&gt; 09:05 (UTC)"


def test_remembered_keeps_text_markup_and_zones_apart() -> None:
    calls: list[object] = []

    def macro(value: object) -> str:
        calls.append(value)
        return f"{type(value).__name__}:{value}"

    once = remembered(macro)
    assert once("a<b") == once("a<b") == "str:a<b"
    assert once(Markup("a<b")) == "Markup:a<b"
    rome = WHEN.astimezone(ZoneInfo("Europe/Rome"))
    assert once(WHEN) != once(rome)  # equal instants, shown in two zones
    assert len(calls) == 4
