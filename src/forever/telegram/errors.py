"""The last line of defence: no update ever ends in a traceback shown to anyone."""

from __future__ import annotations

import logging
from contextlib import suppress

from aiogram import Router
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import ErrorEvent

from forever.domain.clock import Clock
from forever.services.ports import PeopleRepository, UnitOfWork

log = logging.getLogger(__name__)


def errors_router(uow: UnitOfWork, people: PeopleRepository, clock: Clock) -> Router:
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
            async with uow.begin():
                person = await people.by_telegram_id(user.id)
                if person is not None:
                    await people.mark_blocked(person.id, clock.now())
                    await uow.commit()
            log.info("user %s blocked the bot; marked", user.id)
            return True
        if isinstance(event.exception, TelegramRetryAfter):
            # Telegram kept answering 429 after every retry (telegram/sending.py logged each):
            # a known condition, not a bug; one line, no traceback.
            log.warning(
                "update %s: reply not sent, Telegram kept answering 429 (retry after %s s)",
                update_.update_id,
                event.exception.retry_after,
            )
            return True
        log.exception("update %s failed", update_.update_id, exc_info=event.exception)
        if update_.callback_query is not None:
            with suppress(Exception):  # best effort: the error is already logged
                await update_.callback_query.answer()
        return True

    return router
