"""The yearly renewal reminder as the delivery worker sends it: the view's text and its
buttons (one tap opens the yearly invoice of the member's plan; another, the plans).

The sweep (services.renewals) queues a chat outbox row with template `yearly_renewal`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from forever.services.ports import Keyboard
from forever.telegram.upgrade_prompts import as_keyboard
from forever.telegram.views import Views


def yearly_renewal_view(
    views: Views,
) -> Callable[[str, dict[str, Any]], tuple[str, Keyboard | None]]:
    def render(locale: str, context: dict[str, Any]) -> tuple[str, Keyboard | None]:
        until = context["until"]
        assert isinstance(until, datetime)
        zone = context.get("tz")  # the reader's own zone, as the worker resolved it
        shown = views.in_zone(zone) if isinstance(zone, ZoneInfo) else views
        text, markup = shown.yearly_renewal(
            locale,
            context.get("name") or None,
            str(context.get("plan_id") or ""),
            until,
            ended=context.get("step") == "ended",
            stars=stars if isinstance(stars := context.get("stars"), int) else None,
        )
        return text, as_keyboard(markup)

    return render
