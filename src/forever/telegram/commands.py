"""The command menu (setMyCommands) per language, with staff commands only for staff."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from forever import catalogs
from forever.catalogs import translations
from forever.domain.locales import CATALOG_LOCALES, SOURCE_LOCALE
from forever.rendering import TEMPLATES_DIR

log = logging.getLogger(__name__)


def menu_texts(locale: str, templates_dir: Path = TEMPLATES_DIR) -> dict[str, Any]:
    """The command descriptions in a locale: commands/en.toml holds the English ones (the
    message ids, context 'command:<name>' or 'command:staff.<name>'), the catalogs their
    translations; a `commands/<locale>.toml` that still exists wins for what it has."""
    folder = templates_dir / "commands"
    data = tomllib.loads((folder / f"{SOURCE_LOCALE}.toml").read_text("utf-8"))
    catalog = translations(locale)
    staff = {n: catalog.pgettext(f"command:staff.{n}", t) for n, t in data.pop("staff", {}).items()}
    texts: dict[str, Any] = {n: catalog.pgettext(f"command:{n}", t) for n, t in data.items()}
    own = folder / f"{locale}.toml"
    if locale != SOURCE_LOCALE and own.is_file():
        override = tomllib.loads(own.read_text("utf-8"))
        staff.update(override.pop("staff", {}))
        texts.update({n: t for n, t in override.items() if n in texts})
    texts["staff"] = staff
    return texts


def command_menu(
    locale: str, staff: bool = False, templates_dir: Path = TEMPLATES_DIR
) -> list[BotCommand]:
    data = menu_texts(locale, templates_dir)
    staff_part = data.pop("staff", {})
    commands = [BotCommand(command=name, description=text) for name, text in data.items()]
    if staff:
        commands += [BotCommand(command=n, description=t) for n, t in staff_part.items()]
    return commands


def staff_commands(locale: str, templates_dir: Path = TEMPLATES_DIR) -> list[BotCommand]:
    """The staff part of the menu alone (what /help adds for staff)."""
    data = menu_texts(locale, templates_dir)
    return [BotCommand(command=n, description=t) for n, t in data["staff"].items()]


async def register_commands(bot: Bot, default_locale: str, staff_ids: frozenset[int]) -> None:
    """Customers see their commands in their language; staff also see theirs. Nobody else
    gets a hint that staff commands exist."""
    try:
        await bot.set_my_commands(command_menu(default_locale), scope=BotCommandScopeDefault())
        for locale in CATALOG_LOCALES:  # ru and es too: the menu is translated
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


def _menu_overrides() -> dict[tuple[str, str, str], object]:
    return {k: v for k, v in catalogs.overrides().items() if k[1].startswith("command:")}


class CommandMenus:
    """The command menu with Telegram, following the owner's overrides of its descriptions
    (console text editor): `register_all` at start, then `follow` after the texts in force
    changed (a save here, or another instance's save picked up on the 30-second loop)
    registers again the menu of each locale whose command texts changed."""

    def __init__(self, bot: Bot, default_locale: str, staff_ids: frozenset[int]) -> None:
        self.bot = bot
        self.default_locale = default_locale
        self.staff_ids = staff_ids
        self._registered = _menu_overrides()
        self._started = False

    async def register_all(self) -> None:
        self._registered = _menu_overrides()
        self._started = True
        await register_commands(self.bot, self.default_locale, self.staff_ids)

    async def follow(self) -> list[str]:
        """The locales whose menu was registered again (none if no command text changed)."""
        now = _menu_overrides()
        if not self._started or now == self._registered:
            return []
        keys = set(now) | set(self._registered)
        changed = sorted({k[0] for k in keys if now.get(k) != self._registered.get(k)})
        self._registered = now
        for locale in changed:
            await self.register(locale)
        return changed

    async def register(self, locale: str) -> None:
        """One locale's menu as at start: the customers' menu in that language and, for the
        default locale, the menu of everyone without one and the staff's own."""
        try:
            await self.bot.set_my_commands(
                command_menu(locale), scope=BotCommandScopeDefault(), language_code=locale
            )
            if locale == self.default_locale:
                await self.bot.set_my_commands(command_menu(locale), scope=BotCommandScopeDefault())
        except TelegramAPIError:
            log.warning("could not register the %s command menu", locale, exc_info=True)
        if locale != self.default_locale:
            return
        for staff_id in sorted(self.staff_ids):
            try:
                await self.bot.set_my_commands(
                    command_menu(locale, staff=True), scope=BotCommandScopeChat(chat_id=staff_id)
                )
            except TelegramAPIError as error:
                log.warning("no staff command menu for %s: %s", staff_id, error.message)
