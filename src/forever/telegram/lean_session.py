"""aiogram's aiohttp session with two savings on every reply (measured in bench/profile_send):

- **The form.** A call without files is encoded straight from the method's fields. A keyboard
  marked with `fixed()` (the same object sent to everyone, e.g. under the welcome text) is
  turned into JSON, and quoted for the form, once, not on every send. Every value is
  prepared by aiogram's own `prepare_value`, so the request is the one aiogram would send;
  calls carrying a file, or a value of a kind not listed here, take aiogram's own path.
- **The answer.** Inside `result_unread()` (a reply whose Message nobody reads) a successful
  answer is checked for `"ok": true` and not turned into aiogram's types; an error answer
  still goes through aiogram's check, so 429s and 403s raise as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import weakref
from collections.abc import Iterator
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote_plus

from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import Response
from aiogram.types import InlineKeyboardMarkup, TelegramObject
from aiohttp import BytesPayload

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod

M = TypeVar("M", bound=InlineKeyboardMarkup)

# id → (the keyboard, its form part once made), for keyboards alive: an entry goes with its
# keyboard (the views build new ones when the owner edits a label), before its id can be reused.
_FIXED: dict[int, tuple[weakref.ref[InlineKeyboardMarkup], str | None]] = {}
_FORM = "application/x-www-form-urlencoded"

_UNREAD: contextvars.ContextVar[bool] = contextvars.ContextVar("forever_unread", default=False)
# What an unread success returns (only its `result` is read): made once, since pydantic
# looks up the parametrised class anew on every `Response[Any]`.
_OK_UNREAD: Response[Any] = Response[Any].model_construct(ok=True, result=None)


def _part(key: str, value: Any) -> str:
    """One "key=value" of the form, quoted as urlencode quotes it."""
    return f"{quote_plus(key)}={quote_plus(value if isinstance(value, str) else str(value))}"


def fixed(markup: M) -> M:
    """Mark a keyboard that is never changed after this call: its JSON is made once."""
    key = id(markup)
    if key not in _FIXED:
        _FIXED[key] = (weakref.ref(markup), None)
        weakref.finalize(markup, _FIXED.pop, key, None)
    return markup


@contextlib.contextmanager
def result_unread() -> Iterator[None]:
    """Calls made inside return nothing useful on success (None instead of the Message)."""
    token = _UNREAD.set(True)
    try:
        yield
    finally:
        _UNREAD.reset(token)


class LeanSession(AiohttpSession):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._defaults_of: Bot | None = None
        self._defaults: dict[str, Any] = {}

    def build_form_data(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        # The body urlencode would make, "key=value" joined by "&", each part quoted as
        # urlencode quotes it (a fixed keyboard's part is quoted once, with its JSON).
        parts: list[str] = []
        files: dict[str, Any] = {}
        extra = method.__pydantic_extra__ or {}
        for key, value in (*method.__dict__.items(), *extra.items()):
            if isinstance(value, Default):
                prepared = self._default(bot, value.name)
            elif value is None:
                continue
            elif isinstance(value, InlineKeyboardMarkup):
                part = self._keyboard_part(key, value, bot, files)
                if files:
                    return super().build_form_data(bot, method)
                parts.append(part)
                continue
            elif isinstance(value, (str, int, float, Enum, TelegramObject)):
                prepared = self.prepare_value(value, bot=bot, files=files)
            else:  # lists, dates, files: aiogram's own path
                return super().build_form_data(bot, method)
            if files:
                return super().build_form_data(bot, method)
            if isinstance(prepared, Enum):  # a str enum (ParseMode): its value, as aiogram sends
                prepared = prepared.value
            if prepared:
                parts.append(_part(key, prepared))
        return BytesPayload("&".join(parts).encode(), content_type=_FORM)

    def _default(self, bot: Bot, name: str) -> Any:
        """A bot default (parse mode, link previews), prepared once per bot."""
        if self._defaults_of is not bot:
            self._defaults_of, self._defaults = bot, {}
        try:
            return self._defaults[name]
        except KeyError:
            made = self._defaults[name] = self.prepare_value(bot.default[name], bot=bot, files={})
            return made

    def _keyboard_part(
        self, key: str, markup: InlineKeyboardMarkup, bot: Bot, files: dict[str, Any]
    ) -> str:
        known = _FIXED.get(id(markup))
        if known is None or known[0]() is not markup:
            return _part(key, self.prepare_value(markup, bot=bot, files=files))
        if known[1] is None:
            made = _part(key, self.prepare_value(markup, bot=bot, files=files))
            _FIXED[id(markup)] = (known[0], made)
            return made
        return known[1]

    def check_response(
        self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str
    ) -> Response[Any]:
        if _UNREAD.get() and 200 <= status_code <= 226:
            try:
                ok = json.loads(content).get("ok") is True
            except (ValueError, AttributeError):
                ok = False
            if ok:
                return _OK_UNREAD
        return super().check_response(bot, method, status_code, content)
