"""Driving the bot as a Telegram user: send text, press buttons, pay invoices.

Every action returns only after the bot has handled the resulting update (see updates.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import FakeBotAPIError
from .groups import INVITE_LINK_PREFIX, join
from .methods import BotApiMethods, PreCheckout
from .state import (
    BotState,
    CallbackAnswer,
    CallbackQueryRecord,
    ChatState,
    FakeEvent,
    FakeMessage,
    InvoiceInfo,
    Payment,
    Subscription,
    UserRecord,
)
from .updates import Outcome, PendingUpdate, UpdateQueue


class StandIn(Protocol):
    """What a user reaches of the stand-in (server.FakeBotAPI), declared here so the server,
    which makes users, and the users do not import each other."""

    state: BotState
    queue: UpdateQueue
    methods: BotApiMethods
    clock: Callable[[], float]
    pre_checkout_timeout: float

    def emit(self, event: FakeEvent) -> None: ...

    def block(self, user_id: int) -> None: ...

    def unblock(self, user_id: int) -> None: ...

    async def wait_handled(self, update: PendingUpdate, within: float | None = None) -> Outcome: ...


_COMMAND = re.compile(r"(?<![^\s])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![^\s])")
_INVOICE_LINK = re.compile(r"^https://t\.me/\$([A-Za-z0-9_-]+)$")
SUBSCRIPTION_STATES = frozenset({"canceled", "active", "failed"})


@dataclass(frozen=True)
class PaymentResult:
    """The outcome of a payment attempt as the user experiences it."""

    accepted: bool
    error_message: str | None = None
    invoice_payload: str | None = None
    total_amount: int | None = None
    charge_id: str | None = None
    subscription_expiration_date: int | None = None
    message: FakeMessage | None = None  # the user's successful_payment service message


PressResult = CallbackAnswer | PaymentResult | FakeMessage | None


class FakeUser:
    """A Telegram user talking to the bot in a private chat."""

    def __init__(self, fake: StandIn, record: UserRecord) -> None:
        self.fake = fake
        self.record = record
        self.last_callback_answer: CallbackAnswer | None = None

    def __repr__(self) -> str:
        return f"<FakeUser {self.id} {self.first_name!r}>"

    # -- identity --------------------------------------------------------------------------

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def first_name(self) -> str:
        return self.record.first_name

    @property
    def username(self) -> str | None:
        return self.record.username

    @property
    def language_code(self) -> str | None:
        return self.record.language_code

    def to_json(self) -> dict[str, Any]:
        return self.record.to_json()

    # -- what the user sees ----------------------------------------------------------------

    @property
    def chat(self) -> ChatState:
        return self.fake.state.chat_for_user(self.id)

    @property
    def messages(self) -> list[FakeMessage]:
        """Messages from the bot in this chat, oldest first (deleted ones excluded)."""
        return [m for m in self.chat.messages.values() if m.from_bot]

    @property
    def history(self) -> list[FakeMessage]:
        """The whole chat: the user's messages and the bot's, oldest first."""
        return list(self.chat.messages.values())

    @property
    def last_message(self) -> FakeMessage | None:
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def reply_keyboard(self) -> list[list[str]] | None:
        markup = self.chat.reply_keyboard
        if markup is None:
            return None
        return [[b if isinstance(b, str) else b["text"] for b in row] for row in markup["keyboard"]]

    @property
    def blocked(self) -> bool:
        return self.record.blocked

    def block(self) -> None:
        self.fake.block(self.id)

    def unblock(self) -> None:
        self.fake.unblock(self.id)

    # -- actions ---------------------------------------------------------------------------

    async def send_text(
        self, text: str, *, wait: bool = True, reply_to: FakeMessage | None = None
    ) -> FakeMessage:
        """Send a text message; "/cmd args" carry a bot_command entity like in Telegram.
        `reply_to`: a message of this chat the text answers (Telegram's Reply)."""
        chat = self._open_chat()
        entities = tuple(
            {"type": "bot_command", "offset": _utf16(text[: m.start()]), "length": _utf16(m[0])}
            for m in _COMMAND.finditer(text)
        )
        message = FakeMessage(
            message_id=chat.allocate_id(),
            chat=self.record.chat_json(),
            sender=self.record.to_json(),
            date=self.fake.state.now(),
            from_bot=False,
            text=text,
            html=_escape(text),
            entities=entities,
            extra={"reply_to_message": reply_to.to_json()} if reply_to is not None else {},
        )
        await self._post_message(chat, message, wait=wait)
        return message

    async def start(self, payload: str | None = None, *, wait: bool = True) -> FakeMessage:
        """Press Start (optionally through a t.me/<bot>?start=<payload> deep link)."""
        return await self.send_text(f"/start {payload}" if payload else "/start", wait=wait)

    async def press(
        self, label: str, *, message: FakeMessage | None = None, wait: bool = True
    ) -> PressResult:
        """Press a button found by its text or callback_data.

        Searches the inline keyboards of the bot's messages, newest first (or only `message`),
        then the reply keyboard. Returns the callback answer (or None if the bot gave none),
        a PaymentResult for Pay buttons and invoice links, or the sent message for reply
        keyboard buttons.
        """
        found = self._find_button(label, message)
        if found is None:
            keyboard = self.reply_keyboard or []
            if any(label == text for row in keyboard for text in row):
                return await self.send_text(label, wait=wait)
            raise LookupError(f"no button {label!r}; visible buttons: {self._visible_buttons()}")
        target, button = found
        if "callback_data" in button:
            return await self._callback(target, button["callback_data"], wait=wait)
        if button.get("pay"):
            return await self.pay(target)
        if "url" in button and _INVOICE_LINK.match(button["url"]):
            return await self.pay(button["url"])
        if "url" in button and button["url"].startswith(INVITE_LINK_PREFIX):
            await join(self.fake, self.id, button["url"])  # a channel's or group's invite
            return None
        kind = next(k for k in button if k not in ("text", "style", "icon_custom_emoji_id"))
        raise FakeBotAPIError(f"pressing a {kind} button ({button['text']!r}) sends no update")

    async def pay(self, invoice: FakeMessage | str) -> PaymentResult:
        """Pay an invoice message or an invoice link (https://t.me/$...) with Stars.

        Sends pre_checkout_query, waits for answerPreCheckoutQuery (up to the configured
        pre-checkout timeout, 10 s like Telegram), then on ok sends successful_payment.
        """
        info, message = self._resolve_invoice(invoice)
        if message is not None and message.paid_by:
            return PaymentResult(False, "this invoice was already paid", info.payload)
        if info.subscription_period and self._active_subscription(info) is not None:
            return PaymentResult(False, "the user is already subscribed", info.payload)
        self._open_chat()
        methods = self.fake.methods
        query = PreCheckout(
            id=str(self.fake.state.next_serial() * 1000003 + self.id),
            user_id=self.id,
            invoice=info,
            created=self.fake.clock(),
            answer=asyncio.get_running_loop().create_future(),
        )
        methods.pre_checkouts[query.id] = query
        update = self.fake.queue.push(
            "pre_checkout_query",
            {
                "id": query.id,
                "from": self.record.to_json(),
                "currency": info.currency,
                "total_amount": info.total_amount,
                "invoice_payload": info.payload,
            },
        )
        refusal = await self._await_answer(query, update)
        if refusal is not None:
            if not update.handled.done():
                await self.fake.wait_handled(update)
            return PaymentResult(False, refusal, info.payload, info.total_amount)
        await self.fake.wait_handled(update)
        if message is not None:
            message.paid_by.add(self.id)
        return await self._successful_payment(info, first=True)

    # -- payments internals ----------------------------------------------------------------

    async def _await_answer(self, query: PreCheckout, update: PendingUpdate) -> str | None:
        """Wait for the bot's verdict; return the refusal text, or None when accepted."""
        waiter = asyncio.ensure_future(asyncio.shield(query.answer))
        watched: set[asyncio.Future[Any]] = {waiter, update.handled}
        done: set[asyncio.Future[Any]]
        done, _ = await asyncio.wait(
            watched,
            timeout=self.fake.pre_checkout_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if waiter not in done and update.handled in done:
            if update.handled.result() is not Outcome.HANDLED:
                waiter.cancel()
                return f"the bot did not receive the pre_checkout_query ({update.handled.result()})"
            # Handled without an answer yet: the answer may still come from a task.
            done, _ = await asyncio.wait(
                {waiter}, timeout=self.fake.pre_checkout_timeout - self._elapsed(query)
            )
        if waiter not in done:
            waiter.cancel()
            if not query.answer.done():
                query.answer.cancel()  # a late answer gets "query is too old"
            return "the bot did not answer the pre-checkout query in time"
        ok, error_message = waiter.result()
        return None if ok else (error_message or "")

    def _elapsed(self, query: PreCheckout) -> float:
        return max(0.0, self.fake.clock() - query.created)

    async def _successful_payment(
        self,
        info: InvoiceInfo,
        *,
        first: bool,
        subscription: Subscription | None = None,
        amount: int | None = None,
    ) -> PaymentResult:
        state = self.fake.state
        total = info.total_amount if amount is None else amount
        serial = state.next_serial()
        charge_id = f"stxFAKE{serial:010d}"
        now = state.now()
        if info.subscription_period and subscription is None:
            subscription = Subscription(
                user_id=self.id,
                invoice=info,
                period=info.subscription_period,
                expires_at=now + info.subscription_period,
            )
            state.subscriptions.append(subscription)
        elif subscription is not None:
            subscription.expires_at = max(subscription.expires_at, now) + subscription.period
        body: dict[str, Any] = {
            "currency": info.currency,
            "total_amount": total,
            "invoice_payload": info.payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": f"{self.id}_{serial}",
        }
        if subscription is not None:
            subscription.charge_ids.append(charge_id)
            body["subscription_expiration_date"] = subscription.expires_at
            body["is_recurring"] = True
            if first:
                body["is_first_recurring"] = True
        state.payments[charge_id] = Payment(
            charge_id=charge_id,
            provider_charge_id=body["provider_payment_charge_id"],
            user_id=self.id,
            invoice=info,
            amount=total,
            date=now,
            subscription=subscription,
        )
        chat = self._open_chat()
        message = FakeMessage(
            message_id=chat.allocate_id(),
            chat=self.record.chat_json(),
            sender=self.record.to_json(),
            date=now,
            from_bot=False,
            extra={"successful_payment": body},
        )
        self.fake.emit(FakeEvent("payment", self.id, message, data=body))
        await self._post_message(chat, message, wait=True)
        return PaymentResult(
            True,
            None,
            info.payload,
            total,
            charge_id,
            body.get("subscription_expiration_date"),
            message,
        )

    async def renew_subscription(
        self, charge_id: str, *, charged_before_cancel: bool = False
    ) -> PaymentResult:
        """Telegram charges the next period. `charged_before_cancel`: the charge was taken
        just before a cancel (by the bot or the user) reached Telegram, so it arrives although
        the subscription is cancelled now: the race a bot must handle."""
        payment = self.fake.state.payments.get(charge_id)
        if payment is None or payment.user_id != self.id or payment.subscription is None:
            raise LookupError(f"user {self.id} has no subscription paid with {charge_id}")
        subscription = payment.subscription
        if subscription.canceled_by_bot and not charged_before_cancel:
            return PaymentResult(
                False, "the subscription was canceled by the bot", subscription.invoice.payload
            )
        if subscription.canceled_by_user and not charged_before_cancel:
            return PaymentResult(
                False, "the subscription was canceled by the user", subscription.invoice.payload
            )
        return await self._successful_payment(
            subscription.invoice, first=False, subscription=subscription
        )

    async def pay_without_pre_checkout(
        self, invoice: FakeMessage | str, *, amount: int | None = None
    ) -> PaymentResult:
        """A successful_payment that did not pass the bot's pre-checkout check: Telegram
        delivers it anyway (the bot's "yes" raced a change, or a client misbehaved). Anyone
        may hold an invoice link; `amount` differs from the invoice's (an odd amount). Only for
        testing that the bot checks a payment again when it records it."""
        info, message = self._resolve_invoice(invoice)
        if amount is not None and amount < 1:
            raise FakeBotAPIError("a Stars payment is at least 1 star")
        self._open_chat()
        if message is not None:
            message.paid_by.add(self.id)
        return await self._successful_payment(info, first=True, amount=amount)

    async def subscription_changed(self, invoice_payload: str, state: str) -> PendingUpdate:
        if state not in SUBSCRIPTION_STATES:
            raise ValueError(f"state must be one of {sorted(SUBSCRIPTION_STATES)}")
        for subscription in self.fake.state.subscriptions:
            if subscription.user_id == self.id and subscription.invoice.payload == invoice_payload:
                if state == "canceled":
                    subscription.canceled_by_user = True
                elif state == "active":
                    subscription.canceled_by_user = False
        body = {"user": self.record.to_json(), "invoice_payload": invoice_payload, "state": state}
        update = self.fake.queue.push("subscription", body)
        await self.fake.wait_handled(update)
        return update

    def _active_subscription(self, info: InvoiceInfo) -> Subscription | None:
        now = self.fake.state.now()
        for subscription in self.fake.state.subscriptions:
            if (
                subscription.user_id == self.id
                and subscription.invoice is info
                and subscription.expires_at > now
            ):
                return subscription
        return None

    def _resolve_invoice(
        self, invoice: FakeMessage | str
    ) -> tuple[InvoiceInfo, FakeMessage | None]:
        if isinstance(invoice, FakeMessage):
            if invoice.invoice is None:
                raise FakeBotAPIError(f"{invoice!r} is not an invoice")
            if invoice.chat_id != self.id or invoice.deleted:
                raise FakeBotAPIError(f"{invoice!r} is not visible to {self!r}")
            return invoice.invoice, invoice
        match = _INVOICE_LINK.match(invoice)
        info = self.fake.state.invoice_links.get(match.group(1)) if match else None
        if info is None:
            raise FakeBotAPIError(f"unknown invoice link {invoice!r}")
        return info, None

    # -- internals -------------------------------------------------------------------------

    def _open_chat(self) -> ChatState:
        # Writing to a bot starts (or restarts, after a block) the conversation.
        self.record.started = True
        if self.record.blocked:
            self.fake.unblock(self.id)
        return self.chat

    async def _post_message(self, chat: ChatState, message: FakeMessage, *, wait: bool) -> None:
        chat.messages[message.message_id] = message
        self.fake.emit(FakeEvent("user_message", self.id, message))
        update = self.fake.queue.push("message", message.to_json())
        if wait:
            await self.fake.wait_handled(update)

    async def _callback(
        self, message: FakeMessage, data: str, *, wait: bool
    ) -> CallbackAnswer | None:
        state = self.fake.state
        query = CallbackQueryRecord(
            id=str(state.next_serial() * 1000003 + self.id),
            user_id=self.id,
            chat_id=self.id,
            message_id=message.message_id,
            data=data,
            created=self.fake.clock(),
        )
        state.callback_queries[query.id] = query
        self.last_callback_answer = None
        update = self.fake.queue.push(
            "callback_query",
            {
                "id": query.id,
                "from": self.record.to_json(),
                "message": message.to_json(),
                "chat_instance": str(self.id * 7919 + 104729),
                "data": data,
            },
        )
        if not wait:
            return None
        await self.fake.wait_handled(update)
        self.last_callback_answer = query.answer
        return query.answer

    def _find_button(
        self, label: str, message: FakeMessage | None
    ) -> tuple[FakeMessage, dict[str, Any]] | None:
        candidates = [message] if message is not None else list(reversed(self.messages))
        for candidate in candidates:
            buttons = [b for row in candidate.inline_keyboard for b in row]
            for button in buttons:
                if button["text"] == label:
                    return candidate, button
            for button in buttons:
                if button.get("callback_data") == label:
                    return candidate, button
        return None

    def _visible_buttons(self) -> list[str]:
        texts = [t for m in self.messages for t in m.button_texts]
        texts += [t for row in self.reply_keyboard or [] for t in row]
        return texts


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
