"""Logging: text or JSON lines, with secrets (bot tokens) never written out."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_TOKEN_RE = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}")
# A Bot API URL names the token in its path (/bot<token>/method, /file/bot<token>/...),
# whatever its length or spelling.
_BOT_URL_RE = re.compile(r"(?<=/bot)[^/\s'\"<>?#]+")
REDACTED = "[REDACTED]"
# Secrets of this process (the bot token), registered once at start-up by setup_logging.
_SECRETS: set[str] = set()


def register_secrets(*secrets: str) -> None:
    _SECRETS.update(s for s in secrets if s)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """The text with every known secret, bot token and Bot API URL token replaced."""
    for secret in (*secrets, *_SECRETS):
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BOT_URL_RE.sub(REDACTED, text)
    return _TOKEN_RE.sub(REDACTED, text)


def describe_error(error: BaseException, limit: int = 500) -> str:
    """An exception as text fit to store or print: its type and message, redacted, cut."""
    message = str(error)
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return redact(text)[:limit]


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str | None = None, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonFormatter(RedactingFormatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("instance", "update_id", "person_id", "job"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, ensure_ascii=False), self.secrets)


class ContextFilter(logging.Filter):
    """Adds fixed fields (e.g. which instance wrote the line) to every record."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__()
        self.fields = dict(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def setup_logging(
    level: str = "INFO",
    fmt: str = "text",
    secrets: tuple[str, ...] = (),
    context: Mapping[str, Any] | None = None,
) -> None:
    register_secrets(*secrets)
    handler = logging.StreamHandler(sys.stderr)
    if context:
        handler.addFilter(ContextFilter(context))
    if fmt == "json":
        handler.setFormatter(JsonFormatter(secrets=secrets))
    else:
        handler.setFormatter(
            RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiogram logs every handled update at INFO; keep that for DEBUG.
    logging.getLogger("aiogram.event").setLevel(max(logging.getLevelName(level), logging.WARNING))
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
