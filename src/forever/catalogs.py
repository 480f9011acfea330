"""Message catalogs and CLDR formats (issue 21).

Translations are gettext catalogs under `locales/<locale>/LC_MESSAGES/messages.po`, read once
at start and compiled in memory (no .mo file is built or committed). A locale's catalog falls
back along its chain (`pt-br` → `pt` → English), and a message nobody translated is shown as
its English id. Dates, times, numbers and plural rules come from Babel's CLDR data.

`python -m forever.catalogs` (what `make i18n` runs) extracts every message from the shared
templates (babel.cfg), from this module and from the English button labels and command menu,
writes `locales/messages.pot` and updates every catalog, keeping what is translated.
"""

from __future__ import annotations

import gettext
import io
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import IO, Any

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from forever.domain.lazy_text import CONSOLE, SANDBOX
from forever.domain.locales import CATALOG_LOCALES, SOURCE_LOCALE, fallback_chain

ROOT = Path(__file__).resolve().parents[2]
LOCALES_DIR = ROOT / "locales"
DOMAIN = "messages"

# The CLDR locale each of ours formats dates and numbers as. The bot's English is British
# ("1 December 2026"); the others are CLDR's own.
CLDR = {"en": "en_GB"}


def cldr(locale: str) -> Locale:
    return _cldr(CLDR.get(locale, locale.replace("-", "_")))


@cache
def _cldr(code: str) -> Locale:
    return Locale.parse(code)


def catalog_path(locale: str, locales_dir: Path = LOCALES_DIR) -> Path:
    return locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path, locale: str) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale.replace("-", "_"), domain=DOMAIN)


def compile_catalog(catalog: Catalog) -> gettext.GNUTranslations:
    """The catalog as Python's gettext reads it; untranslated and fuzzy entries left out."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


# Owner overrides (console text editor): (locale, msgctxt or "", msgid) -> text, or the plural
# forms of a plural message (keyed by its singular id, in the order of the locale's
# Plural-Forms). Replaced whole by `set_overrides` (at start, on a save, and when another
# instance saved one); read on every lookup, so a change is in force at once without
# rebuilding anything.
Key = tuple[str, str, str]
Text = str | tuple[str, ...]
_OVERRIDES: dict[Key, str] = {}
_PLURALS: dict[Key, tuple[str, ...]] = {}
# A text being previewed in the console (not saved): consulted first, in this context only.
_DRAFT: ContextVar[Mapping[Key, Text] | None] = ContextVar("draft_text", default=None)
_DRAFTING = 0  # how many previews are rendering now (0: the lookups skip the context var)


_GENERATION = 0  # counts `set_overrides` calls: what was built from the old texts is stale


def set_overrides(overrides: Mapping[Key, str | Sequence[str]]) -> None:
    global _OVERRIDES, _PLURALS, _GENERATION
    _OVERRIDES = {k: v for k, v in overrides.items() if isinstance(v, str)}
    _PLURALS = {k: tuple(v) for k, v in overrides.items() if not isinstance(v, str)}
    _GENERATION += 1


def overrides_generation() -> int:
    """Changes whenever the owner's texts change (kept builds, such as keyboards, check it)."""
    return _GENERATION


def overrides() -> dict[Key, Text]:
    return {**_OVERRIDES, **_PLURALS}


def override(locale: str, context: str, msgid: str) -> str | None:
    """The owner's text for one singular message in one locale, if there is one."""
    return _OVERRIDES.get((locale, context, msgid)) if _OVERRIDES else None


@contextmanager
def drafting(drafts: Mapping[Key, Text]) -> Iterator[None]:
    """Within the block (and this context only), `drafts` come before the overrides and the
    catalogs: what the console's preview renders an unsaved text with."""
    global _DRAFTING
    token = _DRAFT.set(drafts)
    _DRAFTING += 1
    try:
        yield
    finally:
        _DRAFTING -= 1
        _DRAFT.reset(token)


