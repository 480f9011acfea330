"""Staff-only routers: the filter lets through only users listed in ADMIN_IDS."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from forever.app import Container


class IsStaff(Filter):
    async def __call__(self, event: Message | CallbackQuery, container: Container) -> bool:
        user = event.from_user
        return user is not None and user.id in container.settings.admin_ids

    def __str__(self) -> str:
        return "IsStaff()"
