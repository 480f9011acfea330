"""A strict, in-memory test double of the Telegram Bot API, served over real HTTP.

aiogram talks to it exactly as to api.telegram.org; tests (and the sandbox page) play users
through :class:`FakeUser`. See ``server.FakeBotAPI`` for the entry point.
"""

from . import groups as groups  # registers the channel and group methods
from .errors import ApiError, FakeBotAPIError, UpdateDropped, UpdateNotHandled
from .server import DEFAULT_TOKEN, ApiCall, FakeBotAPI
from .state import Button, CallbackAnswer, FakeEvent, FakeMessage, Media
from .updates import Outcome, PendingUpdate
from .users import FakeUser, PaymentResult, PressResult

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "ApiError",
    "Button",
    "CallbackAnswer",
    "FakeBotAPI",
    "FakeBotAPIError",
    "FakeEvent",
    "FakeMessage",
    "FakeUser",
    "Media",
    "Outcome",
    "PaymentResult",
    "PendingUpdate",
    "PressResult",
    "UpdateDropped",
    "UpdateNotHandled",
]
