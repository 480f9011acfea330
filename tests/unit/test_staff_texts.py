"""Every staff message renders in every locale, as HTML Telegram accepts."""

from __future__ import annotations

import pytest

from forever.config import LOCALES
from forever.rendering import Renderer
from forever.sandbox.fake_bot_api.html_entities import parse_html
from forever.telegram.staff_texts import StaffTexts

texts = StaffTexts(Renderer())

SAMPLE = {
    "id": 7,
    "done": 40,
    "total": 100,
    "reason": "unknown placeholder 'x'",
    "kind": "plan",
    "value": "Plus <b>",
    "segment": "Everyone",
    "status": "done",
    "bar": "███░░░",
    "percent": 40,
    "rate": "28.0",
    "left": "2m 05s",
    "final": False,
    "delivered": 90,
    "blocked": 5,
    "failed": 1,
    "unsent": 4,
    "duration": "3m 20s",
}


def test_every_locale_has_the_same_staff_messages() -> None:
    assert texts.names("ro") == texts.names("en")
    assert texts.names("it") == texts.names("en")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_staff_message_renders(locale: str) -> None:
    module = texts.module(locale)
    for name in texts.names(locale):
        macro = getattr(module, name)
        wanted = {a: SAMPLE.get(a, 3) for a in macro.arguments}
        html = texts(name, locale, **wanted)
        assert html, name
        text, _ = parse_html(html)
        assert 0 < len(text) <= 4096, name
        if "value" in wanted and name == "segment_name":
            assert "Plus <b>" in text  # markup in data is shown, not obeyed
