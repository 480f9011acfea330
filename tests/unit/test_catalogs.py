"""The gettext catalogs (issue 21): every message of the sources is translated in every
language, with the source's placeholders and no English left over; `make i18n` has been run;
every converted message renders in every language, the chat ones as HTML Telegram accepts."""

from __future__ import annotations

import re
from functools import cache

import pytest
from babel.messages.catalog import Catalog, Message

from forever.catalogs import LOCALES_DIR, catalog_path, extract_messages, read_catalog
from forever.domain.locales import CATALOG_LOCALES, SOURCE_LOCALE
from forever.rendering import TEMPLATES_DIR, Renderer

TRANSLATED = [loc for loc in CATALOG_LOCALES if loc != SOURCE_LOCALE]
# Words another language writes as English does (a loanword, not a missing translation):
# "Plan" in Romanian and Spanish, "Segment" and "Catalog" in Romanian, "Console" in Italian.
LOANWORDS = {"Email", "Plan", "Segment", "Catalog", "Console", "console"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w*)\}")


@cache
def source() -> Catalog:
    return extract_messages()


@cache
def catalog(locale: str) -> Catalog:
    return read_catalog(catalog_path(locale), locale)


def key(message: Message) -> tuple[str | None, str]:
    mid = message.id[0] if isinstance(message.id, tuple) else message.id
    return message.context, str(mid)


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def forms(message: Message) -> list[str]:
    string = message.string
    return list(string) if isinstance(string, tuple) else [str(string or "")]


def test_make_i18n_has_been_run() -> None:
    """Every message of the templates, buttons and menu is in the committed catalogs."""
    pot = read_catalog(LOCALES_DIR / "messages.pot", SOURCE_LOCALE)
    expected = {key(m) for m in source() if m.id}
    assert expected == {key(m) for m in pot if m.id}, "run `make i18n`"
    for locale in CATALOG_LOCALES:
        assert expected <= {key(m) for m in catalog(locale) if m.id}, locale


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_with_the_sources_placeholders(locale: str) -> None:
    found = {key(m): m for m in catalog(locale) if m.id}
    problems = []
    for message in source():
        if not message.id:
            continue
        translated = found.get(key(message))
        if translated is None or translated.fuzzy or not all(forms(translated)):
            problems.append(f"missing: {key(message)}")
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        wanted = set().union(*(placeholders(i) for i in ids))
        texts = forms(translated)
        if len(texts) == 1:
            if placeholders(texts[0]) != wanted:
                problems.append(f"placeholders: {key(message)} → {texts[0]!r}")
        else:
            # A plural form may write its number as a word ("o zi"), never a new placeholder;
            # the other forms keep the number.
            if any(not placeholders(t) <= wanted for t in texts) or not placeholders(texts[-1]):
                problems.append(f"placeholders: {key(message)} → {texts!r}")
        english = set(ids)
        if any(t in english for t in texts) and len(min(ids, key=len)) > 3 and english - LOANWORDS:
            problems.append(f"still English: {key(message)}")
    assert not problems, "\n".join(problems)


def test_a_placeholder_the_source_lacks_is_caught() -> None:
    assert placeholders("Hello %(name)s, {plan}") == {"name", "plan"}
    assert placeholders("Bună %(nume)s") != placeholders("Hello %(name)s")


# --- every converted message in every language ------------------------------------------

WEB = {
    "bad_link": {},
    "consent_confirm": {"action": "/c/t", "token": "t"},
    "consent_confirmed": {},
    "link_expired": {},
    "unsubscribe_confirm": {"action": "/u/t"},
    "unsubscribed": {},
}


def test_every_web_page_is_converted() -> None:
    shared = {p.name.removesuffix(".html.j2") for p in (TEMPLATES_DIR / "web").glob("[!_]*.j2")}
    assert shared == set(WEB)
    assert not [p for p in (TEMPLATES_DIR / "web").iterdir() if p.is_dir()]


@pytest.mark.parametrize("locale", CATALOG_LOCALES)
@pytest.mark.parametrize("name", sorted(WEB))
def test_every_web_page_renders_in_every_language(name: str, locale: str) -> None:
    renderer = Renderer()
    context = {"business": "Ana <b> & Co", "bot_url": "https://t.me/x", **WEB[name]}
    html = renderer.render(f"web/{locale}/{name}.html.j2", **context)
    assert f'<html lang="{locale}">' in html
    assert "Ana &lt;b&gt; &amp; Co" in html or name in {"bad_link", "link_expired"}
    if locale != SOURCE_LOCALE:
        english = renderer.render(f"web/en/{name}.html.j2", **context)
        title = re.search(r"<title>(.*)</title>", english)
        assert title is not None
        assert f"<title>{title.group(1)}</title>" not in html  # no English title left
        heading = re.search(r"<h1[^>]*>(.*)</h1>", english)
        assert heading is not None
        assert heading.group(1) not in html


CONVERTED_CHAT = sorted(
    p.name.removesuffix(".j2") for p in (TEMPLATES_DIR / "chat").glob("[!_]*.j2")
)


@pytest.mark.parametrize("locale", TRANSLATED)
@pytest.mark.parametrize("name", CONVERTED_CHAT)
def test_every_converted_chat_message_is_in_the_language_not_english(
    name: str, locale: str
) -> None:
    from forever.sandbox.fake_bot_api.html_entities import parse_html
    from tests.template_samples import CHAT

    renderer = Renderer()
    assert not (TEMPLATES_DIR / "chat" / locale / f"{name}.j2").exists()
    english, _ = parse_html(renderer.chat(name, SOURCE_LOCALE, **CHAT[name]))
    text, _ = parse_html(renderer.chat(name, locale, **CHAT[name]))  # Telegram accepts it
    assert text != english
    for value in CHAT[name].values():  # people's data and texts given by the caller
        for item in value if isinstance(value, list) else [value]:
            parts = item.values() if isinstance(item, dict) else item  # a list of records
            for part in parts if isinstance(item, tuple | dict) else [item]:
                english = english.replace(str(part), " ") if isinstance(part, str) else english
    sentences = [s for s in re.split(r"(?<=[.?!:])\s+", english) if len(s.split()) > 2]
    assert not [s for s in sentences if s in text], "English left in the message"


CONVERTED_EMAIL = sorted(
    p.name.removesuffix(".html.j2") for p in (TEMPLATES_DIR / "email").glob("[!_]*.html.j2")
)


@pytest.mark.parametrize("locale", TRANSLATED)
@pytest.mark.parametrize("name", CONVERTED_EMAIL)
def test_every_converted_email_is_in_the_language_not_english(name: str, locale: str) -> None:
    from tests.template_samples import EMAIL

    renderer = Renderer()
    context = {**EMAIL[name], "unsubscribe_url": "https://example.com/u/t"}
    subject_en, _html, text_en = renderer.email(name, SOURCE_LOCALE, **dict(context))
    subject, html, text = renderer.email(name, locale, **dict(context))
    assert f'<html lang="{locale}">' in html
    if "subject" in context:  # the owner's own subject, the same in every language
        assert subject == subject_en == context["subject"]
    else:
        assert subject != subject_en
    given = {v for v in context.values() if isinstance(v, str)}  # the owner's own texts
    lines = [line for line in text_en.splitlines() if len(line.split()) > 3 and line not in given]
    assert lines
    assert not [line for line in lines if line in text], "English left in the email"
