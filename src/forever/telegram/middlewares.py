"""Middlewares: who is talking, and in which language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import Message, TelegramObject, User

from forever.rendering import Renderer
from forever.services.people import IdentifyPerson, TelegramUser
from forever.telegram.views import Views


class PersonMiddleware(BaseMiddleware):
    """Puts the person behind the update's user, with their locale, into the handler's data
    as `person` and `locale`, and binds `renderer` and `views` to the person's time zone.

    Also puts `standing`, the person's snapshot when the lookup read it (else None).

    It writes nothing itself: `identify_person` (from the dispatcher's workflow data) only
    reads, unless the update changes what we keep (first contact, unblocking, a new username,
    `last_seen_at` older than a few minutes), and then that use case commits.

    `remember_locale` hears each person's language (the flood guard keeps it, so a slow-down
    notice needs no database read)."""

    # What it reads or replaces in the data of each update (the rest of the workflow data
    # is bound into the handlers once: telegram/prepared_handlers.py).
    PER_UPDATE = frozenset({"identify_person", "renderer", "views"})

    def __init__(self, remember_locale: Callable[[int, str], None] | None = None) -> None:
        self.remember_locale = remember_locale

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
        seen = await identify.seen(
            TelegramUser(user.id, user.first_name, user.username, user.language_code)
        )
        person = seen.customer
        data["person"] = person
        # Where they stand, when the same read told it: /start shows it without reading.
        data["standing"] = seen.standing
        data["locale"] = person.language
        if self.remember_locale is not None:
            self.remember_locale(user.id, person.language)
        # One zone per person: every time this update shows is in theirs (issue 13).
        renderer: Renderer | None = data.get("renderer")
        views: Views | None = data.get("views")
        if renderer is not None:
            zone = renderer.zone_for(person.timezone, person.language)
            data["renderer"] = renderer.in_zone(zone)
            if views is not None:
                data["views"] = views.in_zone(zone)
        return await handler(event, data)


class IgnoreGroupChatter(BaseMiddleware):
    """Group talk no handler takes ends here, before the person is looked up (or created on
    first contact: a group member who never opened the bot is nobody we keep). In a group,
    handlers take only commands, payments and a conversation under way (an FSM state)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if (
            isinstance(event, Message)
            and event.chat.type != "private"
            and data.get("raw_state") is None
            and not _addresses_the_bot(event)
        ):
            return UNHANDLED
        return await handler(event, data)


def _addresses_the_bot(message: Message) -> bool:
    if message.successful_payment is not None or message.refunded_payment is not None:
        return True
    return (message.text or message.caption or "").startswith("/")
