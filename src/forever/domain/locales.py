"""The languages the bot speaks, and how a Telegram language code finds one (issue 21).

`LOCALES` are the languages a person can choose and every message exists in: each has a
gettext catalog (locales/<code>/LC_MESSAGES/messages.po). `CATALOG_LOCALES` is the same list,
kept as a name for the code that reads the catalogs. A message an owner writes once per
language (message_templates/chat/<locale>/) that has no copy in a locale is shown in the
default locale's copy, then English (see rendering.Renderer).
"""

from __future__ import annotations

from collections.abc import Collection

LOCALES = ("en", "ro", "it", "ru", "es")
SOURCE_LOCALE = "en"  # the language of the message ids in the templates
# Each language named in itself: the /language buttons, the console's and the sandbox's switch.
NAMES = {"en": "English", "ro": "Română", "it": "Italiano", "ru": "Русский", "es": "Español"}
CATALOG_LOCALES = LOCALES
assert set(NAMES) == set(LOCALES)


def normalize(code: str | None) -> str:
    """'pt_BR', 'PT-br ' → 'pt-br'; None → ''."""
    return (code or "").strip().replace("_", "-").lower()


def fallback_chain(code: str | None, available: Collection[str], default: str) -> tuple[str, ...]:
    """The locales to try for a language code, most specific first, ending with `default`:
    'pt-br' → ('pt-br', 'pt', default) as far as they are `available`; 'es-419' → ('es',
    default). Each locale appears once."""
    parts = normalize(code).split("-")
    chain: list[str] = []
    for end in range(len(parts), 0, -1):
        candidate = "-".join(parts[:end])
        if candidate in available and candidate not in chain:
            chain.append(candidate)
    if default not in chain:
        chain.append(default)
    return tuple(chain)


def resolve(code: str | None, available: Collection[str], default: str) -> str:
    """The one locale a language code is served in: the first of its fallback chain."""
    return fallback_chain(code, available, default)[0]
