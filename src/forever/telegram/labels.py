"""Button labels per locale, from message_templates/buttons/<locale>.toml (read once)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from forever.config import LOCALES
from forever.rendering import TEMPLATES_DIR


class Labels:
    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        self._by_locale = {
            locale: tomllib.loads((templates_dir / "buttons" / f"{locale}.toml").read_text("utf-8"))
            for locale in LOCALES
        }

    def __call__(self, locale: str, key: str, /, **fields: Any) -> str:
        table = self._by_locale.get(locale) or self._by_locale["en"]
        return str(table[key]).format(**fields)[:64]

    def months(self, locale: str, n: int) -> str:
        return self(locale, "months_one" if n == 1 else "months_many", n=n)

    def redeem_days(self, locale: str, days: int, points: int) -> str:
        """The extra-days reward button: "1 extra day", "7 extra days"."""
        key = "redeem_days_one" if days == 1 else "redeem_days_many"
        return self(locale, key, days=days, points=points)

    def keys(self, locale: str) -> set[str]:
        return set(self._by_locale[locale])
