"""Small helpers shared by the customer routers."""

from __future__ import annotations

from aiogram import Bot

from forever.telegram.bot_port import BotChatPort
from forever.telegram.lean_session import result_unread
from forever.telegram.views import View


def chat_of(bot: Bot) -> BotChatPort:
    return BotChatPort(bot)


async def send(bot: Bot, chat_id: int, view: View) -> None:
    text, markup = view
    with result_unread():  # nobody reads the Message sent back: not parsed
        await bot.send_message(chat_id, text, reply_markup=markup)
