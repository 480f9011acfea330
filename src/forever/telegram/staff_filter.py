"""Staff-only routers: the filter lets through only users listed in ADMIN_IDS."""

from __future__ import annotations

from collections.abc import Set

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message


class IsStaff(Filter):
    """`staff_ids` comes from the dispatcher's workflow data (wiring/staff.py)."""

    async def __call__(self, event: Message | CallbackQuery, staff_ids: Set[int]) -> bool:
        user = event.from_user
        return user is not None and user.id in staff_ids

    def __str__(self) -> str:
        return "IsStaff()"
