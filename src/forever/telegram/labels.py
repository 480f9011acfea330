"""Button labels per locale (issue 21): the English ones in message_templates/buttons/en.toml
are the message ids (context 'button:<key>'), translated by the gettext catalogs. A
`buttons/<locale>.toml` that still exists wins for the keys it has (read once)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from forever.catalogs import extra_days, months, override, points, translations
from forever.domain.locales import CATALOG_LOCALES, SOURCE_LOCALE
from forever.rendering import TEMPLATES_DIR


def load_labels(templates_dir: Path, locale: str) -> dict[str, str]:
    folder = templates_dir / "buttons"
    source = tomllib.loads((folder / f"{SOURCE_LOCALE}.toml").read_text("utf-8"))
    catalog = translations(locale)
    table = {key: catalog.pgettext(f"button:{key}", str(text)) for key, text in source.items()}
    own = folder / f"{locale}.toml"
    if locale != SOURCE_LOCALE and own.is_file():
        table.update({k: str(v) for k, v in tomllib.loads(own.read_text("utf-8")).items()})
    return table


class Labels:
    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        self._by_locale = {locale: load_labels(templates_dir, locale) for locale in CATALOG_LOCALES}

    def __call__(self, locale: str, key: str, /, **fields: Any) -> str:
        """The label, the owner's text first (console text editor), else the catalog's."""
        table = self._by_locale.get(locale) or self._by_locale[SOURCE_LOCALE]
        english = self._by_locale[SOURCE_LOCALE].get(key)
        text = override(locale, f"button:{key}", english) if english is not None else None
        return str(text if text is not None else table[key]).format(**fields)[:64]

    def months(self, locale: str, n: int) -> str:
        """'1 month', '3 luni', '5 месяцев': the locale's plural rule."""
        return months(n, locale if locale in self._by_locale else SOURCE_LOCALE)

    def redeem_days(self, locale: str, days: int, cost: int) -> str:
        """The extra-days reward button: "1 extra day · 50 points", "7 zile în plus · 100 de
        puncte": the catalog's plural forms for both counts."""
        loc = locale if locale in self._by_locale else SOURCE_LOCALE
        return f"{extra_days(days, loc)} · {points(cost, loc)}"[:64]

    def redeem_addon(self, locale: str, name: str, cost: int) -> str:
        """An add-on reward's button: "Coaching call · 300 points", "… · 300 de puncte"."""
        loc = locale if locale in self._by_locale else SOURCE_LOCALE
        price = f" · {points(cost, loc)}"
        room = 64 - len(price)
        return (name if len(name) <= room else name[: room - 1] + "…") + price

    def keys(self, locale: str) -> set[str]:
        return set(self._by_locale[locale])
