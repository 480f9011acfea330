"""The sandbox page in the reader's language (issue 21): the switch on the page (a cookie),
else Accept-Language along the fallback chain, else the default locale; the texts app.js
writes come with the page, translated too; none of them is a text the owner edits."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import aiohttp
import pytest

from forever import catalogs
from forever.sandbox import page
from forever.sandbox.world import Sandbox

# The same in every language: the languages' own names, the brand, symbols, examples.
NEUTRAL = {
    *page.CUSTOMER_LANGUAGES.values(),
    "Forever",
    "…",
    "⭐",
    "https://t.me/…?start=…",
    "Start",
    "/broadcast",
    "/stats",
    "Sam",
}


class _Labels(HTMLParser):
    """What a reader sees or hears: text outside scripts, and labelling attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.labels: set[str] = set()
        self.script = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        found = dict(attrs)
        for name in ("aria-label", "title", "placeholder"):
            if found.get(name):
                self.labels.add(str(found[name]).strip())
        if tag == "meta" and found.get("name") == "description":
            self.labels.add(str(found["content"]).strip())

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script += data
        elif data.strip():
            self.labels.add(" ".join(data.split()))


def read(html: str) -> _Labels:
    parser = _Labels()
    parser.feed(html)
    return parser


async def fetch(http: aiohttp.ClientSession, **headers: str) -> str:
    async with http.get("/", headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Language"] in page.LANGUAGES
        return await response.text()


def lang_of(html: str) -> str:
    found = re.search(r'<html lang="([a-z-]+)">', html)
    assert found, html[:200]
    return found.group(1)


@pytest.mark.parametrize(
    ("locale", "accept", "sample", "script_sample"),
    [
        ("ru", "ru-RU,ru;q=0.9,en;q=0.5", "Добавить клиента", "Заблокировать бота"),
        ("es", "es-419,es;q=0.9", "Agregar cliente", "Bloquear el bot"),
    ],
)
async def test_the_page_speaks_russian_and_spanish_by_accept_language_with_no_english_left(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    locale: str,
    accept: str,
    sample: str,
    script_sample: str,
) -> None:
    english = read(await fetch(http, **{"Accept-Language": "en"}))
    html = await fetch(http, **{"Accept-Language": accept})
    assert lang_of(html) == locale
    shown = read(html)
    assert sample in shown.labels
    left = {
        label
        for label in shown.labels & english.labels
        if label not in NEUTRAL and re.search(r"[A-Za-z]", label)  # not "." or "+1"
    }
    assert not left, f"English labels left in {locale}: {left}"
    # The texts app.js writes: every one translated, plurals by the language's categories.
    data = json.loads(shown.script)
    source = json.loads(english.script)
    assert data["lang"] == locale
    assert script_sample in data["texts"].values()
    same = {k for k, v in data["texts"].items() if v == source["texts"][k]}
    assert not same, same
    for key, forms in data["plurals"].items():
        assert not set(forms.values()) & set(source["plurals"][key].values()), key
    if locale == "ru":
        assert set(data["plurals"]["new_email"]) == {"one", "few", "many"}
        assert data["plurals"]["new_email"]["many"] == "{num} новых писем"


async def test_the_switch_remembers_a_language_over_the_browsers(sandbox: Sandbox) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # the sandbox is on 127.0.0.1
    async with aiohttp.ClientSession(base_url=sandbox.url, cookie_jar=jar) as http:
        first = await fetch(http, **{"Accept-Language": "ru"})
        assert lang_of(first) == "ru"
        assert 'href="/sandbox/language/es"' in first
        async with http.get(
            "/sandbox/language/es", headers={"Accept-Language": "ru"}, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/"
            assert page.LANGUAGE_COOKIE in response.cookies
        html = await fetch(http, **{"Accept-Language": "ru"})
        assert lang_of(html) == "es"
        assert "Agregar cliente" in html
        assert 'aria-current="true">Español</a>' in html
        # The customer's language starts as the page's; German stays there, to see the
        # fallback, named in itself.
        assert '<option value="es" selected>Español</option>' in html
        assert "Deutsch (no disponible: se usa el idioma de respaldo)" in html
        # A language the page does not have changes nothing.
        async with http.get("/sandbox/language/de") as response:
            assert response.status == 200  # followed back to the page
            assert lang_of(await response.text()) == "es"


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, "", "en"),
        (None, "de-DE,de;q=0.9", "en"),
        (None, "de-DE,ro;q=0.8", "ro"),
        (None, "es-419", "es"),
        (None, "it;q=0.2,ru;q=0.9", "ru"),
        ("it", "ru", "it"),
        ("xx", "ru", "ru"),
    ],
)
def test_the_pages_language_follows_the_switch_then_the_browser(
    cookie: str | None, accept: str, expected: str
) -> None:
    assert page.page_language(cookie, accept, "en") == expected


def test_the_sandbox_texts_are_not_listed_in_the_customer_text_editor() -> None:
    assert not [m for m in catalogs.messages("ru") if m[0] == "sandbox"]
    assert not [m for m in catalogs.plurals("ru") if m[0] == "sandbox"]
    source = catalogs.extract_messages()
    assert any(m.context == "sandbox" for m in source if m.id)
