"""The lean session sends exactly what aiogram's own session would, byte for byte, and a
reply whose Message nobody reads still raises Telegram's errors."""

from __future__ import annotations

import gc
import json
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    BanChatMember,
    EditMessageText,
    SendInvoice,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    LinkPreviewOptions,
    Message,
)

from forever.telegram import lean_session
from forever.telegram.lean_session import LeanSession, fixed, result_unread

TOKEN = "42:" + "A" * 35
DEFAULTS = DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True)


def _keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Start my trial", callback_data="trial:start")],
            [InlineKeyboardButton(text="Plans & prices", url="https://forever.test/plans?a=1")],
        ]
    )


def _body(payload: Any) -> bytes:
    return bytes(payload._value)


def _aiogram_body(method: TelegramMethod[Any]) -> bytes:
    bot = Bot(TOKEN, default=DEFAULTS)
    return _body(AiohttpSession().build_form_data(bot, method)())


def _lean_body(method: TelegramMethod[Any]) -> tuple[bytes, str]:
    session = LeanSession()
    bot = Bot(TOKEN, session=session, default=DEFAULTS)
    payload = session.build_form_data(bot, method)
    if hasattr(payload, "_value") and not callable(payload):
        return _body(payload), payload.content_type
    return _body(payload()), payload().content_type


SHARED = fixed(_keyboard())

METHODS = {
    "a reply with the bot's defaults and a fixed keyboard": SendMessage(
        chat_id=20012,
        text="Hi <b>Ana</b> & welcome!\nЦена: 300 ⭐ — 20%",
        reply_markup=SHARED,
    ),
    "the same keyboard sent again (its JSON kept)": SendMessage(
        chat_id=7, text="again", reply_markup=SHARED
    ),
    "a keyboard made for this message": SendMessage(
        chat_id=7, text="x", reply_markup=_keyboard(), parse_mode=None
    ),
    "explicit values over the defaults": SendMessage(
        chat_id=-100123,
        text="*bold*",
        parse_mode=ParseMode.MARKDOWN_V2,
        link_preview_options=LinkPreviewOptions(is_disabled=False, url="https://a.b"),
        disable_notification=True,
        allow_paid_broadcast=False,
    ),
    "an edit": EditMessageText(chat_id=5, message_id=9, text="edited", reply_markup=SHARED),
    "a button answer": AnswerCallbackQuery(callback_query_id="77", text="Done", show_alert=False),
    "a list (aiogram's path)": SendInvoice(
        chat_id=5,
        title="Monthly",
        description="d",
        payload="p",
        currency="XTR",
        prices=[LabeledPrice(label="Monthly", amount=300)],
    ),
    "a duration (aiogram's path)": BanChatMember(
        chat_id=-100, user_id=5, until_date=timedelta(days=400)
    ),
}


@pytest.mark.parametrize("method", METHODS.values(), ids=METHODS.keys())
def test_the_request_is_the_one_aiogram_would_send(method: TelegramMethod[Any]) -> None:
    expected = _aiogram_body(method)
    if isinstance(method, BanChatMember):  # "now + 400 days" moves between the two calls
        expected = expected.split(b"&until_date=")[0]
    body, content_type = _lean_body(method)
    if isinstance(method, BanChatMember):
        body = body.split(b"&until_date=")[0]
    assert body == expected
    assert content_type == "application/x-www-form-urlencoded"


def test_a_file_goes_as_multipart_as_aiogram_sends_it() -> None:
    session = LeanSession()
    bot = Bot(TOKEN, session=session, default=DEFAULTS)
    photo = SendPhoto(chat_id=5, photo=BufferedInputFile(b"\x89PNG", "p.png"), caption="c")
    assert "multipart/form-data" in session.build_form_data(bot, photo)().content_type


def _message_json(chat_id: int) -> str:
    return json.dumps(
        {
            "ok": True,
            "result": {
                "message_id": 3,
                "date": 1790000000,
                "chat": {"id": chat_id, "type": "private"},
                "text": "hi",
            },
        }
    )


def test_an_unread_reply_is_not_parsed_but_a_read_one_is() -> None:
    session = LeanSession()
    bot = Bot(TOKEN, session=session, default=DEFAULTS)
    method = SendMessage(chat_id=5, text="hi")
    read = session.check_response(bot, method, 200, _message_json(5)).result
    assert isinstance(read, Message) and read.chat.id == 5
    with result_unread():
        assert session.check_response(bot, method, 200, _message_json(5)).result is None


@pytest.mark.parametrize(
    ("status", "answer", "error"),
    [
        (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 3",
                "parameters": {"retry_after": 3},
            },
            TelegramRetryAfter,
        ),
        (
            403,
            {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"},
            TelegramForbiddenError,
        ),
    ],
)
def test_an_unread_reply_still_raises_telegrams_errors(
    status: int, answer: dict[str, Any], error: type[Exception]
) -> None:
    session = LeanSession()
    bot = Bot(TOKEN, session=session, default=DEFAULTS)
    with result_unread(), pytest.raises(error):
        session.check_response(bot, SendMessage(chat_id=5, text="hi"), status, json.dumps(answer))


def test_an_ok_status_with_a_refusal_in_the_body_is_not_taken_for_success() -> None:
    session = LeanSession()
    bot = Bot(TOKEN, session=session, default=DEFAULTS)
    body = json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: odd"})
    with result_unread(), pytest.raises(Exception, match="odd"):
        session.check_response(bot, SendMessage(chat_id=5, text="hi"), 200, body)


def test_a_fixed_keyboard_is_forgotten_with_the_keyboard() -> None:
    """The views build new keyboards when the owner edits a label: the old ones' JSON must
    not be kept (nor sent under a new keyboard that reuses the old one's memory)."""
    board = fixed(_keyboard())
    key = id(board)
    body, _ = _lean_body(SendMessage(chat_id=5, text="x", reply_markup=board))
    assert b"trial%3Astart" in body and lean_session._FIXED[key][1] is not None
    del board
    gc.collect()
    assert key not in lean_session._FIXED
    other = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="New", callback_data="n")]]
    )
    body, _ = _lean_body(SendMessage(chat_id=5, text="x", reply_markup=other))
    assert b"New" in body and b"trial" not in body