class _Overridden(gettext.NullTranslations):
    """A locale's translations with the owner's overrides consulted first (singular
    messages and plural ones); the catalog stays the default."""

    def __init__(self, locale: str, catalog: gettext.NullTranslations) -> None:
        super().__init__()
        self.locale = locale
        self.catalog = catalog
        self.add_fallback(catalog)
        self.plural = getattr(catalog, "plural", _germanic)

    def _draft(self, context: str, message: str) -> Text | None:
        drafts = _DRAFT.get()
        return drafts.get((self.locale, context, message)) if drafts else None

    def gettext(self, message: str) -> str:
        if _DRAFTING and isinstance(found := self._draft("", message), str):
            return found
        found = _OVERRIDES.get((self.locale, "", message)) if _OVERRIDES else None
        if found is not None:
            return found
        return self.catalog.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        if _DRAFTING and isinstance(found := self._draft(context, message), str):
            return found
        found = _OVERRIDES.get((self.locale, context, message)) if _OVERRIDES else None
        if found is not None:
            return found
        return self.catalog.pgettext(context, message)

    def _form(self, context: str, singular: str, n: int) -> str | None:
        forms = self._draft(context, singular) if _DRAFTING else None
        if not isinstance(forms, tuple):
            forms = _PLURALS.get((self.locale, context, singular)) if _PLURALS else None
        if forms is None:
            return None
        index = self.plural(n)
        return forms[index] if 0 <= index < len(forms) else None

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        found = self._form("", msgid1, n) if _PLURALS or _DRAFTING else None
        return found if found is not None else self.catalog.ngettext(msgid1, msgid2, n)

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        found = self._form(context, msgid1, n) if _PLURALS or _DRAFTING else None
        return found if found is not None else self.catalog.npgettext(context, msgid1, msgid2, n)


def _germanic(n: int) -> int:
    return int(n != 1)


@cache
def translations(locale: str, locales_dir: Path = LOCALES_DIR) -> gettext.NullTranslations:
    """The locale's translations (the owner's overrides first), falling back along its
    chain, then to the English ids."""
    return _Overridden(locale, catalog_translations(locale, locales_dir))


@cache
def catalog_translations(locale: str, locales_dir: Path = LOCALES_DIR) -> gettext.NullTranslations:
    """The locale's catalog alone, falling back along its chain, then to the English ids."""
    first: gettext.NullTranslations | None = None
    for code in fallback_chain(locale, CATALOG_LOCALES, SOURCE_LOCALE):
        path = catalog_path(code, locales_dir)
        if not path.is_file():
            continue
        found = compile_catalog(read_catalog(path, code))
        if first is None:
            first = found
        else:
            first.add_fallback(found)
    return first or gettext.NullTranslations()


def messages(locale: str, locales_dir: Path = LOCALES_DIR) -> list[tuple[str, str, str]]:
    """(msgctxt or "", msgid, the catalog's text in `locale`) of every singular message the
    customers read (read once per locale: the catalogs do not change while the bot runs);
    the console's own texts (context `console`) are left out."""
    return list(_messages(locale, locales_dir))


@cache
def _messages(locale: str, locales_dir: Path) -> tuple[tuple[str, str, str], ...]:
    catalog = catalog_translations(locale, locales_dir)
    source = read_catalog(catalog_path(SOURCE_LOCALE, locales_dir), SOURCE_LOCALE)
    out = []
    for message in source:
        if not message.id or isinstance(message.id, (list, tuple)):
            continue
        ctx = message.context or ""
        if ctx in (CONSOLE, SANDBOX):
            continue  # the console and the sandbox page: not texts the owner edits
        msgid = str(message.id)
        text = catalog.pgettext(ctx, msgid) if ctx else catalog.gettext(msgid)
        out.append((ctx, msgid, text))
    return tuple(out)


def plurals(locale: str, locales_dir: Path = LOCALES_DIR) -> list[PluralMessage]:
    """(msgctxt or "", msgid, msgid_plural, the catalog's forms in `locale`, one per plural
    form of its Plural-Forms) of every plural message the customers read."""
    return list(_plurals(locale, locales_dir))


