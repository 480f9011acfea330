"""Middlewares: who is talking, and in which language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from forever.rendering import Renderer
from forever.services.people import IdentifyPerson, TelegramUser
from forever.telegram.views import Views


class PersonMiddleware(BaseMiddleware):
    """Puts the person behind the update's user, with their locale, into the handler's data
    as `person` and `locale`, and binds `renderer` and `views` to the person's time zone.

    It writes nothing itself: `identify_person` (from the dispatcher's workflow data) only
    reads, unless the update changes what we keep (first contact, unblocking, a new username,
    `last_seen_at` older than a few minutes), and then that use case commits."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return await handler(event, data)
        identify: IdentifyPerson = data["identify_person"]
        person = await identify(
            TelegramUser(user.id, user.first_name, user.username, user.language_code)
        )
        data["person"] = person
        data["locale"] = person.language
        # One zone per person: every time this update shows is in theirs (issue 13).
        renderer: Renderer | None = data.get("renderer")
        views: Views | None = data.get("views")
        if renderer is not None:
            zone = renderer.zone_for(person.timezone, person.language)
            data["renderer"] = renderer.in_zone(zone)
            if views is not None:
                data["views"] = views.in_zone(zone)
        return await handler(event, data)
