"""The Telegram side of broadcasts: sending copies through aiogram, the progress message, and
the background worker running next to the bot (the budget is telegram/sending.py's)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from forever.domain.paid_broadcasts import Stars
from forever.services.broadcast_sender import (
    BroadcastWorker,
    JobReport,
    Outgoing,
    OutOfStars,
    RecipientBlocked,
    RetryAfter,
    SenderConfig,
)
from forever.services.console_broadcasts import PhotoRefused
from forever.services.ratelimit import RateLimiter, SendBudget
from forever.telegram.sending import PERMIT_HELD
from forever.telegram.staff_texts import StaffTexts

# Telegram's answer to a paid send the balance does not cover. The Bot API does not document
# it; BALANCE_TOO_LOW is the code Telegram uses for Stars payments (the fake Bot API answers
# "Bad Request: BALANCE_TOO_LOW"); the wording is matched too in case the text differs.
_OUT_OF_STARS = ("balance_too_low", "not enough stars", "insufficient stars")

log = logging.getLogger(__name__)


async def star_balance(bot: Bot) -> Stars | None:
    """The bot's Stars (getMyStarBalance); None if Telegram did not say."""
    try:
        amount = await bot.get_my_star_balance()
    except Exception:
        log.warning("could not read the bot's Star balance", exc_info=True)
        return None
    return Stars.of(amount.amount, amount.nanostar_amount or 0)


class StopBroadcast(CallbackData, prefix="bcstop"):
    broadcast_id: int


class BotPhotoUpload:
    """The console's photo, sent once with sendPhoto into the author's chat with the bot."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_photo(
        self, chat_id: int, data: bytes, filename: str, caption_html: str | None
    ) -> int:
        try:
            sent = await self.bot.send_photo(
                chat_id, BufferedInputFile(data, filename=filename), caption=caption_html
            )
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            raise PhotoRefused(error.message) from None
        return sent.message_id


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
        held = PERMIT_HELD.set(self.permits_held)
        paid = True if message.paid else None
        try:
            if message.html is not None and message.kind == "text":
                sent = await self.bot.send_message(
                    message.chat_id,
                    message.html,
                    reply_markup=keyboard,
                    allow_paid_broadcast=paid,
                )
                return sent.message_id
            copied = await self.bot.copy_message(
                message.chat_id,
                message.from_chat_id,
                message.message_id,
                caption=message.html,
                reply_markup=keyboard,
                allow_paid_broadcast=paid,
            )
            return copied.message_id
        except TelegramRetryAfter as error:
            raise RetryAfter(error.retry_after) from None
        except TelegramForbiddenError:
            raise RecipientBlocked from None
        except TelegramBadRequest as error:
            if message.paid and any(m in error.message.lower() for m in _OUT_OF_STARS):
                raise OutOfStars(error.message) from None
            raise
        finally:
            PERMIT_HELD.reset(held)

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
            rate=p.rate,  # per second; the template formats it and the durations in the language
            left=p.seconds_left,
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
                duration=report.duration,
                spent=report.stars_spent.text() if report.stars_spent is not None else None,
                out_of_stars=report.out_of_stars,
            ),
        )


@dataclass
class Broadcasting:
    """This process's broadcast sender: what tests and benchmarks may set before the runtime
    starts it (None: built from the settings), and the worker once started.

    Also the `BroadcastKick` that confirming a broadcast uses to wake the worker at once."""

    limiter: SendBudget | None = None
    paid_limiter: RateLimiter | None = None
    config: SenderConfig | None = None
    worker: BroadcastWorker | None = None

    def kick(self) -> None:
        if self.worker is not None:
            self.worker.wake()


class BroadcastRunner:
    """The worker plus what it opened (Redis connections for the shared budgets)."""

    def __init__(
        self, worker: BroadcastWorker, *close_limiters: Callable[[], Awaitable[None]]
    ) -> None:
        self.worker = worker
        self._close_limiters = close_limiters

    async def stop(self, *, graceful: bool = True) -> None:
        await self.worker.stop(graceful=graceful)
        for close in self._close_limiters:
            with contextlib.suppress(Exception):
                await close()
