"""Small helpers shared by the customer routers."""

from __future__ import annotations

from typing import Protocol

from aiogram import Bot
from aiogram.types import CallbackQuery

from forever.rendering import Renderer
from forever.telegram.bot_port import BotChatPort
from forever.telegram.views import View, Views


class _HasViews(Protocol):
    @property
    def views(self) -> Views: ...


class _HasRenderer(Protocol):
    @property
    def renderer(self) -> Renderer: ...


def views_of(container: _HasViews) -> Views:
    """DEPRECATED: handlers take `views: Views` by name (telegram/setup.py puts the one Views
    of the process in the dispatcher's data). Kept only while routers not yet converted
    call it; delete it with the last caller."""
    return container.views


def chat_of(bot: Bot) -> BotChatPort:
    return BotChatPort(bot)


async def send(bot: Bot, chat_id: int, view: View) -> None:
    text, markup = view
    await bot.send_message(chat_id, text, reply_markup=markup)


async def answer_stale(
    query: CallbackQuery, renderer: _HasRenderer | Renderer, locale: str
) -> None:
    """The button was for an older state: say so briefly; the caller shows the current view.

    Pass the renderer (handlers receive `renderer` by name); passing the container still works
    while routers not yet converted do."""
    if not isinstance(renderer, Renderer):
        renderer = renderer.renderer
    await query.answer(renderer.chat("stale", locale), show_alert=False)
