"""In-memory state of the fake Telegram: users, chats, messages, files, payments."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import bad_request, forbidden


class Button(NamedTuple):
    """An inline button as a (text, target) pair; target is callback_data or url (or None)."""

    text: str
    target: str | None


@dataclass
class UserRecord:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_premium: bool = False
    # A private chat exists once the user has written to the bot (or pressed Start).
    started: bool = False
    blocked: bool = False

    def to_json(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        if self.is_premium:
            user["is_premium"] = True
        return user

    def chat_json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass
class FileRecord:
    file_id: str
    file_unique_id: str
    kind: str  # photo, video, document, ...
    data: bytes | None = None
    url: str | None = None
    file_name: str | None = None
    mime_type: str | None = None

    @property
    def size(self) -> int | None:
        return len(self.data) if self.data is not None else None


@dataclass
class Media:
    kind: str
    file: FileRecord
    width: int | None = None
    height: int | None = None
    duration: int | None = None

    def to_json(self) -> dict[str, Any]:
        base: dict[str, Any] = {
            "file_id": self.file.file_id,
            "file_unique_id": self.file.file_unique_id,
        }
        if self.file.size is not None:
            base["file_size"] = self.file.size
        if self.kind == "photo":
            return {"photo": [{**base, "width": self.width or 1280, "height": self.height or 720}]}
        if self.file.file_name:
            base["file_name"] = self.file.file_name
        if self.file.mime_type:
            base["mime_type"] = self.file.mime_type
        if self.kind in ("video", "animation"):
            base.update(
                width=self.width or 1280, height=self.height or 720, duration=self.duration or 0
            )
        elif self.kind in ("audio", "voice"):
            base["duration"] = self.duration or 0
        return {self.kind: base}


@dataclass
class InvoiceInfo:
    title: str
    description: str
    payload: str
    currency: str
    prices: list[dict[str, Any]]
    start_parameter: str = ""
    subscription_period: int | None = None
    link: str | None = None
    photo_url: str | None = None

    @property
    def total_amount(self) -> int:
        return sum(int(p["amount"]) for p in self.prices)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": self.start_parameter,
            "currency": self.currency,
            "total_amount": self.total_amount,
        }


@dataclass(frozen=True)
class MessageVersion:
    """What a message looked like before an edit."""

    text: str | None
    html: str
    entities: tuple[dict[str, Any], ...]
    reply_markup: dict[str, Any] | None
    date: int


@dataclass(eq=False)
class FakeMessage:
    """A message stored in a chat, as the user sees it."""

    message_id: int
    chat: dict[str, Any]
    sender: dict[str, Any]
    date: int
    from_bot: bool
    text: str | None = None  # message text, or the caption of a media message
    html: str = ""
    entities: tuple[dict[str, Any], ...] = ()
    media: Media | None = None
    invoice: InvoiceInfo | None = None
    reply_markup: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    edit_date: int | None = None
    history: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    paid_by: set[int] = field(default_factory=set)

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def edited(self) -> bool:
        return self.edit_date is not None

    @property
    def caption(self) -> str | None:
        return self.text if self.media is not None else None

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            keyboard: list[list[dict[str, Any]]] = self.reply_markup["inline_keyboard"]
            return keyboard  # the very rows, so a test may forge a button in place
        return []

    @property
    def buttons(self) -> list[list[Button]]:
        return [
            [Button(b["text"], b.get("callback_data", b.get("url"))) for b in row]
            for row in self.inline_keyboard
        ]

    @property
    def button_texts(self) -> list[str]:
        return [b.text for row in self.buttons for b in row]

    def snapshot(self) -> MessageVersion:
        return MessageVersion(self.text, self.html, self.entities, self.reply_markup, self.date)

    def to_json(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            message["edit_date"] = self.edit_date
        if self.media is not None:
            message.update(self.media.to_json())
            if self.text:
                message["caption"] = self.text
                if self.entities:
                    message["caption_entities"] = [dict(e) for e in self.entities]
        elif self.invoice is not None:
            message["invoice"] = self.invoice.to_json()
        elif self.text is not None:
            message["text"] = self.text
            if self.entities:
                message["entities"] = [dict(e) for e in self.entities]
        # Only inline keyboards are part of a Message; reply keyboards live in the client.
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            message["reply_markup"] = self.reply_markup
        message.update(self.extra)
        return message

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else "user"
        body = self.text if self.text is not None else (self.media and self.media.kind)
        return f"<FakeMessage #{self.message_id} {who} in {self.chat_id}: {body!r}>"


@dataclass
class ChatState:
    user: UserRecord
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    deleted: list[FakeMessage] = field(default_factory=list)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    menu_button: dict[str, Any] | None = None
    last_action: str | None = None

    def allocate_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass(frozen=True)
class CallbackAnswer:
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int


@dataclass
class CallbackQueryRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float
    answer: CallbackAnswer | None = None


@dataclass
class Subscription:
    user_id: int
    invoice: InvoiceInfo
    period: int
    expires_at: int
    charge_ids: list[str] = field(default_factory=list)
    canceled_by_bot: bool = False
    canceled_by_user: bool = False

    @property
    def active(self) -> bool:
        return not (self.canceled_by_bot or self.canceled_by_user)


@dataclass
class Payment:
    charge_id: str
    provider_charge_id: str
    user_id: int
    invoice: InvoiceInfo
    amount: int
    date: int
    subscription: Subscription | None = None
    refunded: bool = False


@dataclass(frozen=True)
class FakeEvent:
    """A bot-side change, pushed to subscribers (e.g. the sandbox page)."""

    kind: str  # message, edit, delete, callback_answer, invoice, chat_action, payment, ...
    chat_id: int | None
    message: FakeMessage | None = None
    data: dict[str, Any] = field(default_factory=dict)


class BotState:
    """Everything the fake Telegram remembers, independent of HTTP."""

    def __init__(self, bot_user: dict[str, Any], wall_clock: Callable[[], float]) -> None:
        self.bot_user = bot_user
        self.wall_clock = wall_clock
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, FileRecord] = {}
        self.invoice_links: dict[str, InvoiceInfo] = {}
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.payments: dict[str, Payment] = {}
        self.subscriptions: list[Subscription] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.default_menu_button: dict[str, Any] = {"type": "commands"}
        # The bot's Telegram Stars, in nanostars (getMyStarBalance; paid broadcasts spend it).
        self.star_nanos = 0
        self._counter = itertools.count(1)

    def now(self) -> int:
        return int(self.wall_clock())

    def next_serial(self) -> int:
        return next(self._counter)

    # -- users and chats --

    def add_user(self, user: UserRecord) -> None:
        if user.id in self.users:
            raise ValueError(f"user {user.id} already exists")
        if user.id == self.bot_user["id"]:
            raise ValueError("a user can't have the bot's id")
        self.users[user.id] = user
        self.chats[user.id] = ChatState(user)

    def chat_for_user(self, user_id: int) -> ChatState:
        return self.chats[user_id]

    def resolve_chat(self, chat_id: int | str) -> ChatState:
        """The chat a bot call targets, or Telegram's error for it."""
        if isinstance(chat_id, str):
            # Bots can't address users by @username; only public groups/channels resolve.
            raise bad_request("chat not found")
        if chat_id == self.bot_user["id"]:
            raise forbidden("bot can't send messages to bots")
        chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def writable_chat(self, chat_id: int | str) -> ChatState:
        chat = self.resolve_chat(chat_id)
        if chat.user.blocked:
            raise forbidden("bot was blocked by the user")
        # A join requester may be written to for a while (ChatJoinRequest.user_chat_id).
        if not chat.user.started and getattr(chat.user, "contact_until", 0) < self.now():
            raise forbidden("bot can't initiate conversation with a user")
        return chat

    def get_message(self, chat: ChatState, message_id: int) -> FakeMessage | None:
        return chat.messages.get(message_id)

    # -- files --

    def new_file(self, kind: str, **kwargs: Any) -> FileRecord:
        serial = self.next_serial()
        record = FileRecord(
            file_id=f"fake-{kind}-{serial:06d}",
            file_unique_id=f"u{serial:06d}",
            kind=kind,
            **kwargs,
        )
        self.files[record.file_id] = record
        return record
