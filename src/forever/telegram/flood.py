"""The flood guard at the door: each update is counted against its sender before any
database work, and a flooder's extra updates are dropped.

Polling: an update middleware that runs before the FSM middleware (which, with Redis,
reads state and takes a lock per update) and before the person middleware (a database
read, or a write on first contact). Webhook: the endpoint asks before it stores the update
in the inbox (web/webhook.py via telegram/inbox.py), so a dropped update is never stored.
One `FloodGate` per process serves whichever of the two the Runtime runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.middlewares.error import ErrorsMiddleware
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import TelegramObject, Update, User

from forever.domain.flood import FloodGuard, Verdict
from forever.metrics import Metrics
from forever.rendering import Renderer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Screened:
    admitted: bool
    # The cheap answer to a dropped update, if it needs one: a dropped button press is
    # answered (no text) so the person's client stops its spinner.
    reply: TelegramMethod[Any] | None = None


ADMITTED = Screened(True)


def exempt(update: Update) -> bool:
    """Money moved at Telegram: a pre-checkout query must be answered within 10 s, and a
    payment, refund or subscription change must be recorded. Never dropped, never counted."""
    if update.pre_checkout_query is not None or update.subscription is not None:
        return True
    message = update.message
    return message is not None and (
        message.successful_payment is not None or message.refunded_payment is not None
    )


def _in_private_chat(update: Update) -> bool:
    if update.message is not None:
        return update.message.chat.type == "private"
    query = update.callback_query
    return query is not None and query.message is not None and query.message.chat.type == "private"


class FloodGate:
    def __init__(
        self,
        guard: FloodGuard,
        *,
        bot: Bot,
        renderer: Renderer,
        staff_ids: Set[int],
        metrics: Metrics,
    ) -> None:
        self.guard = guard
        self.bot = bot
        self.renderer = renderer
        # Staff (ADMIN_IDS, SUPPORT_IDS) are not counted: the operator named them, and their
        # work comes in quick runs (composing a broadcast, answering a queue of customers,
        # confirming refunds) where a dropped tap would lose a decision about money or
        # messages to everyone. A flood from outside comes from customers or strangers.
        self.staff_ids = frozenset(staff_ids)
        self.metrics = metrics
        self._notices: set[asyncio.Task[None]] = set()

    def screen(self, update: Update, *, free_reply: bool = False) -> Screened:
        """Admit the update or drop it; costs no I/O (a notice is sent in the background).
        `free_reply`: a reply costs no request of its own (it rides on the webhook's answer)."""
        user = UserContextMiddleware.resolve_event_context(update).user
        if user is None or user.is_bot or user.id in self.staff_ids or exempt(update):
            return ADMITTED
        verdict = self.guard.check(user.id)
        if verdict.admitted:
            return ADMITTED
        self.metrics.flood_dropped.labels(update.event_type).inc()
        if verdict is Verdict.FIRST_DROP:
            log.info("user %s is flooding: dropping their updates above the rate", user.id)
        # Told in their private chat only: a group should not read it, and the bot may not
        # write first to someone who never opened it.
        if _in_private_chat(update) and self.guard.claim_notice(user.id):
            self._notify(user)
        query = update.callback_query
        if query is not None and (free_reply or self.guard.claim_answer(user.id)):
            # Answered without text: no database, no message budget, and the spinner of a
            # person who taps quickly stops. Polling pays a Bot API call per answer, so only
            # the first few presses of an episode get one (a script's hundreds would hold up
            # everyone's replies on the way out); Telegram's client gives up on the rest.
            return Screened(False, AnswerCallbackQuery(callback_query_id=query.id))
        return Screened(False)

    def _notify(self, user: User) -> None:
        locale = self.guard.locale_of(user.id) or self.renderer.locale_for(user.language_code)
        task = asyncio.create_task(self._send(user.id, self.renderer.chat("flood_notice", locale)))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _send(self, chat_id: int, text: str) -> None:
        try:
            await self.bot.send_message(chat_id, text)
        except TelegramAPIError as exc:  # blocked, or Telegram busy: the notice is a courtesy
            log.info("flood notice to %s not sent: %s", chat_id, type(exc).__name__)
            return
        self.metrics.flood_notices.inc()

    async def close(self) -> None:
        """Let notices under way finish (stopping the process)."""
        if self._notices:
            await asyncio.gather(*list(self._notices), return_exceptions=True)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        """The polling path, as an update middleware (see `install`)."""
        if not isinstance(event, Update):
            return await handler(event, data)
        screened = self.screen(event)
        if screened.admitted:
            return await handler(event, data)
        # aiogram makes the returned call (the button answer) itself, as for a webhook reply.
        return screened.reply if screened.reply is not None else UNHANDLED


def install(dispatcher: Dispatcher, gate: FloodGate) -> None:
    """Put the gate first among the update middlewares, after aiogram's error and user
    context ones (which do no I/O): before FSM state is read and before anyone's own."""
    chain = dispatcher.update.outer_middleware
    later = [m for m in chain if not isinstance(m, ErrorsMiddleware | UserContextMiddleware)]
    for middleware in later:
        chain.unregister(middleware)
    chain.register(gate)
    for middleware in later:
        chain.register(middleware)
