"""/language and /privacy (what is kept; erase on one confirming tap)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from forever.app import Container
from forever.db.models import Person
from forever.db.repositories import lifecycle_compat as accounts
from forever.services import privacy
from forever.telegram.callbacks import LangCb, Nav, PrivacyCb
from forever.telegram.routers.helpers import chat_of, send, views_of


async def language_command(
    message: Message, person: Person, container: Container, bot: Bot
) -> None:
    await send(bot, message.chat.id, views_of(container).language_ask(person.language))


async def language_button(
    query: CallbackQuery, person: Person, container: Container, bot: Bot
) -> None:
    await query.answer()
    await send(bot, query.from_user.id, views_of(container).language_ask(person.language))


async def language_pick(
    query: CallbackQuery, callback_data: LangCb, person: Person, container: Container, bot: Bot
) -> None:
    snap = await accounts.set_language(container, person.id, callback_data.code)
    if snap is None:
        await query.answer(container.renderer.chat("not_possible", person.language))
        return
    await query.answer()
    await bot.send_message(
        query.from_user.id, container.renderer.chat("language_set", snap.language)
    )


async def privacy_command(message: Message, person: Person, container: Container, bot: Bot) -> None:
    kept = await privacy.what_we_keep(container, person.id)
    await send(bot, message.chat.id, views_of(container).privacy(kept.snap, kept.payments))


async def privacy_button(
    query: CallbackQuery, callback_data: PrivacyCb, person: Person, container: Container, bot: Bot
) -> None:
    r = container.renderer
    locale = person.language
    if callback_data.action == "erase":
        await query.answer()
        await send(bot, query.from_user.id, views_of(container).privacy_confirm(locale))
    elif callback_data.action == "confirm":
        await privacy.erase(container, chat_of(bot), person.id)
        await query.answer()
        # Said even on a second tap: the data is gone either way.
        await bot.send_message(query.from_user.id, r.chat("privacy_erased", locale))
    else:
        await query.answer()
        await bot.send_message(query.from_user.id, r.chat("no_change", locale))


def build_router() -> Router:
    router = Router(name="settings")
    router.message.register(language_command, Command("language"))
    router.message.register(privacy_command, Command("privacy"))
    router.callback_query.register(language_button, Nav.filter(F.view == "language"))
    router.callback_query.register(language_pick, LangCb.filter())
    router.callback_query.register(privacy_button, PrivacyCb.filter())
    return router