PluralMessage = tuple[str, str, str, tuple[str, ...]]


@cache
def _plurals(locale: str, locales_dir: Path) -> tuple[PluralMessage, ...]:
    catalog = catalog_translations(locale, locales_dir)
    numbers = [found[0] for found in plural_examples(locale, locales_dir)]
    source = read_catalog(catalog_path(SOURCE_LOCALE, locales_dir), SOURCE_LOCALE)
    out = []
    for message in source:
        if not isinstance(message.id, (list, tuple)) or not message.id[0]:
            continue
        ctx = message.context or ""
        if ctx in (CONSOLE, SANDBOX):
            continue  # not texts the owner edits (see `messages`)
        one, many = str(message.id[0]), str(message.id[1])
        if ctx:
            forms = tuple(catalog.npgettext(ctx, one, many, n) for n in numbers)
        else:
            forms = tuple(catalog.ngettext(one, many, n) for n in numbers)
        out.append((ctx, one, many, forms))
    return tuple(out)


@cache
def plural_examples(locale: str, locales_dir: Path = LOCALES_DIR) -> tuple[tuple[int, ...], ...]:
    """For each plural form of the locale's catalog (its Plural-Forms, from CLDR), the first
    numbers that take it: ru ((1, 21, 31, 41), (2, 3, 4, 22), (0, 5, 6, 7))."""
    path = next(
        (
            catalog_path(code, locales_dir)
            for code in fallback_chain(locale, CATALOG_LOCALES, SOURCE_LOCALE)
            if catalog_path(code, locales_dir).is_file()
        ),
        None,
    )
    count = read_catalog(path, locale).num_plurals if path else 2
    rule = getattr(catalog_translations(locale, locales_dir), "plural", _germanic)
    found: list[list[int]] = [[] for _ in range(count)]
    for n in (*range(0, 201), 1000, 1_000_000, 2_000_000):
        index = rule(n)
        if 0 <= index < count and len(found[index]) < 4:
            found[index].append(n)
    return tuple(tuple(numbers) for numbers in found)


@cache
def locations(locales_dir: Path = LOCALES_DIR) -> dict[tuple[str, str], tuple[str, ...]]:
    """(msgctxt or "", msgid) → the source files that use the message (the catalog's
    `#:` comments), e.g. ('message_templates/email/receipt.html.j2', …)."""
    source = read_catalog(catalog_path(SOURCE_LOCALE, locales_dir), SOURCE_LOCALE)
    out = {}
    for message in source:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
        files = dict.fromkeys(str(path) for path, _line in message.locations)
        out[(message.context or "", str(msgid))] = tuple(files)
    return out


# --- formats (CLDR) -------------------------------------------------------------------------


def long_date(value: date, locale: str) -> str:
    """'1 December 2026', '1 decembrie 2026', '1 декабря 2026 г.', '1 de diciembre de 2026'."""
    return _long_date(value.date() if isinstance(value, datetime) else value, locale)


@lru_cache(maxsize=4096)
def _long_date(day: date, locale: str) -> str:
    return str(format_date(day, "long", locale=cldr(locale)))


def day_month(value: date, locale: str) -> str:
    """'Nov 23', '23 нояб.', '23 nov': a day and its month as the locale abbreviates them
    (CLDR skeleton MMMd), for a chart's axis."""
    from babel.dates import format_skeleton

    day = value.date() if isinstance(value, datetime) else value
    return str(format_skeleton("MMMd", day, locale=cldr(locale)))


def short_time(value: datetime, locale: str) -> str:
    """'10:05' as the locale writes a time of day."""
    return _short_time(value.hour, value.minute, locale)


@lru_cache(maxsize=4096)
def _short_time(hour: int, minute: int, locale: str) -> str:
    from datetime import time

    return str(format_time(time(hour, minute), "short", locale=cldr(locale)))


