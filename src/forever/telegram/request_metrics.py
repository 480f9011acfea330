"""Counts every Bot API call's outcome: messages sent, 429s and errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramRetryAfter
from prometheus_client import Counter

from forever.metrics import Metrics

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response, TelegramMethod

# Calls that put a message into a chat (what Telegram's flood limits count).
_NOT_MESSAGES = frozenset({"sendChatAction", "sendMessageDraft", "sendRichMessageDraft"})
_ALSO_MESSAGES = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})


def is_message_call(method_name: str) -> bool:
    if method_name in _ALSO_MESSAGES:
        return True
    return method_name.startswith("send") and method_name not in _NOT_MESSAGES


class RequestMetrics(BaseRequestMiddleware):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        # The "sent" counter of each method, looked up once (labels() takes a lock and
        # builds a key on every call, and every reply goes through here).
        self._sent: dict[str, Counter | None] = {}  # None: not a message call

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Response[Any]:
        name = method.__api_method__
        try:
            response = await make_request(bot, method)
        except TelegramRetryAfter:
            self.metrics.too_many_requests.labels(name).inc()
            raise
        except (TelegramAPIError, TelegramNetworkError):
            self.metrics.errors.labels("bot_api").inc()
            raise
        try:
            counter = self._sent[name]
        except KeyError:
            counter = self._sent[name] = (
                self.metrics.messages_sent.labels(name) if is_message_call(name) else None
            )
        if counter is not None:
            counter.inc()
        return response
