"""The command menu (setMyCommands) per language, with staff commands only for staff."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from forever.config import LOCALES
from forever.rendering import TEMPLATES_DIR

log = logging.getLogger(__name__)


def command_menu(
    locale: str, staff: bool = False, templates_dir: Path = TEMPLATES_DIR
) -> list[BotCommand]:
    data = tomllib.loads((templates_dir / "commands" / f"{locale}.toml").read_text("utf-8"))
    staff_part = data.pop("staff", {})
    commands = [BotCommand(command=name, description=text) for name, text in data.items()]
    if staff:
        commands += [BotCommand(command=n, description=t) for n, t in staff_part.items()]
    return commands


def staff_commands(locale: str, templates_dir: Path = TEMPLATES_DIR) -> list[BotCommand]:
    """The staff part of the menu alone (what /help adds for staff)."""
    data = tomllib.loads((templates_dir / "commands" / f"{locale}.toml").read_text("utf-8"))
    return [BotCommand(command=n, description=t) for n, t in data.get("staff", {}).items()]


async def register_commands(bot: Bot, default_locale: str, staff_ids: frozenset[int]) -> None:
    """Customers see their commands in their language; staff also see theirs. Nobody else
    gets a hint that staff commands exist."""
    try:
        await bot.set_my_commands(command_menu(default_locale), scope=BotCommandScopeDefault())
        for locale in LOCALES:
            await bot.set_my_commands(
                command_menu(locale), scope=BotCommandScopeDefault(), language_code=locale
            )
    except TelegramAPIError:
        # The menu is a convenience; the bot works without it.
        log.warning("could not register the command menu", exc_info=True)
    for staff_id in sorted(staff_ids):
        try:
            await bot.set_my_commands(
                command_menu(default_locale, staff=True),
                scope=BotCommandScopeChat(chat_id=staff_id),
            )
        except TelegramAPIError as error:
            # Telegram knows a chat only after the person opened the bot once.
            log.warning("no staff command menu for %s: %s", staff_id, error.message)