def short_datetime(value: datetime | str, locale: str) -> str:
    """A moment as the locale writes it, in the value's own zone (the console's UTC):
    'Dec 1, 2026, 09:30', '1 dic 2026, 9:30', '1 дек. 2026 г., 09:30'; an ISO string (a stored
    value) is read first, anything else unreadable is shown as it is."""
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        at = value
    return _short_datetime(at.replace(second=0, microsecond=0, tzinfo=None), locale)


@lru_cache(maxsize=4096)
def _short_datetime(value: datetime, locale: str) -> str:
    found = cldr(locale)
    day = str(format_date(value.date(), "medium", locale=found))
    time_of_day = str(format_time(value.time(), "HH:mm", locale=found))
    pattern = str(found.datetime_formats["medium"])
    return pattern.replace("{1}", day).replace("{0}", time_of_day)


def number(value: float, locale: str) -> str:
    """A number with the locale's separators: 1,500 / 1.500 / 1 500."""
    from babel.numbers import format_decimal

    return str(format_decimal(value, locale=cldr(locale)))


def tenths(value: float, locale: str) -> str:
    """A number to one decimal with the locale's decimal sign: 33.3 / 33,3 (the console's
    rates)."""
    from babel.numbers import format_decimal

    return str(format_decimal(value, format="#,##0.0", locale=cldr(locale)))


def percent(value: float, locale: str) -> str:
    """A share as the locale writes a percentage, to at most one decimal: 0.2 → '20%',
    '20 %' (ru, es), 0.155 → '15.5%', '15,5 %' (babel.numbers.format_percent with the
    locale's CLDR percent pattern)."""
    from babel.numbers import format_percent

    where = cldr(locale)
    pattern = _one_decimal(where.percent_formats[None].pattern)
    return str(format_percent(value, format=pattern, locale=where))


def _one_decimal(pattern: str) -> str:
    """'#,##0%' → '#,##0.#%': the last integer digit of a CLDR pattern gets an optional
    decimal."""
    last = pattern.rfind("0")
    return pattern[: last + 1] + ".#" + pattern[last + 1 :]


def signed_tenths(value: float, locale: str) -> str:
    """A difference to one decimal with its sign: '+14.6', '-4,6'."""
    from babel.numbers import format_decimal

    return str(format_decimal(value, format="+#,##0.0;-#,##0.0", locale=cldr(locale)))


def days(n: int, locale: str) -> str:
    """'1 day', 'o zi', '2 zile', '20 de zile', '21 день', '5 дней': the catalog's plural
    forms, chosen by the locale's CLDR plural rule (the catalog's Plural-Forms)."""
    return translations(locale).ngettext("%(num)d day", "%(num)d days", n) % {"num": n}


def months(n: int, locale: str) -> str:
    """'1 month', '3 luni', '5 месяцев'."""
    return translations(locale).ngettext("%(num)d month", "%(num)d months", n) % {"num": n}


def points(n: int, locale: str) -> str:
    """'1 point', '20 de puncte', '21 балл', '1.500 punti' (the reward buttons)."""
    text = translations(locale).ngettext("%(num)s point", "%(num)s points", n)
    return text % {"num": number(n, locale)}


def extra_days(n: int, locale: str) -> str:
    """'1 extra day', 'o zi în plus', '5 дополнительных дней' (the reward buttons)."""
    return translations(locale).ngettext("%(num)d extra day", "%(num)d extra days", n) % {"num": n}


# --- make i18n ------------------------------------------------------------------------------

TOML_SOURCES = {
    "button": Path("message_templates/buttons/en.toml"),
    "command": Path("message_templates/commands/en.toml"),
}


def toml_messages(data: Mapping[str, Any], context: str) -> Iterator[tuple[str, str, str]]:
    """(key, context, English text) of every string in a TOML table: 'button:subscribe',
    nested tables as 'command:staff.grant'."""
    for key, value in data.items():
        name = f"{context}.{key}" if ":" in context else f"{context}:{key}"
        if isinstance(value, dict):
            yield from toml_messages(value, name)
        else:
            yield key, name, str(value)


