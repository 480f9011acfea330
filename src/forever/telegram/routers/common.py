"""/start, /help and the fallback for text the bot does not expect."""

from __future__ import annotations

from collections.abc import Set

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message

from forever.domain.catalog import Catalog
from forever.rendering import Renderer
from forever.services.console_inbox import KeepUnknown
from forever.services.people import Customer
from forever.telegram.commands import staff_commands


async def start(
    message: Message, person: Customer, locale: str, renderer: Renderer, catalog: Catalog
) -> None:
    trial_plan = catalog.plan(catalog.trial.plan_id)
    await message.answer(
        renderer.chat(
            "welcome",
            locale,
            name=person.first_name,
            business=catalog.business_name,
            trial_days=catalog.trial.days,
            trial_plan=trial_plan.name[locale] if trial_plan else "",
        )
    )


async def help_(
    message: Message,
    locale: str,
    renderer: Renderer,
    catalog: Catalog,
    staff_ids: Set[int] = frozenset(),
) -> None:
    # Staff also see their commands; customers get no hint that they exist.
    user = message.from_user
    staff = [
        (c.command, c.description)
        for c in (staff_commands(locale) if user is not None and user.id in staff_ids else [])
    ]
    await message.answer(
        renderer.chat("help", locale, business=catalog.business_name, staff_commands=staff)
    )


async def unknown(
    message: Message,
    locale: str,
    renderer: Renderer,
    person: Customer | None = None,
    keep_unknown: KeepUnknown | None = None,
) -> None:
    # The owner console's inbox keeps customers' texts the bot did not understand (not
    # unknown /commands: those are no message to anyone).
    text = message.text or ""
    if keep_unknown and person and person.telegram_id and text and not text.startswith("/"):
        await keep_unknown(person_id=person.id, telegram_id=person.telegram_id, text=text)
    await message.answer(renderer.chat("unknown", locale))


async def stale_button(query: CallbackQuery) -> None:
    # A button nobody handles (old or forged): answer so the client stops spinning.
    await query.answer()


def build_router() -> Router:
    # A new Router per dispatcher: aiogram attaches a router to one parent only, and tests
    # and scale-out run several dispatchers in one process.
    router = Router(name="common")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(unknown, F.chat.type == "private")
    router.callback_query.register(stale_button)
    return router
