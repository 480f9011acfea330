"""The Bot API methods the double implements, operating on BotState.

Each handler receives parameters already decoded and type-checked against the spec, applies
Telegram's semantic rules (limits, existence, permissions) and returns the ``result`` value.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import limits
from .errors import bad_request, not_implemented
from .formatting import EMPTY, FormattedText, format_text
from .limits import NANOS_PER_STAR
from .state import (
    BotState,
    CallbackAnswer,
    ChatState,
    FakeEvent,
    FakeMessage,
    FileRecord,
    InvoiceInfo,
    Media,
    Subscription,
)
from .updates import UpdateQueue, WebhookConfig
from .validation import FileRef, UploadedFile

Handler = Callable[["BotApiMethods", str, dict[str, Any]], Awaitable[Any]]

QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendVideo": "video",
    "sendDocument": "document",
    "sendAnimation": "animation",
    "sendAudio": "audio",
    "sendVoice": "voice",
}
_DELETE_WINDOW = 48 * 3600  # bots can delete messages for 48 hours

_HANDLERS: dict[str, Handler] = {}


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = handler
        return handler

    return register


@dataclass
class Options:
    accept_unknown_file_ids: bool = False
    provider_tokens: frozenset[str] = frozenset()
    callback_query_ttl: float = 15.0
    allow_http_webhooks: bool = True


@dataclass
class Stats:
    calls_by_method: Counter[str] = field(default_factory=Counter)
    too_many_requests: int = 0
    server_errors: int = 0
    # Bot messages that reached each chat (sends, copies, forwards, invoices).
    deliveries: Counter[int] = field(default_factory=Counter)
    # Messages sent with allow_paid_broadcast (0.1 Star each).
    paid_messages: int = 0


@dataclass
class PreCheckout:
    id: str
    user_id: int
    invoice: InvoiceInfo
    created: float
    answer: asyncio.Future[tuple[bool, str | None]]


class BotApiMethods:
    def __init__(
        self,
        state: BotState,
        queue: UpdateQueue,
        options: Options,
        stats: Stats,
        emit: Callable[[FakeEvent], None],
        monotonic: Callable[[], float],
    ) -> None:
        self.state = state
        self.queue = queue
        self.options = options
        self.stats = stats
        self.emit = emit
        self.monotonic = monotonic
        self.pre_checkouts: dict[str, PreCheckout] = {}

    @staticmethod
    def implemented() -> frozenset[str]:
        return frozenset(_HANDLERS)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        handler = _HANDLERS.get(method)
        if handler is None:
            raise not_implemented(method)
        return await handler(self, method, params)

    # -- helpers ---------------------------------------------------------------------------

    def _store_bot_message(self, chat: ChatState, message: FakeMessage) -> FakeMessage:
        chat.messages[message.message_id] = message
        self.stats.deliveries[chat.user.id] += 1
        self.emit(FakeEvent("invoice" if message.invoice else "message", chat.user.id, message))
        return message

    def _new_bot_message(self, chat: ChatState, **content: Any) -> FakeMessage:
        return FakeMessage(
            message_id=chat.allocate_id(),
            chat=chat.user.chat_json(),
            sender=self.state.bot_user,
            date=self.state.now(),
            from_bot=True,
            **content,
        )

    def _markup(self, chat: ChatState, markup: dict[str, Any] | None) -> dict[str, Any] | None:
        """Check a reply_markup and apply its client-side effect; return it for storage."""
        if markup is None:
            return None
        if "inline_keyboard" in markup:
            limits.check_inline_keyboard(markup)
        elif "keyboard" in markup:
            limits.check_reply_keyboard(markup)
            chat.reply_keyboard = markup
        elif markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        return markup

    def _reply_to(self, chat: ChatState, params: dict[str, Any]) -> dict[str, Any]:
        reply = params.get("reply_parameters")
        message_id = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if reply is not None:
            if reply.get("chat_id") not in (None, chat.user.id):
                raise bad_request("replies to other chats are not implemented by the fake Bot API")
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply"))
        if message_id is None:
            return {}
        target = chat.messages.get(message_id)
        if target is None:
            if allow_missing:
                return {}
            raise bad_request("message to be replied not found")
        return {"reply_to_message": target.to_json()}

    def _formatted(
        self, params: dict[str, Any], key: str, entities_key: str, *, is_caption: bool
    ) -> FormattedText:
        return format_text(
            params[key],
            params.get("parse_mode"),
            params.get(entities_key),
            is_caption=is_caption,
        )

    def _message_for_edit(self, params: dict[str, Any]) -> FakeMessage:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not implemented by the fake Bot API")
        if "chat_id" not in params or "message_id" not in params:
            raise bad_request("message identifier is not specified")
        chat = self.state.resolve_chat(params["chat_id"])
        message = chat.messages.get(params["message_id"])
        if message is None:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: FakeMessage, **changes: Any) -> dict[str, Any]:
        message.history.append(message.snapshot())
        for key, value in changes.items():
            setattr(message, key, value)
        message.edit_date = self.state.now()
        self.emit(FakeEvent("edit", message.chat_id, message))
        return message.to_json()

    # -- identity --------------------------------------------------------------------------

    @handles("getMe")
    async def get_me(self, method: str, params: dict[str, Any]) -> Any:
        return {
            **self.state.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # -- updates ---------------------------------------------------------------------------

    @handles("getUpdates")
    async def get_updates(self, method: str, params: dict[str, Any]) -> Any:
        limit = params.get("limit", 100)
        if not 1 <= limit <= 100:
            limit = 100  # Telegram clamps instead of refusing
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self._check_update_types(allowed)
        return await self.queue.get_updates(
            params.get("offset"), limit, float(params.get("timeout", 0)), allowed
        )

    def _check_update_types(self, allowed: list[str]) -> None:
        known = set(self.queue.update_types)
        for kind in allowed:
            if kind not in known:
                raise bad_request(f'unknown update type "{kind}" in allowed_updates')

    @handles("setWebhook")
    async def set_webhook(self, method: str, params: dict[str, Any]) -> Any:
        url = params["url"]
        if not url:
            await self.queue.delete_webhook(bool(params.get("drop_pending_updates")))
            return True
        self._check_webhook_url(url)
        secret = params.get("secret_token")
        if secret is not None and not _valid_secret(secret):
            raise bad_request(
                "secret token contains unallowed characters or has a wrong length "
                "(1-256 characters of A-Z, a-z, 0-9, _ and -)"
            )
        max_connections = params.get("max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise bad_request("max_connections must be between 1 and 100")
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self._check_update_types(allowed)
        config = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=max_connections,
            ip_address=params.get("ip_address"),
            has_custom_certificate="certificate" in params,
        )
        self.queue.set_webhook(config, allowed, bool(params.get("drop_pending_updates")))
        return True

    def _check_webhook_url(self, url: str) -> None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        loopback = host in ("127.0.0.1", "localhost", "::1")
        if parts.scheme == "http" and loopback and self.options.allow_http_webhooks:
            return  # lets tests and the sandbox run a local plain-HTTP webhook
        if parts.scheme != "https" or not host:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if (parts.port or 443) not in (443, 80, 88, 8443):
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )

    @handles("deleteWebhook")
    async def delete_webhook(self, method: str, params: dict[str, Any]) -> Any:
        await self.queue.delete_webhook(bool(params.get("drop_pending_updates")))
        return True

    @handles("getWebhookInfo")
    async def get_webhook_info(self, method: str, params: dict[str, Any]) -> Any:
        config = self.queue.webhook
        info: dict[str, Any] = {
            "url": config.url if config else "",
            "has_custom_certificate": bool(config and config.has_custom_certificate),
            "pending_update_count": len(self.queue.pending),
        }
        if config is not None:
            info["max_connections"] = config.max_connections
            if config.ip_address:
                info["ip_address"] = config.ip_address
            if config.last_error_date is not None:
                info["last_error_date"] = config.last_error_date
                info["last_error_message"] = config.last_error_message
        if self.queue.allowed is not None:
            info["allowed_updates"] = sorted(self.queue.allowed)
        return info

    # -- messages --------------------------------------------------------------------------

    @handles("sendMessage")
    async def send_message(self, method: str, params: dict[str, Any]) -> Any:
        if "text" not in params:
            raise not_implemented("sendMessage without text (rich messages)")
        chat = self.state.writable_chat(params["chat_id"])
        formatted = self._formatted(params, "text", "entities", is_caption=False)
        extra = self._reply_to(chat, params)
        markup = self._markup(chat, params.get("reply_markup"))
        message = self._new_bot_message(
            chat,
            text=formatted.text,
            html=formatted.html,
            entities=formatted.entities,
            reply_markup=markup,
            extra=extra,
        )
        return self._store_bot_message(chat, message).to_json()

    @handles(*_MEDIA_METHODS)
    async def send_media(self, method: str, params: dict[str, Any]) -> Any:
        kind = _MEDIA_METHODS[method]
        chat = self.state.writable_chat(params["chat_id"])
        file = self._file(kind, params[kind])
        formatted = (
            self._formatted(params, "caption", "caption_entities", is_caption=True)
            if params.get("caption")
            else EMPTY
        )
        extra = self._reply_to(chat, params)
        markup = self._markup(chat, params.get("reply_markup"))
        media = Media(
            kind,
            file,
            width=params.get("width"),
            height=params.get("height"),
            duration=params.get("duration"),
        )
        message = self._new_bot_message(
            chat,
            text=formatted.text,
            html=formatted.html,
            entities=formatted.entities,
            media=media,
            reply_markup=markup,
            extra=extra,
        )
        return self._store_bot_message(chat, message).to_json()

    def _file(self, kind: str, value: FileRef) -> FileRecord:
        if value.upload is not None:
            return self._uploaded(kind, value.upload)
        reference = value.reference or ""
        if urlsplit(reference).scheme in ("http", "https"):
            name = urlsplit(reference).path.rsplit("/", 1)[-1] or None
            return self.state.new_file(kind, url=reference, file_name=name)
        record = self.state.files.get(reference)
        if record is None:
            if not self.options.accept_unknown_file_ids or not reference:
                raise bad_request("wrong file identifier/HTTP URL specified")
            record = FileRecord(reference, f"u-{reference[-12:]}", kind)
            self.state.files[reference] = record
        if record.kind != kind and not (kind == "document" or record.kind == "document"):
            raise bad_request(
                f"can't use file of type {record.kind.capitalize()} as {kind.capitalize()}"
            )
        return record

    def _uploaded(self, kind: str, upload: UploadedFile) -> FileRecord:
        if not upload.data:
            raise bad_request("file must be non-empty")
        mime = upload.content_type
        if mime in ("", "application/octet-stream"):
            mime = mimetypes.guess_type(upload.filename)[0] or mime
        return self.state.new_file(
            kind, data=upload.data, file_name=upload.filename, mime_type=mime or None
        )

    @handles("copyMessage")
    async def copy_message(self, method: str, params: dict[str, Any]) -> Any:
        source_chat = self.state.resolve_chat(params["from_chat_id"])
        source = source_chat.messages.get(params["message_id"])
        if source is None:
            raise bad_request("message to copy not found")
        if source.invoice is not None or (source.text is None and source.media is None):
            raise bad_request("the message can't be copied")
        chat = self.state.writable_chat(params["chat_id"])
        text, html, entities = source.text, source.html, source.entities
        if source.media is not None and "caption" in params:
            formatted = (
                self._formatted(params, "caption", "caption_entities", is_caption=True)
                if params["caption"]
                else EMPTY
            )
            text, html, entities = formatted.text, formatted.html, formatted.entities
        extra = self._reply_to(chat, params)
        markup = self._markup(chat, params.get("reply_markup"))
        message = self._new_bot_message(
            chat,
            text=text,
            html=html,
            entities=entities,
            media=source.media,
            reply_markup=markup,
            extra=extra,
        )
        self._store_bot_message(chat, message)
        return {"message_id": message.message_id}

    @handles("forwardMessage")
    async def forward_message(self, method: str, params: dict[str, Any]) -> Any:
        source_chat = self.state.resolve_chat(params["from_chat_id"])
        source = source_chat.messages.get(params["message_id"])
        if source is None:
            raise bad_request("message to forward not found")
        if source.text is None and source.media is None and source.invoice is None:
            raise bad_request("the message can't be forwarded")
        chat = self.state.writable_chat(params["chat_id"])
        origin = {"type": "user", "date": source.date, "sender_user": source.sender}
        message = self._new_bot_message(
            chat,
            text=source.text,
            html=source.html,
            entities=source.entities,
            media=source.media,
            invoice=source.invoice,
            extra={"forward_origin": origin},
        )
        return self._store_bot_message(chat, message).to_json()

    @handles("editMessageText")
    async def edit_message_text(self, method: str, params: dict[str, Any]) -> Any:
        if "text" not in params:
            raise not_implemented("editMessageText without text (rich messages)")
        message = self._message_for_edit(params)
        if message.media is not None or message.text is None:
            raise bad_request("there is no text in the message to edit")
        formatted = self._formatted(params, "text", "entities", is_caption=False)
        markup = params.get("reply_markup")
        if markup is not None:
            limits.check_inline_keyboard(markup)
        if (
            formatted.text == message.text
            and formatted.entities == message.entities
            and markup == _inline_only(message.reply_markup)
        ):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(
            message,
            text=formatted.text,
            html=formatted.html,
            entities=formatted.entities,
            reply_markup=markup,
        )

    @handles("editMessageCaption")
    async def edit_message_caption(self, method: str, params: dict[str, Any]) -> Any:
        message = self._message_for_edit(params)
        if message.media is None:
            raise bad_request("there is no caption in the message to edit")
        formatted = (
            self._formatted(params, "caption", "caption_entities", is_caption=True)
            if params.get("caption")
            else EMPTY
        )
        markup = params.get("reply_markup")
        if markup is not None:
            limits.check_inline_keyboard(markup)
        if (
            formatted.text == (message.text or "")
            and formatted.entities == message.entities
            and markup == _inline_only(message.reply_markup)
        ):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(
            message,
            text=formatted.text,
            html=formatted.html,
            entities=formatted.entities,
            reply_markup=markup,
        )

    @handles("editMessageReplyMarkup")
    async def edit_message_reply_markup(self, method: str, params: dict[str, Any]) -> Any:
        message = self._message_for_edit(params)
        markup = params.get("reply_markup")
        if markup is not None:
            if message.invoice is not None:
                limits.check_invoice_keyboard(markup)
            else:
                limits.check_inline_keyboard(markup)
        if markup == _inline_only(message.reply_markup) or (
            not markup and not _inline_only(message.reply_markup)
        ):
            raise bad_request(NOT_MODIFIED)
        return self._apply_edit(message, reply_markup=markup)

    @handles("deleteMessage")
    async def delete_message(self, method: str, params: dict[str, Any]) -> Any:
        chat = self.state.resolve_chat(params["chat_id"])
        self._delete(chat, params["message_id"])
        return True

    @handles("deleteMessages")
    async def delete_messages(self, method: str, params: dict[str, Any]) -> Any:
        chat = self.state.resolve_chat(params["chat_id"])
        ids = params["message_ids"]
        if not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        for message_id in ids:
            if message_id in chat.messages:
                self._delete(chat, message_id)
        return True

    def _delete(self, chat: ChatState, message_id: int) -> None:
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to delete not found")
        if self.state.now() - message.date > _DELETE_WINDOW:
            raise bad_request("message can't be deleted")
        del chat.messages[message_id]
        message.deleted = True
        chat.deleted.append(message)
        self.emit(FakeEvent("delete", chat.user.id, message))

    @handles("sendChatAction")
    async def send_chat_action(self, method: str, params: dict[str, Any]) -> Any:
        chat = self.state.writable_chat(params["chat_id"])
        if params["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat.last_action = params["action"]
        self.emit(FakeEvent("chat_action", chat.user.id, data={"action": params["action"]}))
        return True

    @handles("answerCallbackQuery")
    async def answer_callback_query(self, method: str, params: dict[str, Any]) -> Any:
        text = params.get("text")
        if text is not None and len(text) > limits.CALLBACK_ANSWER_MAX_CHARS:
            raise bad_request(
                f"MESSAGE_TOO_LONG (callback answer text must be at most "
                f"{limits.CALLBACK_ANSWER_MAX_CHARS} characters, got {len(text)})"
            )
        query = self.state.callback_queries.get(params["callback_query_id"])
        if query is None or query.answer is not None:
            raise bad_request(QUERY_TOO_OLD)
        if self.monotonic() - query.created > self.options.callback_query_ttl:
            raise bad_request(QUERY_TOO_OLD)
        query.answer = CallbackAnswer(
            text=text,
            show_alert=bool(params.get("show_alert")),
            url=params.get("url"),
            cache_time=params.get("cache_time", 0),
        )
        self.emit(
            FakeEvent(
                "callback_answer",
                query.chat_id,
                data={"callback_query_id": query.id, "answer": query.answer},
            )
        )
        return True

    # -- chats and bot settings ------------------------------------------------------------

    @handles("getChat")
    async def get_chat(self, method: str, params: dict[str, Any]) -> Any:
        chat = self.state.resolve_chat(params["chat_id"])
        return {
            **chat.user.chat_json(),
            "accent_color_id": chat.user.id % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    @handles("setChatMenuButton")
    async def set_chat_menu_button(self, method: str, params: dict[str, Any]) -> Any:
        button = params.get("menu_button", {"type": "default"})
        if "chat_id" in params:
            self.state.resolve_chat(params["chat_id"]).menu_button = button
        else:
            self.state.default_menu_button = (
                {"type": "commands"} if button["type"] == "default" else button
            )
        return True

    @handles("getChatMenuButton")
    async def get_chat_menu_button(self, method: str, params: dict[str, Any]) -> Any:
        if "chat_id" in params:
            button = self.state.resolve_chat(params["chat_id"]).menu_button
            if button is not None and button["type"] != "default":
                return button
        return self.state.default_menu_button

    @handles("setMyCommands")
    async def set_my_commands(self, method: str, params: dict[str, Any]) -> Any:
        limits.check_commands(params["commands"])
        key = self._commands_key(params)
        if params["commands"]:
            self.state.commands[key] = params["commands"]
        else:
            self.state.commands.pop(key, None)
        return True

    @handles("getMyCommands")
    async def get_my_commands(self, method: str, params: dict[str, Any]) -> Any:
        return self.state.commands.get(self._commands_key(params), [])

    @handles("deleteMyCommands")
    async def delete_my_commands(self, method: str, params: dict[str, Any]) -> Any:
        self.state.commands.pop(self._commands_key(params), None)
        return True

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        language = limits.check_language_code(params.get("language_code"))
        scope = params.get("scope") or {"type": "default"}
        if "chat_id" in scope:
            self.state.resolve_chat(scope["chat_id"])
        return json.dumps(scope, sort_keys=True), language

    @handles("setMyDescription", "setMyShortDescription", "setMyName")
    async def set_my_text(self, method: str, params: dict[str, Any]) -> Any:
        store, key, limit = self._text_setting(method)
        value = params.get(key) or ""
        limits.check_max_length(value, limit, f"{key.upper()}_INVALID", key)
        language = limits.check_language_code(params.get("language_code"))
        if value:
            store[language] = value
        else:
            store.pop(language, None)
        return True

    @handles("getMyDescription", "getMyShortDescription", "getMyName")
    async def get_my_text(self, method: str, params: dict[str, Any]) -> Any:
        store, key, _ = self._text_setting(method.replace("get", "set", 1))
        language = limits.check_language_code(params.get("language_code"))
        default = self.state.bot_user["first_name"] if key == "name" else ""
        return {key: store.get(language, store.get("", default))}

    def _text_setting(self, method: str) -> tuple[dict[str, str], str, int]:
        if method == "setMyDescription":
            return self.state.descriptions, "description", limits.BOT_DESCRIPTION_MAX
        if method == "setMyShortDescription":
            return (
                self.state.short_descriptions,
                "short_description",
                limits.BOT_SHORT_DESCRIPTION_MAX,
            )
        return self.state.names, "name", limits.BOT_NAME_MAX

    @handles("getFile")
    async def get_file(self, method: str, params: dict[str, Any]) -> Any:
        record = self.state.files.get(params["file_id"])
        if record is None:
            raise bad_request("invalid file_id")
        result: dict[str, Any] = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
        }
        if record.data is not None:
            result["file_size"] = record.size
            result["file_path"] = f"{record.kind}s/{record.file_id}"
        return result

    # -- payments --------------------------------------------------------------------------

    def _invoice(self, params: dict[str, Any]) -> InvoiceInfo:
        limits.check_invoice(params, accepted_provider_tokens=self.options.provider_tokens)
        return InvoiceInfo(
            title=params["title"],
            description=params["description"],
            payload=params["payload"],
            currency=params["currency"],
            prices=params["prices"],
            start_parameter=params.get("start_parameter", ""),
            subscription_period=params.get("subscription_period"),
            photo_url=params.get("photo_url"),
        )

    @handles("sendInvoice")
    async def send_invoice(self, method: str, params: dict[str, Any]) -> Any:
        chat = self.state.writable_chat(params["chat_id"])
        invoice = self._invoice(params)
        markup = params.get("reply_markup")
        if markup is not None:
            limits.check_invoice_keyboard(markup)
        else:
            markup = {"inline_keyboard": [[{"text": _pay_label(invoice), "pay": True}]]}
        extra = self._reply_to(chat, params)
        message = self._new_bot_message(chat, invoice=invoice, reply_markup=markup, extra=extra)
        return self._store_bot_message(chat, message).to_json()

    @handles("createInvoiceLink")
    async def create_invoice_link(self, method: str, params: dict[str, Any]) -> Any:
        if params.get("business_connection_id"):
            raise not_implemented("createInvoiceLink with business_connection_id")
        invoice = self._invoice(params)
        slug = f"FakeInvoice{self.state.next_serial():06d}"
        invoice.link = f"https://t.me/${slug}"
        self.state.invoice_links[slug] = invoice
        return invoice.link

    @handles("answerPreCheckoutQuery")
    async def answer_pre_checkout_query(self, method: str, params: dict[str, Any]) -> Any:
        ok = params["ok"]
        error_message = params.get("error_message")
        if not ok and not error_message:
            raise bad_request("error_message is required when ok is False")
        query = self.pre_checkouts.get(params["pre_checkout_query_id"])
        if query is None or query.answer.done():
            raise bad_request(QUERY_TOO_OLD)
        query.answer.set_result((ok, None if ok else error_message))
        self.emit(
            FakeEvent(
                "pre_checkout_answer",
                query.user_id,
                data={"ok": ok, "error_message": error_message},
            )
        )
        return True

    @handles("editUserStarSubscription")
    async def edit_user_star_subscription(self, method: str, params: dict[str, Any]) -> Any:
        if params["user_id"] not in self.state.users:
            raise bad_request("user not found")
        subscription = self._subscription(params["user_id"], params["telegram_payment_charge_id"])
        subscription.canceled_by_bot = params["is_canceled"]
        self.emit(
            FakeEvent(
                "subscription_edit",
                params["user_id"],
                data={"charge_id": params["telegram_payment_charge_id"], **params},
            )
        )
        return True

    def _subscription(self, user_id: int, charge_id: str) -> Subscription:
        payment = self.state.payments.get(charge_id)
        if payment is None or payment.user_id != user_id or payment.subscription is None:
            raise bad_request("CHARGE_ID_INVALID (no subscription with this charge for the user)")
        return payment.subscription

    @handles("getMyStarBalance")
    async def get_my_star_balance(self, method: str, params: dict[str, Any]) -> Any:
        amount, nanos = divmod(self.state.star_nanos, NANOS_PER_STAR)
        return {"amount": amount, "nanostar_amount": nanos} if nanos else {"amount": amount}

    @handles("refundStarPayment")
    async def refund_star_payment(self, method: str, params: dict[str, Any]) -> Any:
        if params["user_id"] not in self.state.users:
            raise bad_request("user not found")
        payment = self.state.payments.get(params["telegram_payment_charge_id"])
        if payment is None or payment.user_id != params["user_id"]:
            raise bad_request("CHARGE_NOT_FOUND")
        if payment.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        payment.refunded = True
        self.emit(FakeEvent("refund", payment.user_id, data={"charge_id": payment.charge_id}))
        return True


def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    return markup if markup and "inline_keyboard" in markup else None


def _pay_label(invoice: InvoiceInfo) -> str:
    if invoice.currency == "XTR":
        return f"Pay ⭐️{invoice.total_amount}"
    return f"Pay {invoice.total_amount} {invoice.currency}"


def _valid_secret(secret: str) -> bool:
    return 1 <= len(secret) <= 256 and all(
        c.isascii() and (c.isalnum() or c in "_-") for c in secret
    )
