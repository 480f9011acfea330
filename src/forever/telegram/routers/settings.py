"""/language (and the time zone every time is shown in) and /privacy (what is kept; erase on
one confirming tap)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from forever.rendering import Renderer
from forever.services.people import Customer, SetLanguage, SetTimezone
from forever.services.privacy import Privacy
from forever.telegram.callbacks import LangCb, Nav, PrivacyCb, TzCb
from forever.telegram.routers.helpers import send
from forever.telegram.views import Views


async def language_command(message: Message, person: Customer, views: Views, bot: Bot) -> None:
    await send(bot, message.chat.id, views.language_ask(person.language))


async def language_button(query: CallbackQuery, person: Customer, views: Views, bot: Bot) -> None:
    await query.answer()
    await send(bot, query.from_user.id, views.language_ask(person.language))


async def language_pick(
    query: CallbackQuery,
    callback_data: LangCb,
    person: Customer,
    set_language: SetLanguage,
    renderer: Renderer,
    bot: Bot,
) -> None:
    snap = await set_language(person.id, callback_data.code)
    if snap is None:
        await query.answer(renderer.chat("not_possible", person.language))
        return
    await query.answer()
    await bot.send_message(query.from_user.id, renderer.chat("language_set", snap.language))


async def timezone_button(query: CallbackQuery, person: Customer, views: Views, bot: Bot) -> None:
    await query.answer()
    await send(bot, query.from_user.id, views.timezone_ask(person.language))


async def timezone_pick(
    query: CallbackQuery,
    callback_data: TzCb,
    person: Customer,
    set_timezone: SetTimezone,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    done = await set_timezone(person.id, callback_data.zone)
    if done is None:
        await query.answer(renderer.chat("not_possible", person.language))
        return
    await query.answer()
    # Said in the zone just chosen: the times of this update were bound to the old one.
    chosen = views.in_zone(renderer.zone_for(done.zone, person.language))
    await send(bot, query.from_user.id, chosen.timezone_set(person.language, done.at))


async def privacy_command(
    message: Message, person: Customer, privacy: Privacy, views: Views, bot: Bot
) -> None:
    kept = await privacy.what_we_keep(person.id)
    await send(bot, message.chat.id, views.privacy(kept.snap, kept.payments))


async def privacy_button(
    query: CallbackQuery,
    callback_data: PrivacyCb,
    person: Customer,
    privacy: Privacy,
    views: Views,
    renderer: Renderer,
    bot: Bot,
) -> None:
    locale = person.language
    if callback_data.action == "erase":
        await query.answer()
        await send(bot, query.from_user.id, views.privacy_confirm(locale))
    elif callback_data.action == "confirm":
        await privacy.erase(person.id)
        await query.answer()
        # Said even on a second tap: the data is gone either way.
        await bot.send_message(query.from_user.id, renderer.chat("privacy_erased", locale))
    else:
        await query.answer()
        await bot.send_message(query.from_user.id, renderer.chat("no_change", locale))


def build_router() -> Router:
    router = Router(name="settings")
    router.message.register(language_command, Command("language"))
    router.message.register(privacy_command, Command("privacy"))
    router.callback_query.register(language_button, Nav.filter(F.view == "language"))
    router.callback_query.register(language_pick, LangCb.filter())
    router.callback_query.register(timezone_button, Nav.filter(F.view == "tz"))
    router.callback_query.register(timezone_pick, TzCb.filter())
    router.callback_query.register(privacy_button, PrivacyCb.filter())
    return router
