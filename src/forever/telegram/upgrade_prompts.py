"""The upgrade prompt as the delivery worker sends it: the view's text and its buttons.

The sweep (services.upgrades) queues a chat outbox row with template `upgrade_prompt`; the
worker renders it through this view so the message carries the "Upgrade to ..." button."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from aiogram.types import InlineKeyboardMarkup

from forever.services.ports import Button, Keyboard
from forever.telegram.views import Views


def as_keyboard(markup: InlineKeyboardMarkup | None) -> Keyboard | None:
    if markup is None:
        return None
    return [
        [Button(text=b.text, callback_data=b.callback_data, url=b.url) for b in row]
        for row in markup.inline_keyboard
    ]


def _prices(found: object) -> dict[str, int] | None:
    if not isinstance(found, dict):
        return None
    return {str(k): v for k, v in found.items() if isinstance(v, int) and v > 0}


def upgrade_prompt_view(
    views: Views,
) -> Callable[[str, dict[str, Any]], tuple[str, Keyboard | None]]:
    def render(locale: str, context: dict[str, Any]) -> tuple[str, Keyboard | None]:
        text, markup = views.upgrade_prompt(
            locale,
            context.get("name") or None,
            str(context["from_plan"]),
            str(context["to_plan"]),
            str(context["rule"]),
            int(context.get("usage") or 0),
            int(context.get("ppu_stars") or 0),
            prices=_prices(context.get("prices")),
        )
        texts = context.get("prompt_texts")
        if isinstance(texts, dict) and texts.get(locale):
            # An experiment arm's opening line (staff-written catalog text, shown as text).
            text = f"{html.escape(str(texts[locale]))}\n\n{text}"
        return text, as_keyboard(markup)

    return render