def extract_toml(
    fileobj: IO[bytes], keywords: object, comment_tags: object, options: Mapping[str, str]
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """A Babel extractor for the English buttons and command menu: each key is a message
    context ('button:subscribe', 'command:staff.grant'), its English text the id."""
    source = fileobj.read().decode("utf-8")
    lines: dict[str, int] = {}
    for lineno, line in enumerate(source.splitlines(), start=1):
        if "=" in line and not line.lstrip().startswith("#"):
            lines.setdefault(line.split("=", 1)[0].strip(), lineno)
    for key, context, text in toml_messages(tomllib.loads(source), options["prefix"]):
        yield lines.get(key, 0), "pgettext", (context, text), []


# Where the owner console's texts come from: each of their messages gets the context
# `console` (the console's environment looks them up in it; the text editor leaves it out).
CONSOLE_SOURCES = (
    "message_templates/console/",
    "src/forever/web/console",
    "src/forever/services/console",
    "src/forever/domain/texts.py",  # the text editor's checks
)
# The sandbox page's texts (its template and forever.sandbox.page): context `sandbox`, left
# out of the text editor like the console's.
SANDBOX_SOURCES = ("src/forever/sandbox/",)


def extract_messages(root: Path = ROOT) -> Catalog:
    """Every message of the sources: the shared templates and this module (babel.cfg), the
    console's templates and `lazy()` texts (context 'console'), the sandbox page's (context
    'sandbox'), the English buttons and
    command menu (context 'button:…', 'command:…')."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (root / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(root / "babel.cfg"))  # type: ignore[no-untyped-call]
    template = Catalog(
        project="forever", domain=DOMAIN, charset="utf-8", fuzzy=False, creation_date=_EPOCH
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=_KEYWORDS
    ):
        path = filename.replace("\\", "/")
        if context is None and path.startswith(CONSOLE_SOURCES):
            context = CONSOLE
        elif context is None and path.startswith(SANDBOX_SOURCES):
            context = SANDBOX
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for prefix, source in TOML_SOURCES.items():
        with (root / source).open("rb") as fb:
            for lineno, _func, (context, text), _comments in extract_toml(
                fb, None, None, {"prefix": prefix}
            ):
                template.add(text, None, [(str(source), lineno)], context=context)
    return template


def update_catalogs(root: Path = ROOT) -> None:
    """Extract → locales/messages.pot; then every locales/*/LC_MESSAGES/messages.po updated
    (new ids added untranslated, vanished ones dropped) or created."""
    from babel.messages.pofile import write_po

    template = extract_messages(root)
    locales_dir = root / "locales"
    with (locales_dir / f"{DOMAIN}.pot").open("wb") as out:
        write_po(out, template, width=100, omit_header=False, sort_output=True)
    for locale in CATALOG_LOCALES:
        path = catalog_path(locale, locales_dir)
        if path.is_file():
            catalog = read_catalog(path, locale)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(
                locale=locale.replace("-", "_"),
                domain=DOMAIN,
                project="forever",
                fuzzy=False,
                creation_date=_EPOCH,
                revision_date=_EPOCH,
            )
            catalog.header_comment = (
                f"# Forever: {locale} messages (`make i18n` updates this file)."
            )
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()  # a vanished message is dropped, not kept commented out
        with path.open("wb") as out:
            write_po(out, catalog, width=100, sort_output=True, ignore_obsolete=True)
        sys.stdout.write(f"{path.relative_to(root)}: {len(catalog)} messages\n")


# Fixed dates in the headers: `make i18n` run twice changes nothing.
_EPOCH = datetime(2026, 12, 1, tzinfo=UTC)

_KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "lazy": None,  # domain/lazy_text.py: a console text translated where it is shown
    "lazy_plural": (1, 2),  # the same, with the plural forms of a count
}


if __name__ == "__main__":  # pragma: no cover - `make i18n`
    update_catalogs(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
