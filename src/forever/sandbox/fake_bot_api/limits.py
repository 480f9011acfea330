"""Telegram's documented limits that the spec's types alone do not express.

Where Telegram answers with an error code (BUTTON_DATA_INVALID, ...) the code is kept first so
tests can match it, followed by a human hint in parentheses.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .errors import bad_request

CALLBACK_DATA_MAX_BYTES = 64
CALLBACK_ANSWER_MAX_CHARS = 200
INVOICE_TITLE_CHARS = (1, 32)
INVOICE_DESCRIPTION_CHARS = (1, 255)
INVOICE_PAYLOAD_BYTES = (1, 128)
STARS_MAX_AMOUNT = 10000
SUBSCRIPTION_PERIOD = 2592000  # 30 days: the only period Telegram accepts
MAX_COMMANDS = 100
COMMAND_DESCRIPTION_CHARS = (1, 256)
BOT_DESCRIPTION_MAX = 512
BOT_SHORT_DESCRIPTION_MAX = 120
BOT_NAME_MAX = 64
# Paid broadcasts (allow_paid_broadcast): 0.1 Star per message, taken from the bot's balance.
NANOS_PER_STAR = 1_000_000_000
PAID_MESSAGE_NANOS = NANOS_PER_STAR // 10
# Telegram does not document the answer to a paid send the balance cannot cover; this double
# answers 400 with BALANCE_TOO_LOW, the code Telegram uses when Stars do not cover a payment.
BALANCE_TOO_LOW = "BALANCE_TOO_LOW (the bot's Star balance does not cover this paid message)"

_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
# The button fields that do not choose what the button does.
_BUTTON_DECORATIONS = frozenset({"text", "icon_custom_emoji_id", "style"})
_BUTTON_URL_SCHEMES = frozenset({"http", "https", "tg", "ton"})


def check_inline_keyboard(markup: dict[str, Any], *, allow_pay: bool = False) -> None:
    for row_index, row in enumerate(markup["inline_keyboard"]):
        for col_index, button in enumerate(row):
            where = f"row {row_index}, button {col_index}"
            if not button["text"].strip():
                raise bad_request(
                    f"can't parse inline keyboard button: text must be non-empty ({where})"
                )
            actions = [k for k in button if k not in _BUTTON_DECORATIONS]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    f"inline keyboard ({where})"
                )
            if len(actions) > 1:
                raise bad_request(
                    "can't parse inline keyboard button: exactly one of the fields "
                    f"{', '.join(sorted(actions))} must be used ({where})"
                )
            action = actions[0]
            if action == "callback_data":
                size = len(button["callback_data"].encode("utf-8"))
                if not 1 <= size <= CALLBACK_DATA_MAX_BYTES:
                    raise bad_request(
                        f"BUTTON_DATA_INVALID (callback_data must be 1-64 bytes, got {size}; "
                        f"{where})"
                    )
            elif action == "url":
                if not _valid_button_url(button["url"]):
                    raise bad_request(f"BUTTON_URL_INVALID ({button['url']!r}; {where})")
            elif action == "pay":
                if not allow_pay:
                    raise bad_request(f"pay buttons are allowed only in invoice messages ({where})")
                if (row_index, col_index) != (0, 0):
                    raise bad_request(
                        f"the Pay button must be the first button of the keyboard ({where})"
                    )


def check_invoice_keyboard(markup: dict[str, Any]) -> None:
    check_inline_keyboard(markup, allow_pay=True)
    rows = markup["inline_keyboard"]
    if not rows or not rows[0] or not rows[0][0].get("pay"):
        raise bad_request("the first button of an invoice keyboard must be a Pay button")


def check_reply_keyboard(markup: dict[str, Any]) -> None:
    for row in markup["keyboard"]:
        for button in row:
            text = button if isinstance(button, str) else button["text"]
            if not text.strip():
                raise bad_request("keyboard button text must be non-empty")


def _valid_button_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme.lower() not in _BUTTON_URL_SCHEMES:
        return False
    return bool(parts.netloc) or parts.scheme.lower() == "tg"


def _check_length(value: str, bounds: tuple[int, int], code: str, what: str) -> None:
    low, high = bounds
    if not low <= len(value) <= high:
        raise bad_request(f"{code} ({what} must be {low}-{high} characters, got {len(value)})")


def check_invoice(params: dict[str, Any], *, accepted_provider_tokens: frozenset[str]) -> None:
    _check_length(params["title"], INVOICE_TITLE_CHARS, "INVOICE_TITLE_INVALID", "title")
    _check_length(
        params["description"],
        INVOICE_DESCRIPTION_CHARS,
        "INVOICE_DESCRIPTION_INVALID",
        "description",
    )
    payload_size = len(params["payload"].encode("utf-8"))
    low, high = INVOICE_PAYLOAD_BYTES
    if not low <= payload_size <= high:
        raise bad_request(
            f"INVOICE_PAYLOAD_INVALID (payload must be 1-128 bytes, got {payload_size})"
        )
    currency = params["currency"]
    prices = params["prices"]
    if not prices:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID (prices must not be empty)")
    provider_token = params.get("provider_token") or ""
    period = params.get("subscription_period")
    if currency == "XTR":
        if len(prices) != 1:
            raise bad_request(
                f"STARS_INVOICE_INVALID (XTR invoices need exactly one price, got {len(prices)})"
            )
        if provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID (pass no provider_token for XTR)")
        amount = prices[0]["amount"]
        if not 1 <= amount <= STARS_MAX_AMOUNT:
            raise bad_request(
                f"CURRENCY_TOTAL_AMOUNT_INVALID (Stars amount must be 1-{STARS_MAX_AMOUNT})"
            )
    else:
        if period is not None:
            raise bad_request("SUBSCRIPTION_PERIOD_INVALID (subscriptions need currency XTR)")
        if provider_token not in accepted_provider_tokens:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if sum(p["amount"] for p in prices) <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    if period is not None and period != SUBSCRIPTION_PERIOD:
        raise bad_request(
            f"SUBSCRIPTION_PERIOD_INVALID (must be {SUBSCRIPTION_PERIOD}, got {period})"
        )


def check_language_code(code: str | None) -> str:
    code = code or ""
    if code and not _LANGUAGE.match(code):
        raise bad_request(f"LANGUAGE_CODE_INVALID (two lowercase letters or empty, got {code!r})")
    return code


def check_commands(commands: list[dict[str, Any]]) -> None:
    if len(commands) > MAX_COMMANDS:
        raise bad_request(f"BOT_COMMANDS_TOO_MUCH (at most {MAX_COMMANDS}, got {len(commands)})")
    for command in commands:
        if not _COMMAND.match(command["command"]):
            raise bad_request(
                f"BOT_COMMAND_INVALID ({command['command']!r}: 1-32 characters of a-z, 0-9, _)"
            )
        _check_length(
            command["description"].strip(),
            COMMAND_DESCRIPTION_CHARS,
            "BOT_COMMAND_DESCRIPTION_INVALID",
            f"description of /{command['command']}",
        )


def check_max_length(value: str, limit: int, code: str, what: str) -> None:
    if len(value) > limit:
        raise bad_request(f"{code} ({what} must be at most {limit} characters, got {len(value)})")
