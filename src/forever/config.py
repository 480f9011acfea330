"""Settings: the one place the environment (and `.env`) is read."""

from __future__ import annotations

import re
import zoneinfo
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from forever.domain.locales import LOCALES

__all__ = ["LOCALES"]
# What SQLAlchemy's make_url accepts, up to the port (read here without importing SQLAlchemy:
# services/ import this module and must stay free of it).
_DATABASE_URL = re.compile(
    r"(?P<driver>[\w+]+)://(?:[^:/]*(?::[^@]*)?@)?(?:(?:\[[^/?]+\]|[^/:?]+)?(?::(?P<port>[^/?]*))?)?"
)
SANDBOX_TOKEN = "123456789:SANDBOX-not-a-real-token-0000000000"  # noqa: S105 (public by design)


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    telegram_api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    database_url: str = "sqlite+aiosqlite:///./forever.db"
    redis_url: str | None = None
    redis_prefix: str = "forever"
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    mail_from: str | None = None
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8080")
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0, le=65535)
    # Prometheus /metrics: its own listener, loopback unless the operator says otherwise.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0, le=65535)
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    # Support staff: receive customers' answers to broadcasts and reply to them.
    support_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    secret_key: SecretStr | None = None
    catalog_path: str = "catalog.toml"
    default_locale: str = "en"
    timezone: str = "UTC"
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    # POST /api/usage (issue 19): the key the business's systems send; unset = endpoint off.
    usage_api_key: SecretStr | None = None
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.TEXT
    # Broadcasts: messages per second over all instances (Telegram allows about 30) and how
    # many sends may be in flight at once.
    broadcast_rate: float = Field(28.0, gt=0, le=1000)
    broadcast_concurrency: int = Field(8, ge=1, le=100)
    # Paid broadcasts (allow_paid_broadcast, 0.1 Star per message): Telegram allows up to 1000
    # messages/s; their own budget, and more sends in flight to reach it.
    paid_broadcast_rate: float = Field(900.0, gt=0, le=1000)
    paid_broadcast_concurrency: int = Field(48, ge=1, le=200)
    # `run` retries an unreachable Telegram at start: 1 s, doubling, at most this long apart.
    start_retry_max_seconds: float = Field(30.0, gt=0, le=3600)
    # Per-user flood guard (in memory, per process): updates a user may send per second on
    # average, and how many at once; beyond that their updates are dropped before any work.
    flood_rate: float = Field(5.0, gt=0, le=1000)
    flood_burst: int = Field(10, ge=1, le=10000)
    # The delivery worker wakes when a row is queued (in process; PostgreSQL LISTEN/NOTIFY
    # across instances) and also drains on this timer, as a fallback.
    outbox_poll_seconds: float = Field(5.0, gt=0, le=3600)
    # Names this instance in leases and claims. Stable across restarts (default: host name and
    # WEB_PORT), so a restarted instance takes back at once the broadcast and the emails it was
    # sending; must differ between instances running at the same time.
    instance_id: str | None = Field(None, min_length=1, max_length=40, pattern=r"^[\w.:@-]+$")

    @field_validator("admin_ids", "support_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            bad = [p for p in parts if not p.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"expected comma separated Telegram user ids, got {bad[0]!r}")
            return frozenset(int(p) for p in parts)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        url = _DATABASE_URL.match(value)
        if url is None or not (url["port"] or "0").isdigit():
            raise ValueError(
                "not a SQLAlchemy URL (e.g. sqlite+aiosqlite:///./forever.db or "
                "postgresql+asyncpg://user@host/db)"
            )
        driver = url["driver"]
        if driver not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError(
                f"unsupported driver {driver!r}: use sqlite+aiosqlite or postgresql+asyncpg"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("instance_id", mode="before")
    @classmethod
    def _blank_instance_id(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_prefix")
    @classmethod
    def _check_redis_prefix(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "_-." for c in value) or len(value) > 64:
            raise ValueError("1-64 characters of A-Z, a-z, 0-9, _, - and .")
        return value

    @field_validator("default_locale")
    @classmethod
    def _check_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone (use an IANA name such as Europe/Rome)") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if "\r" in value or "\n" in value or "@" not in value:
            raise ValueError("must be an email address such as Forever <hello@example.com>")
        return value

    @field_validator("bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        head, _, tail = value.get_secret_value().partition(":")
        if not head.isdigit() or len(tail) < 30:
            # Never echo the value: it may be a real token with a typo.
            raise ValueError("does not look like a bot token (digits:secret from @BotFather)")
        return value

    @model_validator(mode="after")
    def _check_webhook(self) -> Settings:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET: required when WEBHOOK_URL is set")
        if self.webhook_secret is not None:
            secret = self.webhook_secret.get_secret_value()
            ok_chars = all(c.isalnum() or c in "_-" for c in secret)
            if not (1 <= len(secret) <= 256 and ok_chars):
                raise ValueError("WEBHOOK_SECRET: 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return self

    @model_validator(mode="after")
    def _check_paid_rate(self) -> Settings:
        # The paid mode exists to be faster; a slower paid budget is a typo, not a choice.
        if self.paid_broadcast_rate < self.broadcast_rate:
            raise ValueError(
                f"PAID_BROADCAST_RATE: at least BROADCAST_RATE ({self.broadcast_rate:g}) and at "
                "most 1000 (Telegram's limit for paid broadcasts)"
            )
        return self

    @model_validator(mode="after")
    def _check_flood(self) -> Settings:
        # Below one second's worth, a user within the rate is still dropped whenever their
        # updates come in clumps (an album of photos arrives as one update per photo).
        if self.flood_burst < self.flood_rate:
            raise ValueError("FLOOD_BURST: must be at least FLOOD_RATE (one second's worth)")
        return self

    # Helpers for the commands that need more than the defaults.
    def require_for_run(self) -> None:
        if self.bot_token is None:
            raise ConfigError("BOT_TOKEN: required for `run` (get one from @BotFather)")
        self.require_secret_key()

    def require_secret_key(self) -> None:
        if self.secret_key is None:
            raise ConfigError("SECRET_KEY: required outside sandbox (a long random string)")
        if len(self.secret_key.get_secret_value()) < 16:
            raise ConfigError("SECRET_KEY: too short, use at least 16 random characters")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning pydantic's report into one readable line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = first.get("loc") or ()
    message = str(first.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if loc:
        name = str(loc[0]).upper()
        return f"{name}: {message}"
    return message
