"""Every staff message renders in every locale, as HTML Telegram accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from forever.config import LOCALES
from forever.domain.kpi import EventRow, compute
from forever.rendering import Renderer
from forever.sandbox.fake_bot_api.html_entities import parse_html
from forever.telegram.staff_texts import StaffTexts

texts = StaffTexts(Renderer())
WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KPIS = compute(
    [EventRow("payment", WHEN - timedelta(days=40), 1, {"plan": "plus", "amount": 300})],
    WHEN - timedelta(days=30),
    WHEN,
)

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
    "k": KPIS,
    "plan_names": {"plus": "Plus"},
    "p": SimpleNamespace(
        first_name="Ana <i>",
        username="ana",
        telegram_id=4001,
        language="ro",
        email="ana@example.com",
        email_status="confirmed",
        blocked_at=WHEN,
    ),
    "s": SimpleNamespace(state="active", plan_id="plus", billing="grant", period_end=WHEN),
    "events": [SimpleNamespace(at=WHEN, kind="granted", data={"plan": "plus", "by": 1})],
    "entries": [
        SimpleNamespace(at=WHEN, actor_telegram_id=900001, action="grant", arguments={"days": 3})
    ],
    "plans": ["basic", "plus"],
    "plan": "gold",
    "plan_name": "Plus",
    "name": "Ana",
    "telegram_id": 4001,
    "until": WHEN,
    "text": "thirty",
    "who": "@nobody",
    "max_days": 3650,
    "days": 30,
    "told": True,
    "language": "Română",
    "languages": ["English", "Română"],
    "missing": ["Italiano"],
    "fallback": "English",
    "customer_name": "Ana <i>",
    "customer_username": "ana",
    "customer_id": 4001,
    "customer_language": "Română",
    "broadcast_id": 3,
}


def test_every_locale_has_the_same_staff_messages() -> None:
    assert texts.names("ro") == texts.names("en")
    assert texts.names("it") == texts.names("en")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_staff_message_renders(locale: str) -> None:
    module = texts.module(locale)
    for name in texts.names(locale):
        macro = getattr(module, name)
        wanted = {a: SAMPLE[a] for a in macro.arguments}
        html = texts(name, locale, **wanted)
        assert html, name
        text, _ = parse_html(html)
        assert 0 < len(text) <= 4096, name
        if "value" in wanted and name == "segment_name":
            assert "Plus <b>" in text  # markup in data is shown, not obeyed
