"""Every chat message and every staff and experiment text, rendered with its sample context in
Romanian, Italian, Russian and Spanish, shows its values as the reader's language writes them
(issue 21): no English words left over, no ISO dates ("2026-11-23"), no raw codes ("active",
"monthly", "confirmed", "granted", "percent") where a translated label belongs, no "г.." where
a Russian long date ends a sentence, decimal commas, Stars grouped."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from forever.domain.promo import OPTIONS
from forever.rendering import TEMPLATES_DIR, Renderer
from forever.sandbox.fake_bot_api.html_entities import parse_html
from forever.telegram.experiment_texts import ExperimentTexts
from forever.telegram.staff_texts import StaffTexts
from tests.template_samples import CHAT
from tests.unit.test_experiment_texts import SAMPLE as EXPERIMENT_SAMPLE
from tests.unit.test_staff_texts import SAMPLE as STAFF_SAMPLE

LOCALES = ["ro", "it", "ru", "es"]
renderer = Renderer()
staff = StaffTexts(renderer)
experiments = ExperimentTexts(renderer)

# Words a Russian or Spanish text never writes: left over from an English text, or a code
# (membership state, billing, email status, event kind, promo option, refund reason) shown as
# it is stored.
ENGLISH = re.compile(
    r"\b(the|and|with|until|from|of|is|are|was|were|per|yet|none|day|days|month|months|"
    r"people|person|member|members|off|paid|points|refunded|ended|since|"
    r"active|paused|trial|expired|cancel_scheduled|past_due|monthly|yearly|grant|"
    r"confirmed|unconfirmed|undeliverable|granted|signed_up|email_given|"
    r"percent|limit|expires|plans|"
    r"late_charge_after_cancel|replaced_subscription|wrong_payer|wrong_amount|wrong_plan)\b",
    re.IGNORECASE,
)
# Words of the language itself that English writes too: Italian "per", Romanian "are".
OWN = {"it": {"per"}, "ro": {"are"}}
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
POINT = re.compile(r"\d\.\d(?!\d\d)")  # a decimal comma in both (CLDR); "25.068" groups
RAW_STARS = re.compile(r"\d{4,} ⭐")  # Stars go through |stars: "2\u202f500 ⭐"
CODE = re.compile(r"<code>.*?</code>", re.DOTALL)  # syntax to type, ids
COMMAND = re.compile(r"/[a-z_]+\b")  # /plans, /points


def _strings(value: Any) -> Iterator[str]:
    """The texts a sample context gives (people's names, plan names, notes): shown as given."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _strings(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _strings(getattr(value, field.name))
    elif isinstance(value, SimpleNamespace):
        yield from _strings(vars(value))


CODES = re.compile(r"[a-z_]+")  # a stored code in a sample is data to translate, not a name


def problems(html: str, context: dict[str, Any], locale: str = "ru") -> list[str]:
    shown, _ = parse_html(CODE.sub(" ", html))
    shown = COMMAND.sub(" ", shown)
    for given in sorted(set(_strings(context)), key=len, reverse=True):
        if not CODES.fullmatch(given) and len(given) > 1:
            shown = shown.replace(given, " ")
    own = OWN.get(locale, set())
    found = [
        f"English or a code: {m.group(0)!r}"
        for m in ENGLISH.finditer(shown)
        if m.group(0).lower() not in own
    ]
    found += [f"ISO date: {m.group(0)!r}" for m in ISO_DATE.finditer(shown)]
    found += [f"decimal point: {m.group(0)!r}" for m in POINT.finditer(shown)]
    found += [f"Stars not grouped: {m.group(0)!r}" for m in RAW_STARS.finditer(shown)]
    if "г.." in shown:
        found.append("'г..'")
    return found


CHAT_NAMES = sorted(p.name.removesuffix(".j2") for p in (TEMPLATES_DIR / "chat").glob("[!_]*.j2"))


@pytest.mark.parametrize("locale", LOCALES)
def test_every_chat_message_shows_its_values_in_the_language(locale: str) -> None:
    found = []
    for name in CHAT_NAMES:
        html = renderer.chat(name, locale, **dict(CHAT[name]))
        found += [f"{name}: {p}" for p in problems(html, CHAT[name], locale)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("texts", "sample"), [(staff, STAFF_SAMPLE), (experiments, EXPERIMENT_SAMPLE)]
)
def test_every_staff_text_shows_its_values_in_the_language(
    texts: StaffTexts, sample: dict[str, Any], locale: str
) -> None:
    module = texts.module(locale)
    found = []
    for name in texts.names(locale):
        wanted = {a: sample[a] for a in getattr(module, name).arguments}
        html = texts(name, locale, **wanted)
        found += [f"{name}: {p}" for p in problems(html, wanted, locale)]
    assert not found, "\n".join(found)


PROMO_PROBLEMS = {
    "missing_code": ("", ()),
    "bad_code": ("x", ()),
    "bad_option": ("percent20", OPTIONS),
    "unknown_option": ("price", OPTIONS),
    "repeated_option": ("percent", ()),
    "one_kind": ("", ()),
    "bad_percent": ("200", ("1", "90")),
    "bad_days": ("0", ("1", "365")),
    "bad_limit": ("0", ("1", "100000")),
    "unknown_plan": ("gold", ("basic", "plus")),
    "bad_expires": ("soon", ()),
    "past_expires": ("2026-11-01", ()),
    "exists": ("SPRING20", ()),
}


@pytest.mark.parametrize("locale", LOCALES)
def test_every_promo_error_names_its_option_as_typed_not_in_english(locale: str) -> None:
    found = []
    for problem, (value, known) in PROMO_PROBLEMS.items():
        html = staff("promo_error", locale, problem=problem, value=value, known=list(known))
        found += [f"{problem}: {p}" for p in problems(html, {"known": known}, locale)]
        assert "<code>percent</code>" in html or problem != "bad_percent"
    assert not found, "\n".join(found)


def test_the_check_catches_what_it_is_for() -> None:
    assert problems("Estado: active, until 2026-11-23", {}) == [
        "English or a code: 'active'",
        "English or a code: 'until'",
        "ISO date: '2026-11-23'",
    ]
    assert problems("до 1 декабря 2026 г..", {}) == ["'г..'"]
    assert problems("<code>/promo new X percent=20</code> Ana the", {"n": "Ana the"}) == []


@pytest.mark.parametrize(
    ("locale", "shown"),
    [("en", "23 Nov"), ("ro", "23 nov."), ("ru", "23 нояб."), ("es", "23 nov")],
)
def test_the_stats_chart_writes_its_days_in_the_language(locale: str, shown: str) -> None:
    from datetime import date

    from forever.catalogs import day_month

    assert day_month(date(2026, 11, 23), locale) == shown
