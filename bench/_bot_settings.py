"""The settings every benchmark that runs the bot against the fake Bot API starts from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forever.config import Settings, load_settings

TOKEN = "123456789:BENCH-token-for-the-fake-botapi-xyz"
ROOT = Path(__file__).resolve().parents[1]


def bench_settings(database_url: str, telegram_api_url: str, **overrides: Any) -> Settings:
    """No .env, the repository's catalog, free ports, no SMTP security, quiet logs;
    `overrides` are the benchmark's own (flood limits, an SMTP sink...)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "bot_token": TOKEN,
        "secret_key": "bench-secret-key-0123456789abcdef",
        "catalog_path": str(ROOT / "catalog.toml"),
        "telegram_api_url": telegram_api_url,
        "public_url": "https://forever.test",
        "web_port": 0,
        "metrics_port": 0,
        "smtp_security": "none",
        "log_level": "WARNING",
    }
    return load_settings(_env_file=None, **(values | overrides))
