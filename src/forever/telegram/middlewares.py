"""Middlewares: who is talking, in which language, with the services at hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from forever.app import Container
from forever.services.people import TelegramUser


class PersonMiddleware(BaseMiddleware):
    """Loads (or creates) the person for the update's user and puts it, with its locale,
    into the handler's data as `person` and `locale`."""

    def __init__(self, container: Container) -> None:
        self.container = container

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return await handler(event, data)
        person = await self.container.people.identify(
            TelegramUser(user.id, user.first_name, user.username, user.language_code)
        )
        data["person"] = person
        data["locale"] = person.language
        return await handler(event, data)
