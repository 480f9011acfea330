"""The aiogram Bot behind the services' ChatPort (used by the outbox sender), and how a Bot
is made."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramForbiddenError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice

from forever.config import Settings
from forever.metrics import Metrics
from forever.services.ports import Keyboard
from forever.telegram.lean_session import LeanSession
from forever.telegram.request_metrics import RequestMetrics


def build_bot(
    settings: Settings,
    token: str,
    metrics: Metrics | None = None,
    *,
    sending: BaseRequestMiddleware | None = None,
) -> Bot:
    """The one way a Bot is made (the composition root re-exports it as app.build_bot; the
    Runtime owns the process's Bot and passes it, or a BotChatPort over it, to the rest).
    With `metrics`, every Bot API call's outcome is counted; `sending` (telegram/sending.py)
    goes outermost, so the metrics see each try, 429s included."""
    session = LeanSession(api=TelegramAPIServer.from_base(str(settings.telegram_api_url)))
    if sending is not None:
        session.middleware(sending)
    if metrics is not None:
        session.middleware(RequestMetrics(metrics))
    return Bot(
        token=token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


@dataclass(slots=True)
class Sent:
    """services.ports.SendResult (a plain dataclass: the Protocol's attributes are settable)."""

    ok: bool
    blocked: bool = False
    message_id: int | None = None


def _markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=b.text, callback_data=b.callback_data, url=b.url)
                for b in row
            ]
            for row in keyboard
        ]
    )


class BotChatPort:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_text(self, chat_id: int, html: str, keyboard: Keyboard | None = None) -> Sent:
        """403 (the person blocked the bot) is an answer, not an error; others raise."""
        try:
            message = await self.bot.send_message(chat_id, html, reply_markup=_markup(keyboard))
        except TelegramForbiddenError:
            return Sent(ok=False, blocked=True)
        return Sent(ok=True, message_id=message.message_id)

    async def cancel_star_subscription(self, user_id: int, charge_id: str, canceled: bool) -> None:
        await self.bot.edit_user_star_subscription(
            user_id=user_id, telegram_payment_charge_id=charge_id, is_canceled=canceled
        )

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        await self.bot.refund_star_payment(user_id=user_id, telegram_payment_charge_id=charge_id)

    async def create_invoice_link(
        self, *, title: str, description: str, payload: str, amount: int, subscription: bool
    ) -> str:
        return await self.bot.create_invoice_link(
            title=title,
            description=description,
            payload=payload,
            currency="XTR",
            prices=[LabeledPrice(label=title, amount=amount)],
            subscription_period=2592000 if subscription else None,
        )

    async def send_invoice(
        self, chat_id: int, *, title: str, description: str, payload: str, amount: int
    ) -> Sent:
        """A one-off Stars invoice (a yearly plan, a discounted month)."""
        try:
            message = await self.bot.send_invoice(
                chat_id,
                title=title,
                description=description,
                payload=payload,
                currency="XTR",
                prices=[LabeledPrice(label=title, amount=amount)],
            )
        except TelegramForbiddenError:
            return Sent(ok=False, blocked=True)
        return Sent(ok=True, message_id=message.message_id)
