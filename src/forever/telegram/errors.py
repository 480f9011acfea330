"""The last line of defence: no update ever ends in a traceback shown to anyone."""

from __future__ import annotations

import logging
from contextlib import suppress

from aiogram import Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import ErrorEvent
from sqlalchemy import update

from forever.app import Container
from forever.db.models import Person

log = logging.getLogger(__name__)


def errors_router(container: Container) -> Router:
    router = Router(name="errors")

    @router.error()
    async def on_error(event: ErrorEvent) -> bool:
        update_ = event.update
        user = None
        for part in (update_.message, update_.callback_query, update_.pre_checkout_query):
            if part is not None and part.from_user is not None:
                user = part.from_user
                break
        if isinstance(event.exception, TelegramForbiddenError) and user is not None:
            # The person blocked the bot: remember it, stop writing to them.
            async with container.sessions.begin() as session:
                await session.execute(
                    update(Person)
                    .where(Person.telegram_id == user.id)
                    .values(blocked_at=container.clock.now())
                )
            log.info("user %s blocked the bot; marked", user.id)
            return True
        log.exception("update %s failed", update_.update_id, exc_info=event.exception)
        if update_.callback_query is not None:
            with suppress(Exception):  # best effort: the error is already logged
                await update_.callback_query.answer()
        return True

    return router
