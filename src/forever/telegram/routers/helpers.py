"""Small helpers shared by the customer routers."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import CallbackQuery

from forever.app import Container
from forever.telegram.bot_port import BotChatPort
from forever.telegram.labels import labels_of
from forever.telegram.views import View, Views


def views_of(container: Container) -> Views:
    views = container.extras.get("views")
    if views is None:
        views = container.extras["views"] = Views(
            container.renderer, labels_of(container), container.catalog
        )
    return views


def chat_of(bot: Bot) -> BotChatPort:
    return BotChatPort(bot)


async def send(bot: Bot, chat_id: int, view: View) -> None:
    text, markup = view
    await bot.send_message(chat_id, text, reply_markup=markup)


async def answer_stale(query: CallbackQuery, container: Container, locale: str) -> None:
    """The button was for an older state: say so briefly; the caller shows the current view."""
    await query.answer(container.renderer.chat("stale", locale), show_alert=False)
