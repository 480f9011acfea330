"""The Bot API calls membership access needs (jobs.access_effects.AccessPort), and the
start-up check that the bot may do them in every catalog chat."""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner

from forever.domain.catalog import Catalog


class BotAccessPort:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def create_link(
        self,
        chat_id: int,
        *,
        name: str,
        join_request: bool,
        expire_at: datetime | None = None,
    ) -> str:
        link = await self.bot.create_chat_invite_link(
            chat_id,
            name=name[:32],
            creates_join_request=True if join_request else None,
            member_limit=None if join_request else 1,
            expire_date=expire_at,
        )
        return link.invite_link

    async def approve(self, chat_id: int, user_id: int) -> None:
        await self.bot.approve_chat_join_request(chat_id, user_id)

    async def decline(self, chat_id: int, user_id: int) -> None:
        await self.bot.decline_chat_join_request(chat_id, user_id)

    async def member_status(self, chat_id: int, user_id: int) -> str:
        member = await self.bot.get_chat_member(chat_id, user_id)
        return str(member.status)

    async def remove(self, chat_id: int, user_id: int) -> None:
        """Out of the chat, free to come back through a new link later."""
        await self.bot.ban_chat_member(chat_id, user_id)
        await self.bot.unban_chat_member(chat_id, user_id, only_if_banned=True)

    async def unban(self, chat_id: int, user_id: int) -> None:
        await self.bot.unban_chat_member(chat_id, user_id, only_if_banned=True)


async def check_chat_rights(bot: Bot, catalog: Catalog) -> list[str]:
    """One line per catalog chat where the bot is not an administrator that may invite users
    and ban them (restrict members); empty when all is well."""
    if not catalog.chats:
        return []
    me = await bot.get_me()
    problems: list[str] = []
    for chat in catalog.chats:
        where = f"catalog chat {chat.key!r} ({chat.chat_id})"
        try:
            member = await bot.get_chat_member(chat.chat_id, me.id)
        except TelegramAPIError as exc:
            problems.append(f"{where}: the bot cannot see it ({exc.message}); add the bot to it")
            continue
        if isinstance(member, ChatMemberOwner):
            continue
        if not isinstance(member, ChatMemberAdministrator):
            problems.append(
                f"{where}: the bot is {member.status}, not an administrator; make it an "
                "administrator with 'invite users' and 'ban users'"
            )
            continue
        missing = [
            right
            for right, held in (
                ("can_invite_users", member.can_invite_users),
                ("can_restrict_members", member.can_restrict_members),
            )
            if not held
        ]
        if missing:
            problems.append(f"{where}: the bot's administrator rights lack {', '.join(missing)}")
    return problems
