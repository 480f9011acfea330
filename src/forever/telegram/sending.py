"""How every Bot API call of the process goes out: answers at once, bulk within the budget,
and a 429 obeyed wherever it comes from.

- An *answer* is a call made while the dispatcher handles an update (a reply, a callback
  answer, an invoice sent in reply): `AnsweringDispatcher` marks that context. It skips the
  bulk budget and only waits while Telegram asked everyone to pause.
- Everything else is *bulk* (the broadcast sender, the delivery worker's chat messages and
  Stars calls, staff alerts): each message takes a permit of the 28/s budget (BROADCAST_RATE).
  Answers count in the same window, so bulk slows down while many people are chatting.
- Calls that post no message (bans, join answers, getChatMember) take no permit; they only
  wait while Telegram asked everyone to pause.
- A 429 on any call pauses every sender for `retry_after` (through the shared `SendBudget`:
  Redis when REDIS_URL is set), backs the bulk rate off, and the call is retried after the
  pause, up to `max_retries` times, with one warning line each and no traceback. Calls the
  broadcast sender already holds a permit for are not retried here: it retries them itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiogram import Dispatcher
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods.base import Response

from forever.services.ratelimit import Permit, SendBudget, Sleep
from forever.telegram.request_metrics import is_message_call

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod
    from aiogram.types import Update

log = logging.getLogger(__name__)

MAX_RETRIES = 5

# aiogram parses every answer as `Response[T]`. pydantic (2.13) keeps such parametrised
# classes only weakly, so once one is garbage-collected the next call rebuilds it (tens of
# milliseconds of CPU on a reply); holding them here builds each once per process.
_RESPONSE_TYPES: dict[type[Any], type[Any]] = {}


def keep_response_types(*kinds: type[TelegramMethod[Any]]) -> None:
    """Build the `Response[T]` of these calls now (at start-up) rather than on their first
    call (a few milliseconds each, while the first customers wait)."""
    for kind in kinds:
        if kind not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[kind] = Response[kind.__returning__]  # type: ignore[name-defined]


_ANSWERING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "forever_answering", default=False
)
# Set while the broadcast sender makes a call it already holds a permit for.
PERMIT_HELD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "forever_permit_held", default=False
)
# Update delivery: aiogram's polling loop has its own back-off, and it must go on receiving
# updates while senders pause.
_NOT_SENDS = frozenset({"getUpdates", "setWebhook", "deleteWebhook", "getWebhookInfo"})


def answering_now() -> bool:
    return _ANSWERING.get()


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Calls made inside answer a person's own action."""
    token = _ANSWERING.set(True)
    try:
        yield
    finally:
        _ANSWERING.reset(token)


class AnsweringDispatcher(Dispatcher):
    """A Dispatcher whose handlers (and error handlers) send as answers, in polling and
    webhook mode alike."""

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        with answering():
            return await super().feed_update(bot, update, **kwargs)


class AdaptiveSending(BaseRequestMiddleware):
    """The session middleware applying the rules above. `sleep` waits out a 429 on calls that
    post no message (message calls wait in the budget, which holds the shared pause)."""

    def __init__(
        self,
        budget: SendBudget,
        *,
        max_retries: int = MAX_RETRIES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.budget = budget
        self.max_retries = max_retries
        self._sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Response[Any]:
        keep_response_types(type(method))
        name = method.__api_method__
        if name in _NOT_SENDS:
            return await make_request(bot, method)
        message = is_message_call(name)
        held = PERMIT_HELD.get()
        retries = 0
        while True:
            permit: Permit | None = None
            if message and not (held and retries == 0):
                permit = await (self.budget.answer() if _ANSWERING.get() else self.budget.acquire())
            elif not message:
                # A call that posts no message takes no permit, but a 429 told every caller
                # to wait: a ban sent during another ban's pause would be early.
                while (wait := await self.budget.paused_for()) > 0:
                    await self._sleep(wait)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                await self.budget.throttled(error.retry_after)
                if held:
                    log.warning(
                        "Telegram answered 429 to %s: every sender pauses %s s; the broadcast "
                        "sender retries it",
                        name,
                        error.retry_after,
                    )
                    raise
                if retries >= self.max_retries:
                    log.warning(
                        "Telegram answered 429 to %s %s times in a row: giving up on this call",
                        name,
                        retries + 1,
                    )
                    raise
                retries += 1
                log.warning(
                    "Telegram answered 429 to %s: every sender pauses %s s (retry %s of %s)",
                    name,
                    error.retry_after,
                    retries,
                    self.max_retries,
                )
                if not message:
                    await self._sleep(error.retry_after)
            finally:
                if permit is not None:
                    await permit.done()
