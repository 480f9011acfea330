"""/console for owners and support staff: a one-time sign-in link to the web console.

Support staff (SUPPORT_IDS) are let through too, unlike the other staff commands: the
console itself limits what their role may do."""

from __future__ import annotations

from collections.abc import Set

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.types import LinkPreviewOptions, Message

from forever.domain.console import LINK_TTL
from forever.services.console import ConsoleAuth
from forever.telegram.staff_texts import StaffTexts


class IsConsoleStaff(Filter):
    async def __call__(self, message: Message, console_staff_ids: Set[int]) -> bool:
        user = message.from_user
        return user is not None and user.id in console_staff_ids


async def console_command(
    message: Message,
    console_auth: ConsoleAuth,
    console_base_url: str,
    staff_texts: StaffTexts,
    locale: str,
) -> None:
    user = message.from_user
    token = await console_auth.issue_link(user.id) if user else None
    if token is None:  # the filter let them through; the settings changed meanwhile
        return
    await message.answer(
        staff_texts(
            "console_link",
            locale,
            console_url=f"{console_base_url}/console/login/{token}",
            minutes=int(LINK_TTL.total_seconds() // 60),
        ),
        # No preview: Telegram's preview fetcher must not be the one that opens the link.
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


def build_router() -> Router:
    router = Router(name="staff_console")
    router.message.filter(IsConsoleStaff())
    router.message.register(console_command, Command("console"))
    return router
