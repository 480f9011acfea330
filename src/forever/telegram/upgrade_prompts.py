"""The upgrade-prompt sweep: the service picks who is due (and records it), this sends."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from sqlalchemy import update

from forever.db.models import Person
from forever.services.upgrades import claim_due_prompts
from forever.telegram.routers.helpers import views_of

if TYPE_CHECKING:
    from aiogram import Bot

    from forever.app import Container

log = logging.getLogger(__name__)


async def send_upgrade_prompts(container: Container, now: datetime) -> int:
    """Sweep entry: returns how many prompts were delivered."""
    bot: Bot | None = container.extras.get("bot")
    own_bot = None
    if bot is None:
        token = container.settings.bot_token
        if token is None:
            return 0
        from forever.app import build_bot

        bot = own_bot = build_bot(container.settings, token.get_secret_value())
    try:
        due = await claim_due_prompts(container, now)
        views = views_of(container)
        sent = 0
        for prompt in due:
            text, markup = views.upgrade_prompt(
                prompt.language,
                prompt.name,
                prompt.from_plan,
                prompt.to_plan,
                prompt.rule.value,
                prompt.usage,
            )
            try:
                await bot.send_message(prompt.telegram_id, text, reply_markup=markup)
                sent += 1
            except TelegramForbiddenError:
                async with container.sessions.begin() as session:
                    await session.execute(
                        update(Person).where(Person.id == prompt.person_id).values(blocked_at=now)
                    )
            except TelegramAPIError:
                log.warning("upgrade prompt to %s failed", prompt.person_id, exc_info=True)
        return sent
    finally:
        if own_bot is not None:
            await own_bot.session.close()
