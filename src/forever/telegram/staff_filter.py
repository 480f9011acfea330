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


class IsAnyStaff(Filter):
    """Staff (ADMIN_IDS) or console staff (ADMIN_IDS and SUPPORT_IDS): the parent router's
    check before the staff routers, each of which still applies its own filter."""

    async def __call__(
        self,
        event: Message | CallbackQuery,
        staff_ids: Set[int] = frozenset(),
        console_staff_ids: Set[int] = frozenset(),
    ) -> bool:
        user = event.from_user
        return user is not None and (user.id in staff_ids or user.id in console_staff_ids)

    def __str__(self) -> str:
        return "IsAnyStaff()"
