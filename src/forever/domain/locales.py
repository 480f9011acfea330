"""The languages the bot speaks, and how a Telegram language code finds one (issue 21).

`LOCALES` are the languages a person can choose and every message exists in. `CATALOG_LOCALES`
also holds the languages whose gettext catalogs (locales/<code>/LC_MESSAGES/messages.po) cover
the areas converted to one template per message so far; until every area is converted they
are not in `LOCALES`, and a message not yet converted is shown in English.
"""

from __future__ import annotations

from collections.abc import Collection

LOCALES = ("en", "ro", "it")
SOURCE_LOCALE = "en"  # the language of the message ids in the templates
CATALOG_LOCALES = (*LOCALES, "ru", "es")


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
