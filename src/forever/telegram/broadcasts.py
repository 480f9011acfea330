"""The Telegram side of broadcasts: sending copies through aiogram, the progress message, and
starting the background worker next to the bot."""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from forever.domain.progress import duration_text
from forever.services.broadcast_sender import (
    BroadcastWorker,
    JobReport,
    Outgoing,
    RecipientBlocked,
    RetryAfter,
    SenderConfig,
)
from forever.services.ratelimit import RateLimiter, build_rate_limiter
from forever.telegram.staff_texts import StaffTexts

if TYPE_CHECKING:
    from forever.app import Container

WORKER_KEY = "broadcast_worker"
CONFIG_KEY = "broadcast_sender_config"  # tests and benchmarks may put a SenderConfig here
LIMITER_KEY = "broadcast_rate_limiter"  # or their own limiter


# Set while the broadcast sender makes a call it already holds a permit for.
_PERMIT_HELD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "forever_permit_held", default=False
)
# Bot API calls that post a message: Telegram's per-bot limit counts these.
_NOT_MESSAGES = frozenset({"sendChatAction", "sendMessageDraft"})


def posts_a_message(api_method: str) -> bool:
    if api_method in _NOT_MESSAGES:
        return False
    return api_method.startswith(("send", "copyMessage", "forwardMessage"))


class SharedBudget(BaseRequestMiddleware):
    """Every message the bot posts (replies to people too, not only broadcasts) takes a permit
    from the same budget: Telegram's limit is per bot, so a broadcast plus the bot's other
    messages must stay under it together."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def __call__(self, make_request: Any, bot: Bot, method: Any) -> Any:
        if _PERMIT_HELD.get() or not posts_a_message(method.__api_method__):
            return await make_request(bot, method)
        permit = await self.limiter.acquire()
        try:
            return await make_request(bot, method)
        finally:
            await permit.done()


class StopBroadcast(CallbackData, prefix="bcstop"):
    broadcast_id: int


def link_keyboard(text: str | None, url: str | None) -> InlineKeyboardMarkup | None:
    if not text or not url:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, url=url)]])


class TelegramBroadcastTransport:
    """BroadcastTransport over aiogram: copyMessage, or sendMessage for personalised text."""

    def __init__(self, bot: Bot, texts: StaffTexts, *, permits_held: bool = False) -> None:
        self.bot = bot
        self.texts = texts
        # True for the sender, which takes a permit per delivery itself.
        self.permits_held = permits_held
        # Telegram refuses an edit that changes nothing; remember what each message shows.
        self._shown: dict[tuple[int, int], str] = {}

    async def deliver(self, message: Outgoing) -> int:
        keyboard = link_keyboard(message.button_text, message.button_url)
        held = _PERMIT_HELD.set(self.permits_held)
        try:
            if message.html is not None and message.kind == "text":
                sent = await self.bot.send_message(
                    message.chat_id, message.html, reply_markup=keyboard
                )
                return sent.message_id
            copied = await self.bot.copy_message(
                message.chat_id,
                message.from_chat_id,
                message.message_id,
                caption=message.html,
                reply_markup=keyboard,
            )
            return copied.message_id
        except TelegramRetryAfter as error:
            raise RetryAfter(error.retry_after) from None
        except TelegramForbiddenError:
            raise RecipientBlocked from None
        finally:
            _PERMIT_HELD.reset(held)

    async def show_progress(
        self, chat_id: int, message_id: int | None, report: JobReport, *, final: bool
    ) -> int | None:
        p = report.progress
        html = self.texts(
            "broadcast_progress",
            report.locale,
            id=report.broadcast_id,
            status=report.status,
            bar=p.bar(),
            percent=p.percent,
            done=report.done,
            total=report.total,
            rate=f"{p.rate:.1f}",
            left=duration_text(p.seconds_left) if p.seconds_left is not None else None,
            final=final,
        )
        keyboard = None
        if not final:
            keyboard = InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=self.texts("broadcast_stop_button", report.locale),
                            callback_data=StopBroadcast(broadcast_id=report.broadcast_id).pack(),
                        )
                    ]
                ]
            )
        shown = html + ("" if final else "+stop")
        if message_id is None:
            sent = await self.bot.send_message(chat_id, html, reply_markup=keyboard)
            self._shown[(chat_id, sent.message_id)] = shown
            return sent.message_id
        if self._shown.get((chat_id, message_id)) == shown:
            return message_id
        self._shown[(chat_id, message_id)] = shown
        try:
            await self.bot.edit_message_text(
                html, chat_id=chat_id, message_id=message_id, reply_markup=keyboard
            )
        except TelegramBadRequest as error:
            if "not modified" not in error.message:
                raise
        return message_id

    async def send_report(self, chat_id: int, report: JobReport) -> None:
        await self.bot.send_message(
            chat_id,
            self.texts(
                "broadcast_report",
                report.locale,
                id=report.broadcast_id,
                status=report.status,
                delivered=report.delivered,
                blocked=report.blocked,
                failed=report.failed,
                unsent=report.unsent,
                total=report.total,
                duration=duration_text(report.duration),
            ),
        )


class BroadcastRunner:
    """The worker plus what it opened (a Redis connection for the shared budget)."""

    def __init__(self, worker: BroadcastWorker, close_limiter: object) -> None:
        self.worker = worker
        self._close_limiter = close_limiter

    async def stop(self, *, graceful: bool = True) -> None:
        await self.worker.stop(graceful=graceful)
        with contextlib.suppress(Exception):
            await self._close_limiter()  # type: ignore[operator]


def start_broadcast_worker(container: Container, bot: Bot) -> BroadcastRunner:
    settings = container.settings
    texts = StaffTexts(container.renderer)
    limiter: RateLimiter | None = container.extras.get(LIMITER_KEY)
    close: object = _nothing
    if limiter is None:
        limiter, close = build_rate_limiter(
            settings.broadcast_rate, settings.redis_url, prefix=f"{settings.redis_prefix}:tg-rate"
        )
    config = container.extras.get(CONFIG_KEY) or SenderConfig(
        concurrency=settings.broadcast_concurrency
    )

    async def locale_of(telegram_id: int) -> str:
        async with container.uow.begin():
            person = await container.people_repo.by_telegram_id(telegram_id)
            return person.language if person is not None else settings.default_locale

    bot.session.middleware(SharedBudget(limiter))
    worker = BroadcastWorker(
        container.sessions,
        container.clock,
        TelegramBroadcastTransport(bot, texts, permits_held=True),
        limiter,
        config,
        locale_of=locale_of,
    )
    container.extras[WORKER_KEY] = worker
    worker.start()
    return BroadcastRunner(worker, close)


async def _nothing() -> None:
    return None
